"""playwire.proxies: the client's address behind trusted proxies (X-Forwarded-For)."""

from __future__ import annotations

import pytest

from playwire.proxies import TrustedProxies


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "client"),
    [
        ("203.0.113.5", "1.1.1.1", "203.0.113.5"),  # an untrusted peer's header is ignored
        ("10.0.0.2", "6.6.6.6, 198.51.100.4", "198.51.100.4"),
        ("10.0.0.2", "6.6.6.6, 198.51.100.4, 10.0.0.9", "198.51.100.4"),  # two proxies
        ("10.0.0.2", "garbage, 198.51.100.4", "198.51.100.4"),
        ("10.0.0.2", "198.51.100.4,garbage", "garbage"),  # right-most untrusted, whatever it is
        ("10.0.0.2", "", "10.0.0.2"),
        ("10.0.0.2", "10.0.0.3", "10.0.0.3"),  # only proxies: the first of them
        ("::1", "2001:db8::7", "2001:db8::7"),
    ],
)
def test_client_address_behind_trusted_proxies(peer, forwarded_for, client):
    proxies = TrustedProxies(["10.0.0.0/8", "::1"])
    environ = {"REMOTE_ADDR": peer, "HTTP_X_FORWARDED_FOR": forwarded_for}
    assert proxies.client_address(environ) == client
