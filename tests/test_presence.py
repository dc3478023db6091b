"""The presence contract (docs/protocol.md, "Presence"; rooms and the presence limit: its
"Rooms" and "Presence limit") against both stores, memory and Redis.

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

from helpers.cluster import RedisServer, redis_topology
from playwire.errors import ServiceUnavailable
from playwire.identity import Member
from playwire.presence import Arrival, Census, Departure, Limits, PresenceStore
from playwire.presence.memory import MemoryPresence
from playwire.presence.redis import RedisPresence
from playwire.redis_client import connect

ALICE = Member(1, "alice")
BOB = Member(2, "bob")
CAROL = Member(3, "carol")


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    server = redis_topology("redis", tmp_path_factory.mktemp("presence-redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def cluster_server(tmp_path_factory):
    """A three-shard Redis Cluster: each namespace's keys share a hash tag, so one slot."""
    server = redis_topology("cluster", tmp_path_factory.mktemp("presence-cluster")).start()
    yield server
    server.stop()


REDIS_KINDS = [pytest.param(kind, marks=pytest.mark.cluster) for kind in ("redis", "cluster")]


@pytest.fixture(params=REDIS_KINDS)
def redis_of_test(request):
    """The Redis of a Redis-only test: a server, then a Redis Cluster."""
    return request.getfixturevalue(f"{request.param}_server")


def flush(server) -> None:
    """Empty the Redis (every shard of a cluster)."""
    client = connect(server.url)
    client.flushdb()
    client.close()


@pytest.fixture(params=["memory", *REDIS_KINDS])
def nodes(request) -> Iterator[Callable[..., PresenceStore]]:
    """``nodes(ttl=30, limits=None)``: a new node's store; for memory, one store shared by
    every "node" (made with the limits of the first call)."""
    if request.param == "memory":
        shared: list[MemoryPresence] = []

        def one_store(ttl: float = 30.0, limits: Limits | None = None) -> PresenceStore:
            if not shared:
                shared.append(MemoryPresence(limits))
            return shared[0]

        yield one_store
        return
    server = request.getfixturevalue(f"{request.param}_server")
    flush(server)
    stores: list[RedisPresence] = []

    def node(ttl: float = 30.0, limits: Limits | None = None) -> PresenceStore:
        stores.append(RedisPresence(server.url, ttl, limits))
        return stores[-1]

    yield node
    for store in stores:
        store.close()


@pytest.fixture
def store(nodes) -> PresenceStore:
    return nodes()


def test_first_session_joins_and_second_does_not(store):
    assert store.join("/chat", ALICE, "a1").user is True
    assert store.join("/chat", ALICE, "a2").user is False
    assert store.join("/chat", BOB, "b1").user is True


def test_last_session_leaves(store):
    store.join("/chat", ALICE, "a1")
    store.join("/chat", ALICE, "a2")
    assert store.leave("/chat", ALICE, "a1").user is False
    assert store.is_online("/chat", ALICE.id)
    assert store.leave("/chat", ALICE, "a2").user is True
    assert not store.is_online("/chat", ALICE.id)


def test_leaving_twice_or_unknown_sessions_changes_nothing(store):
    store.join("/chat", ALICE, "a1")
    store.join("/chat", ALICE, "a2")
    assert store.leave("/chat", ALICE, "a1").user is False
    assert store.leave("/chat", ALICE, "a1").user is False
    assert store.leave("/chat", ALICE, "nope").user is False
    assert store.leave("/chat", BOB, "a2").user is False
    assert store.members("/chat") == [ALICE]
    assert store.leave("/chat", ALICE, "a2").user is True


def test_joining_the_same_session_twice_counts_once(store):
    assert store.join("/chat", ALICE, "a1").user is True
    assert store.join("/chat", ALICE, "a1").user is False
    assert store.leave("/chat", ALICE, "a1").user is True


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
    assert first.join("/forward", ALICE, "a1").user is True
    assert second.join("/forward", ALICE, "a2").user is False
    assert second.is_online("/forward", ALICE.id)
    assert first.members("/forward") == second.members("/forward") == [ALICE]
    assert first.leave("/forward", ALICE, "a1").user is False
    assert second.leave("/forward", ALICE, "a2").user is True
    assert not first.is_online("/forward", ALICE.id)


def test_concurrent_joins_and_leaves_announce_exactly_once(nodes):
    stores = [nodes() for _ in range(4)]
    firsts, lasts = [], []

    def tab(store: PresenceStore, n: int) -> None:
        sid = f"s{n}"
        firsts.append(store.join("/chat", ALICE, sid).user)
        lasts.append(store.leave("/chat", ALICE, sid).user)

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


