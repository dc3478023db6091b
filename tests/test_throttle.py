"""Login and registration throttling, client addresses behind proxies, the Secure cookie
(docs/protocol.md, *Limits and abuse*), against real servers over HTTP."""

from __future__ import annotations

import statistics
import time

import pytest
import requests

from helpers.server import PASSWORD, unique_name

WRONG = "wrong-password"


def login(server, username, password=WRONG, headers=None):
    return requests.post(
        server.url + "/api/login",
        json={"username": username, "password": password},
        headers=headers or {},
        timeout=30,
    )


def register(server, headers=None):
    return requests.post(
        server.url + "/api/register",
        json={"username": unique_name(), "password": PASSWORD},
        headers=headers or {},
        timeout=30,
    )


def assert_limited(response, longest: int) -> int:
    assert response.status_code == 429, response.text
    body = response.json()
    assert body["error"] == "too_many_attempts"
    assert isinstance(body["retry_after"], int) and 1 <= body["retry_after"] <= longest
    assert response.headers["Retry-After"] == str(body["retry_after"])
    return body["retry_after"]


def test_five_failures_for_one_username_then_429_even_for_the_right_password(start_server):
    server = start_server()
    account = server.register()
    for _ in range(5):
        assert login(server, account["username"]).status_code == 401
    assert_limited(login(server, account["username"]), 15 * 60)
    assert_limited(login(server, account["username"].upper(), PASSWORD), 15 * 60)
    # Another username from the same address is not limited by it.
    other = server.register()
    assert login(server, other["username"], PASSWORD).status_code == 200


def test_correct_logins_use_nothing_up_and_reset_the_username_count(start_server):
    server = start_server("--login-user-limit", "3 per hour")
    account = server.register()
    for _ in range(4):
        assert login(server, account["username"], PASSWORD).status_code == 200
    for _ in range(2):
        assert login(server, account["username"]).status_code == 401
    assert login(server, account["username"], PASSWORD).status_code == 200
    # The success cleared the two failures: three more are allowed before the limit.
    for _ in range(3):
        assert login(server, account["username"]).status_code == 401
    assert_limited(login(server, account["username"], PASSWORD), 3600)


def test_failures_per_address_across_usernames(start_server):
    # The default is 30 per minute (tests/test_units.py); fewer here, as each costs a hash.
    server = start_server("--login-user-limit", "off", "--login-address-limit", "4 per minute")
    account = server.register()
    for n in range(4):
        assert login(server, f"guess{n}").status_code == 401
    assert_limited(login(server, "guess-more"), 60)
    assert_limited(login(server, account["username"], PASSWORD), 60)


def test_the_limit_lifts_when_the_window_passes(start_server):
    server = start_server("--login-user-limit", "2 per 2 seconds")
    account = server.register()
    assert login(server, account["username"]).status_code == 401
    assert login(server, account["username"]).status_code == 401
    retry_after = assert_limited(login(server, account["username"], PASSWORD), 2)
    time.sleep(retry_after)  # the window itself is what is tested
    assert login(server, account["username"], PASSWORD).status_code == 200


def test_registrations_per_address(start_server):
    server = start_server("--register-limit", "3 per hour")
    for _ in range(3):
        assert register(server).status_code == 201
    assert_limited(register(server), 3600)


def test_invalid_registrations_do_not_count(start_server):
    server = start_server("--register-limit", "2 per hour")
    for _ in range(5):
        bad = requests.post(
            server.url + "/api/register", json={"username": "x", "password": PASSWORD}, timeout=10
        )
        assert bad.status_code == 400
    assert register(server).status_code == 201
    assert register(server).status_code == 201
    assert_limited(register(server), 3600)


def test_forwarded_for_is_believed_only_from_trusted_proxies(start_server):
    server = start_server("--trusted-proxies", "127.0.0.0/8", "--login-user-limit", "2 per hour")
    account = server.register()
    name = account["username"]
    # Through a trusted proxy: the right-most untrusted address is the client; what the
    # client wrote further left is not.
    first = {"X-Forwarded-For": "6.6.6.6, 203.0.113.7"}
    assert login(server, name, headers=first).status_code == 401
    other_hops = {"X-Forwarded-For": "1.2.3.4, 203.0.113.7"}
    assert login(server, name, headers=other_hops).status_code == 401
    assert_limited(login(server, name, headers=first), 3600)
    # Another client of the proxy is another address.
    assert login(server, name, PASSWORD, headers={"X-Forwarded-For": "203.0.113.8"}).ok


def test_forwarded_for_from_an_untrusted_peer_is_ignored(start_server):
    server = start_server("--login-user-limit", "2 per hour")
    name = server.register()["username"]
    for n in range(2):
        assert login(server, name, headers={"X-Forwarded-For": f"10.0.0.{n}"}).status_code == 401
    assert_limited(login(server, name, headers={"X-Forwarded-For": "10.0.0.9"}), 3600)


def timed_logins(server, username, count):
    times = []
    for _ in range(count):
        started = time.perf_counter()
        assert login(server, username).status_code == 401
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def test_unknown_usernames_take_as_long_as_wrong_passwords(start_server):
    server = start_server("--login-user-limit", "off", "--login-address-limit", "off")
    account = server.register()
    login(server, account["username"])  # warm up both paths once
    login(server, "nobody-" + unique_name())
    for _ in range(2):  # interleaved rounds, so a busy moment of the machine hits both
        known = timed_logins(server, account["username"], 5)
        unknown = timed_logins(server, "nobody-" + unique_name(), 5)
        # Without the dummy verification an unknown name answers ~50x faster.
        assert 0.5 < unknown / known < 2.0, (known, unknown)


HTTPS = {"X-Forwarded-Proto": "https"}
HTTP = {"X-Forwarded-Proto": "http"}


@pytest.mark.parametrize(
    ("flags", "cases"),
    [
        # auto, and no trusted proxy: a proxy's word is not believed.
        ((), [({}, False), (HTTPS, False)]),
        (("--trusted-proxies", "127.0.0.1"), [(HTTPS, True), (HTTP, False)]),
        (("--cookie-secure", "on"), [({}, True)]),
        (("--cookie-secure", "off", "--trusted-proxies", "127.0.0.1"), [(HTTPS, False)]),
    ],
)
def test_cookie_secure(start_server, flags, cases):
    server = start_server(*flags)
    for headers, secure in cases:
        response = register(server, headers=headers)  # registering sets the cookie too
        assert response.status_code == 201
        cookie = response.headers["Set-Cookie"]
        assert ("; Secure" in cookie) is secure, (headers, cookie)
