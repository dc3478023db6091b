"""Keys from the game backend's JWKS URL (playwire.jwks): cached, fetched at most once per
cooldown however many unknown kids arrive, and never a reason to stall or stop the server."""

from __future__ import annotations

import queue
import socket
import threading
import time

import pytest

from helpers.jwts import SECRET, JwksServer, by_hand, claims, ec_key, jwk_of, mint, refusal, rsa_key

RSA, EC, ATTACKER = rsa_key(), ec_key(), rsa_key()


@pytest.fixture
def jwks():
    server = JwksServer().start()
    server.keys = [jwk_of(RSA, "rsa-1"), jwk_of(EC, "ec-1")]
    yield server
    server.stop()


def test_keys_are_cached_and_unknown_kids_fetch_once(jwks, start_server, connect, transport):
    server = start_server("--jwks-url", jwks.url)
    for n in range(20):
        forged = mint(ATTACKER, "RS256", 100 + n, kid=f"made-up-{n}")
        assert refusal(server, "/chat", transport, forged) == "invalid token"
    assert jwks.requests == 1
    for key, kid, algorithm, user_id in ((RSA, "rsa-1", "RS256", 1), (EC, "ec-1", "ES256", 2)):
        client = connect(server, "/forward", mint(key, algorithm, user_id, kid=kid))
        assert {"id": user_id, "username": f"user{user_id}"} in client.expect("presence")["users"]
    for forged in (
        mint(ATTACKER, "RS256", 3, kid="rsa-1"),  # a known kid, another key
        mint(EC, "ES256", 3, kid="rsa-1"),  # the kid of an RSA key, an EC signature
        mint(SECRET, "HS256", 3, kid="rsa-1"),  # no secret is configured
        by_hand({"alg": "none", "kid": "rsa-1"}, claims(3)),
    ):
        assert refusal(server, "/forward", transport, forged) == "invalid token"
    assert jwks.requests == 1


def test_a_new_key_is_fetched_once_the_cooldown_has_passed(jwks, start_server, connect):
    server = start_server("--jwks-url", jwks.url, "--jwks-cooldown", "1")
    connect(server, "/ping", mint(RSA, "RS256", 1, kid="rsa-1")).expect("presence")
    assert jwks.requests == 1
    rotated = rsa_key()
    jwks.keys = [*jwks.keys, jwk_of(rotated, "rsa-2")]
    time.sleep(1.2)  # the behaviour under test is time itself: the cooldown must pass
    connect(server, "/ping", mint(rotated, "RS256", 2, kid="rsa-2")).expect("presence")
    assert jwks.requests == 2


def test_an_unanswering_jwks_stalls_no_one_else(start_server, connect, transport):
    """The fetch waits (up to its 5 s timeout) in its own greenlet: the server serves others,
    then refuses the token, and does not try again within the cooldown."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/jwks.json"
        server = start_server("--jwks-url", url)
        account = server.register()
        token = mint(RSA, "RS256", 1, kid="rsa-1")
        outcome: queue.Queue = queue.Queue()
        waiting = threading.Thread(
            target=lambda: outcome.put(refusal(server, "/chat", transport, token)), daemon=True
        )
        waiting.start()
        silent.settimeout(10)
        fetch, _ = silent.accept()  # the server is now waiting for the JWKS
        with fetch:
            started = time.monotonic()
            connect(server, "/chat", account["token"]).expect("presence")
            assert time.monotonic() - started < 3
            assert outcome.get(timeout=15) == "invalid token"
        started = time.monotonic()
        assert refusal(server, "/chat", transport, token) == "invalid token"
        assert time.monotonic() - started < 3
        silent.setblocking(False)
        with pytest.raises(BlockingIOError):
            silent.accept()  # no second fetch within the cooldown
        assert server.is_running()