# -- rooms and the presence limit ---------------------------------------------------------

DAVE = Member(4, "dave")


def join_room(store: PresenceStore, namespace: str, room: str, member: Member, sid: str):
    """A session joins the namespace (as every connected session has), then the room."""
    store.join(namespace, member, sid)
    return store.join_room(namespace, room, member, sid)


def test_room_presence_is_per_user(nodes):
    first, second = nodes(), nodes()
    joined = join_room(first, "/chat", "lobby", ALICE, "a1")
    assert (joined.refused, joined.first, joined.members) == (None, True, [ALICE])
    # A second tab, on another node, is not a first; the same session again changes nothing.
    assert join_room(second, "/chat", "lobby", ALICE, "a2").first is False
    assert join_room(first, "/chat", "lobby", ALICE, "a1").first is False
    assert join_room(second, "/chat", "lobby", BOB, "b1").members == [ALICE, BOB]
    assert first.leave_room("/chat", "lobby", ALICE, "a1") is False
    assert second.leave_room("/chat", "lobby", ALICE, "a2") is True
    assert first.leave_room("/chat", "lobby", ALICE, "a2") is None
    assert first.room_members("/chat", "lobby") == [BOB]
    assert first.room_members("/forward", "lobby") == []


def test_leaving_every_room_of_a_session(store):
    join_room(store, "/chat", "a", ALICE, "a1")
    join_room(store, "/chat", "b", ALICE, "a1")
    join_room(store, "/chat", "b", ALICE, "a2")
    assert store.leave_rooms("/chat", ALICE, "a1") == ["a"]
    assert store.leave_rooms("/chat", ALICE, "a1") == []
    assert store.room_members("/chat", "a") == []
    assert store.room_members("/chat", "b") == [ALICE]
    assert join_room(store, "/chat", "a", ALICE, "a1").first is True


def test_rooms_per_session_are_limited(nodes):
    store = nodes(limits=Limits(rooms_per_session=2))
    assert join_room(store, "/chat", "r1", ALICE, "a1").refused is None
    assert join_room(store, "/chat", "r2", ALICE, "a1").refused is None
    assert join_room(store, "/chat", "r2", ALICE, "a1").refused is None  # already in it
    assert join_room(store, "/chat", "r3", ALICE, "a1").refused == "too_many_rooms"
    assert join_room(store, "/chat", "r3", ALICE, "a2").refused is None  # another session
    assert store.room_members("/chat", "r3") == [ALICE]
    assert store.leave_room("/chat", "r1", ALICE, "a1") is True
    assert join_room(store, "/chat", "r3", ALICE, "a1").refused is None


def test_room_users_are_limited_but_not_for_a_second_tab(nodes):
    store = nodes(limits=Limits(room_users=2))
    join_room(store, "/chat", "duel", ALICE, "a1")
    join_room(store, "/chat", "duel", BOB, "b1")
    assert join_room(store, "/chat", "duel", CAROL, "c1").refused == "room_full"
    assert join_room(store, "/chat", "duel", ALICE, "a2").refused is None
    assert store.room_members("/chat", "duel") == [ALICE, BOB]
    store.leave_rooms("/chat", BOB, "b1")
    assert join_room(store, "/chat", "duel", CAROL, "c1").members == [ALICE, CAROL]


def test_the_presence_limit_switches_both_ways(nodes):
    limits = Limits(presence=2)  # limited above 2 users, back below 1.8
    first, second = nodes(limits=limits), nodes(limits=limits)
    assert first.join("/chat", ALICE, "a1").census == Census(1, False)
    assert second.join("/chat", BOB, "b1").census == Census(2, False)
    assert first.join("/chat", CAROL, "c1").census == Census(3, True, switched=True)
    assert second.join("/chat", DAVE, "d1").census == Census(4, True)
    assert second.join("/chat", DAVE, "d2").census == Census(4, True)
    assert first.leave("/chat", DAVE, "d1").census == Census(4, True)
    assert first.leave("/chat", DAVE, "d2").census == Census(3, True)
    assert second.leave("/chat", CAROL, "c1").census == Census(2, True)  # 2 is not below 1.8
    assert second.census("/chat") == Census(2, True)
    assert first.leave("/chat", BOB, "b1").census == Census(1, False, switched=True)
    assert first.census("/forward") == Census(0, False)


# -- Redis only: what a cluster adds ------------------------------------------------------


