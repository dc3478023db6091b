"""The presence contract (docs/protocol.md, "Presence") against both stores, memory and Redis.

A "node" is what one process holds: for the memory store every node is the same store (one
process), for Redis each node is a store of its own over the same database, as in a
cluster. The Redis tests start their own redis-server on a free port.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Callable

import pytest
import redis

from helpers.cluster import RedisServer
from playwire.errors import ServiceUnavailable
from playwire.identity import Member
from playwire.presence import Arrival, Departure, PresenceStore
from playwire.presence.memory import MemoryPresence
from playwire.presence.redis import RedisPresence

ALICE = Member(1, "alice")
BOB = Member(2, "bob")
CAROL = Member(3, "carol")


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("presence-redis")).start()
    yield server
    server.stop()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.cluster)])
def nodes(request) -> Iterator[Callable[..., PresenceStore]]:
    """``nodes(ttl=30)``: a new node's store; one shared store for memory."""
    if request.param == "memory":
        store = MemoryPresence()
        yield lambda ttl=30.0: store
        return
    server = request.getfixturevalue("redis_server")
    redis.Redis.from_url(server.url).flushdb()
    stores: list[RedisPresence] = []

    def node(ttl: float = 30.0) -> PresenceStore:
        stores.append(RedisPresence(server.url, ttl))
        return stores[-1]

    yield node
    for store in stores:
        store.close()


@pytest.fixture
def store(nodes) -> PresenceStore:
    return nodes()


def test_first_session_joins_and_second_does_not(store):
    assert store.join("/chat", ALICE, "a1") is True
    assert store.join("/chat", ALICE, "a2") is False
    assert store.join("/chat", BOB, "b1") is True


def test_last_session_leaves(store):
    store.join("/chat", ALICE, "a1")
    store.join("/chat", ALICE, "a2")
    assert store.leave("/chat", ALICE, "a1") is False
    assert store.is_online("/chat", ALICE.id)
    assert store.leave("/chat", ALICE, "a2") is True
    assert not store.is_online("/chat", ALICE.id)


def test_leaving_twice_or_unknown_sessions_changes_nothing(store):
    store.join("/chat", ALICE, "a1")
    store.join("/chat", ALICE, "a2")
    assert store.leave("/chat", ALICE, "a1") is False
    assert store.leave("/chat", ALICE, "a1") is False
    assert store.leave("/chat", ALICE, "nope") is False
    assert store.leave("/chat", BOB, "a2") is False
    assert store.members("/chat") == [ALICE]
    assert store.leave("/chat", ALICE, "a2") is True


def test_joining_the_same_session_twice_counts_once(store):
    assert store.join("/chat", ALICE, "a1") is True
    assert store.join("/chat", ALICE, "a1") is False
    assert store.leave("/chat", ALICE, "a1") is True


def test_members_are_ordered_by_id_and_per_namespace(store):
    store.join("/chat", CAROL, "c1")
    store.join("/chat", ALICE, "a1")
    store.join("/chat", ALICE, "a2")
    store.join("/forward", BOB, "b1")
    assert store.members("/chat") == [ALICE, CAROL]
    assert store.members("/forward") == [BOB]
    assert store.members("/ping") == []
    assert store.is_online("/forward", BOB.id)
    assert not store.is_online("/chat", BOB.id)


def test_counts_are_exact_across_nodes(nodes):
    first, second = nodes(), nodes()
    assert first.join("/forward", ALICE, "a1") is True
    assert second.join("/forward", ALICE, "a2") is False
    assert second.is_online("/forward", ALICE.id)
    assert first.members("/forward") == second.members("/forward") == [ALICE]
    assert first.leave("/forward", ALICE, "a1") is False
    assert second.leave("/forward", ALICE, "a2") is True
    assert not first.is_online("/forward", ALICE.id)


