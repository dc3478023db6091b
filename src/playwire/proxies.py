"""Who a request is from, and whether it came over HTTPS, behind trusted proxies.

A proxy's ``X-Forwarded-For`` lists the addresses a request passed through, each proxy
appending the peer it saw. Only the proxies in ``--trusted-proxies`` are believed: the
client is the right-most address of that list that is not one of them (what is further
left was written by the client itself, and may be anything). A request whose peer is not
a trusted proxy is from that peer, whatever its headers say.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any


class TrustedProxies:
    """The networks of ``--trusted-proxies`` (addresses or CIDRs, IPv4 or IPv6)."""

    def __init__(self, networks: Iterable[str]) -> None:
        self.networks = [ipaddress.ip_network(item, strict=False) for item in networks]

    def trusts(self, address: str) -> bool:
        if not self.networks:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    def client_address(self, environ: Mapping[str, Any]) -> str:
        """The client's address: the peer, or what trusted proxies say the peer saw."""
        peer = environ.get("REMOTE_ADDR") or ""
        if not self.trusts(peer):
            return peer
        chain = [item.strip() for item in environ.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        chain = [item for item in chain if item]
        for address in reversed(chain):
            if not self.trusts(address):
                return address
        return chain[0] if chain else peer  # every hop is a trusted proxy: the first one

    def is_https(self, environ: Mapping[str, Any]) -> bool:
        """Served over TLS here, or a trusted proxy says the client used HTTPS."""
        if environ.get("wsgi.url_scheme") == "https":
            return True
        if not self.trusts(environ.get("REMOTE_ADDR") or ""):
            return False
        proto = environ.get("HTTP_X_FORWARDED_PROTO", "").split(",")[0].strip().lower()
        return proto == "https"
