"""Logout revokes (docs/protocol.md, *Limits and abuse*): the stores' contract, memory and
Redis, the throttle's counts shared by nodes, and the rule over a real server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Callable

import pytest
import redis
import requests
from limits.storage import MemoryStorage, RedisStorage

from helpers.clients import Refused
from helpers.cluster import RedisServer
from helpers.server import PASSWORD
from playwire.presence import Member
from playwire.revocation import RevocationStore
from playwire.revocation.memory import MemoryRevocations
from playwire.revocation.redis import RedisRevocations
from playwire.throttle import Throttle, TooManyAttempts
from playwire.tokens import TokenError, TokenSigner

ALICE = Member(1, "alice")


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("revocation-redis")).start()
    yield server
    server.stop()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.cluster)])
def nodes(request) -> Callable[[], RevocationStore]:
    """``nodes()``: a new node's store; one shared store for memory (one process)."""
    if request.param == "memory":
        store = MemoryRevocations()
        return lambda: store
    server = request.getfixturevalue("redis_server")
    redis.Redis.from_url(server.url).flushdb()
    return lambda: RedisRevocations(server.url)


def test_a_revoked_id_is_refused_on_every_node(nodes):
    first, second = nodes(), nodes()
    assert not second.is_revoked("abc")
    first.revoke("abc", time.time() + 60)
    assert first.is_revoked("abc") and second.is_revoked("abc")
    assert not second.is_revoked("abd")


def test_a_revocation_ends_with_its_token(nodes):
    store = nodes()
    store.revoke("soon", time.time() + 1.2)
    store.revoke("past", time.time() - 1)
    assert store.is_revoked("soon") and not store.is_revoked("past")
    time.sleep(1.5)  # the expiry itself is what is tested
    assert not store.is_revoked("soon")


def test_tokens_are_unique_and_revoked_one_by_one(nodes):
    signer = TokenSigner("key", ttl=60, revocations=nodes())
    other_node = TokenSigner("key", ttl=60, revocations=nodes())
    first, second = signer.issue(ALICE), signer.issue(ALICE)
    assert first != second
    assert signer.revoke(first) == ALICE
    with pytest.raises(TokenError, match="invalid token"):
        other_node.verify(first)
    assert other_node.verify(second) == ALICE


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.cluster)])
def throttles(request) -> Callable[[], Throttle]:
    """``throttles()``: a node's throttle; on Redis, nodes count together."""
    if request.param == "memory":
        storage = MemoryStorage()
        return lambda: Throttle(storage, "2 per minute", "3 per minute", "1 per minute")
    server = request.getfixturevalue("redis_server")
    redis.Redis.from_url(server.url).flushdb()
    return lambda: Throttle(
        RedisStorage(server.url), "2 per minute", "3 per minute", "1 per minute"
    )


def test_throttle_counts_are_shared_by_nodes(throttles):
    first, second = throttles(), throttles()
    first.login_failed("1.2.3.4", "Alice")
    second.login_failed("1.2.3.4", "alice")
    with pytest.raises(TooManyAttempts) as limited:
        first.check_login("1.2.3.4", "ALICE")
    assert 1 <= limited.value.retry_after <= 60
    second.check_login("1.2.3.5", "alice")  # another address
    second.check_login("1.2.3.4", "bob")  # another name, and the address has 1 left
    first.login_failed("1.2.3.4", None)
    with pytest.raises(TooManyAttempts):
        second.check_login("1.2.3.4", "bob")
    second.registered("1.2.3.4")
    with pytest.raises(TooManyAttempts):
        first.check_register("1.2.3.4")


def test_a_success_clears_the_username_count(throttles):
    throttle = throttles()
    throttle.login_failed("1.2.3.4", "alice")
    throttle.login_succeeded("1.2.3.4", "alice")
    throttle.login_failed("1.2.3.4", "alice")
    throttle.check_login("1.2.3.4", "alice")


# -- over a real server ---------------------------------------------------------------------


def test_logout_revokes_the_cookie_token(server, connect):
    account = server.register()
    browser = requests.Session()
    login = browser.post(
        server.url + "/api/login",
        json={"username": account["username"], "password": PASSWORD},
        timeout=10,
    )
    token = login.json()["token"]
    connect(server, "/chat", token).expect("presence")
    assert browser.post(server.url + "/api/logout", timeout=10).status_code == 204
    with pytest.raises(Refused, match="invalid token"):
        connect(server, "/chat", token)
    me = requests.get(server.url + "/api/me", headers=bearer(token), timeout=10)
    assert (me.status_code, me.json()["error"]) == (401, "unauthenticated")
    # The account's other tokens are not affected.
    connect(server, "/chat", account["token"]).expect("presence")


def test_logout_revokes_the_bearer_token(server, connect):
    account = server.register()
    token = account["token"]
    logout = requests.post(server.url + "/api/logout", headers=bearer(token), timeout=10)
    assert logout.status_code == 204
    with pytest.raises(Refused, match="invalid token"):
        connect(server, "/forward", token)
    me = requests.get(server.url + "/api/me", headers=bearer(token), timeout=10)
    assert me.status_code == 401


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}