def test_concurrent_joins_and_leaves_announce_exactly_once(nodes):
    stores = [nodes() for _ in range(4)]
    firsts, lasts = [], []

    def tab(store: PresenceStore, n: int) -> None:
        sid = f"s{n}"
        firsts.append(store.join("/chat", ALICE, sid))
        lasts.append(store.leave("/chat", ALICE, sid))

    for _ in range(20):
        firsts.clear()
        lasts.clear()
        threads = [threading.Thread(target=tab, args=(s, n)) for n, s in enumerate(stores)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        # Sessions may overlap or not, but joins and leaves pair up: as many "first" as "last".
        assert firsts.count(True) == lasts.count(True) >= 1
        assert not stores[0].is_online("/chat", ALICE.id)


def test_live_sessions_do_not_expire(nodes):
    store = nodes(ttl=0.5)
    store.join("/chat", ALICE, "a1")
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:
        assert store.refresh() == []
        assert store.expire() == []
        time.sleep(store.interval or 0.1)  # the keeper's own rhythm
    assert store.members("/chat") == [ALICE]


# -- Redis only: what a cluster adds ------------------------------------------------------


@pytest.fixture
def redis_nodes(redis_server) -> Iterator[Callable[..., RedisPresence]]:
    redis.Redis.from_url(redis_server.url).flushdb()
    stores: list[RedisPresence] = []

    def node(ttl: float = 30.0) -> RedisPresence:
        stores.append(RedisPresence(redis_server.url, ttl))
        return stores[-1]

    yield node
    for store in stores:
        store.close()


def wait_for_departures(store: PresenceStore, timeout: float) -> list[Departure]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        departures = store.expire()
        if departures:
            return departures
        time.sleep(0.05)
    raise AssertionError(f"nothing expired within {timeout}s")


@pytest.mark.cluster
def test_a_dead_nodes_sessions_expire_once(redis_nodes):
    dead, alive, other = redis_nodes(ttl=1.0), redis_nodes(ttl=1.0), redis_nodes(ttl=1.0)
    dead.join("/forward", ALICE, "a1")
    dead.join("/forward", ALICE, "a2")
    dead.join("/forward", BOB, "b1")
    alive.join("/forward", BOB, "b2")
    started = time.monotonic()
    # `dead` stops refreshing; `alive` keeps its session alive while it waits.
    departures = []
    while not departures:
        assert time.monotonic() - started < 1.0 + 2, "no departure within the bound"
        alive.refresh()
        departures = alive.expire() + other.expire()
        time.sleep(0.05)
    assert departures == [Departure("/forward", ALICE)]
    # Entries live 0.7 * ttl past their last refresh: not swept early.
    assert time.monotonic() - started >= 0.65
    assert alive.expire() == other.expire() == []
    assert alive.members("/forward") == [BOB]


@pytest.mark.cluster
def test_a_swept_session_that_is_still_there_comes_back(redis_nodes):
    slow, sweeper = redis_nodes(ttl=0.5), redis_nodes(ttl=0.5)
    slow.join("/chat", ALICE, "a1")
    assert wait_for_departures(sweeper, timeout=2) == [Departure("/chat", ALICE)]
    assert slow.refresh() == [Arrival("/chat", ALICE)]
    assert sweeper.members("/chat") == [ALICE]
    assert slow.refresh() == []
    assert slow.leave("/chat", ALICE, "a1") is True


@pytest.mark.cluster
def test_refresh_restores_what_redis_lost(redis_nodes, redis_server):
    store = redis_nodes()
    store.join("/chat", ALICE, "a1")
    store.join("/chat", ALICE, "a2")
    redis.Redis.from_url(redis_server.url).flushdb()
    assert store.members("/chat") == []
    assert store.refresh() == [Arrival("/chat", ALICE)]
    assert store.members("/chat") == [ALICE]
    assert store.leave("/chat", ALICE, "a1") is False
    assert store.leave("/chat", ALICE, "a2") is True


@pytest.mark.cluster
def test_a_left_session_is_not_refreshed(redis_nodes):
    store = redis_nodes()
    store.join("/chat", ALICE, "a1")
    store.leave("/chat", ALICE, "a1")
    assert store.refresh() == []
    assert store.members("/chat") == []


@pytest.mark.cluster
def test_redis_away_is_unavailable(tmp_path):
    server = RedisServer(tmp_path)  # never started: nothing listens on its port
    store = RedisPresence(server.url, 30.0)
    for call in (
        lambda: store.join("/chat", ALICE, "a1"),
        lambda: store.leave("/chat", ALICE, "a1"),
        lambda: store.members("/chat"),
        lambda: store.is_online("/chat", ALICE.id),
        store.expire,
    ):
        with pytest.raises(ServiceUnavailable):
            call()
    store.close()