@pytest.fixture
def redis_nodes(redis_of_test) -> Iterator[Callable[..., RedisPresence]]:
    redis_server = redis_of_test
    flush(redis_server)
    stores: list[RedisPresence] = []

    def node(ttl: float = 30.0, limits: Limits | None = None) -> RedisPresence:
        stores.append(RedisPresence(redis_server.url, ttl, limits))
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
def test_a_dead_nodes_sessions_leave_their_rooms(redis_nodes):
    limits = Limits(presence=1)
    dead, alive = redis_nodes(ttl=0.5, limits=limits), redis_nodes(ttl=0.5, limits=limits)
    join_room(dead, "/chat", "lobby", ALICE, "a1")
    join_room(dead, "/chat", "match:1", ALICE, "a1")
    join_room(alive, "/chat", "lobby", BOB, "b1")
    assert alive.census("/chat") == Census(2, True)
    departures = []
    while not departures:
        alive.refresh()
        departures = alive.expire()
        time.sleep(0.05)
    assert sorted(departures, key=lambda d: d.room or "") == [
        Departure("/chat", ALICE),
        Departure("/chat", ALICE, "lobby"),
        Departure("/chat", ALICE, "match:1"),
    ]
    assert alive.room_members("/chat", "lobby") == [BOB]
    assert alive.room_members("/chat", "match:1") == []
    # The sweep changes the count; the next census makes the switch back.
    assert alive.census("/chat") == Census(1, True)  # 1 is not below 0.9
    assert alive.leave("/chat", BOB, "b1").census == Census(0, False, switched=True)


@pytest.mark.cluster
def test_a_swept_session_that_is_still_there_comes_back(redis_nodes):
    slow, sweeper = redis_nodes(ttl=0.5), redis_nodes(ttl=0.5)
    slow.join("/chat", ALICE, "a1")
    assert wait_for_departures(sweeper, timeout=2) == [Departure("/chat", ALICE)]
    assert slow.refresh() == [Arrival("/chat", ALICE)]
    assert sweeper.members("/chat") == [ALICE]
    assert slow.refresh() == []
    assert slow.leave("/chat", ALICE, "a1").user is True


@pytest.mark.cluster
def test_refresh_restores_what_redis_lost(redis_nodes, redis_of_test):
    store = redis_nodes()
    store.join("/chat", ALICE, "a1")
    store.join("/chat", ALICE, "a2")
    flush(redis_of_test)
    assert store.members("/chat") == []
    assert store.refresh() == [Arrival("/chat", ALICE)]
    assert store.members("/chat") == [ALICE]
    assert store.leave("/chat", ALICE, "a1").user is False
    assert store.leave("/chat", ALICE, "a2").user is True


@pytest.mark.cluster
def test_refresh_puts_sessions_back_in_their_rooms(redis_nodes, redis_of_test):
    store, other = redis_nodes(), redis_nodes()
    store.join("/chat", ALICE, "a1")
    store.join("/chat", ALICE, "a2")
    store.join_room("/chat", "lobby", ALICE, "a1")
    store.join_room("/chat", "lobby", ALICE, "a2")
    store.join_room("/chat", "match:1", ALICE, "a1")
    store.join_room("/chat", "left", ALICE, "a1")
    store.leave_room("/chat", "left", ALICE, "a1")
    flush(redis_of_test)
    assert other.room_members("/chat", "lobby") == []
    assert sorted(store.refresh(), key=str) == sorted(
        [
            Arrival("/chat", ALICE),
            Arrival("/chat", ALICE, "lobby"),
            Arrival("/chat", ALICE, "match:1"),
        ],
        key=str,
    )
    assert other.room_members("/chat", "lobby") == [ALICE]
    assert other.room_members("/chat", "match:1") == [ALICE]
    assert other.room_members("/chat", "left") == []
    assert store.refresh() == []
    # Both sessions were put back: the user is in the lobby until the second one leaves it.
    assert store.leave_room("/chat", "lobby", ALICE, "a1") is False
    assert store.leave_rooms("/chat", ALICE, "a2") == ["lobby"]
    assert store.leave_rooms("/chat", ALICE, "a1") == ["match:1"]
    assert store.refresh() == []


@pytest.mark.cluster
def test_a_swept_session_comes_back_in_its_rooms(redis_nodes):
    slow, sweeper = redis_nodes(ttl=0.5), redis_nodes(ttl=0.5)
    slow.join("/chat", ALICE, "a1")
    slow.join_room("/chat", "lobby", ALICE, "a1")
    departures = wait_for_departures(sweeper, timeout=2)
    assert Departure("/chat", ALICE, "lobby") in departures
    assert slow.refresh() == [Arrival("/chat", ALICE), Arrival("/chat", ALICE, "lobby")]
    assert sweeper.room_members("/chat", "lobby") == [ALICE]


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
