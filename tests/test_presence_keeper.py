"""The presence keeper's sweep (``playwire.socketio.presence_keeper``) over a real Redis store.

The sweep removes departures from Redis before they are announced, so an announce that
fails must not take the ones after it down with it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any, Optional

import pytest
import redis

from helpers.cluster import RedisServer
from playwire.errors import ServiceUnavailable
from playwire.identity import Member
from playwire.presence.redis import RedisPresence
from playwire.socketio.presence_keeper import keep_presence_once

pytestmark = pytest.mark.cluster

MEMBERS = [Member(1, "alice"), Member(2, "bob"), Member(3, "carol")]


class EmitsAfterAFailure:
    """What the keeper emits through (a Socket.IO server's manager, which is itself here):
    the first emit fails with ``failure``, the others are recorded, as a manager whose
    publish fails once would."""

    namespace_handlers: dict = {}

    def __init__(self, failure: Exception) -> None:
        self.failure: Optional[Exception] = failure
        self.attempts: list[tuple[str, Any, str]] = []
        self.sent: list[tuple[str, Any, str]] = []
        self.manager = self

    def emit(self, event: str, data: Any, namespace: str, room: Any = None, **options) -> None:
        self.attempts.append((event, data, namespace))
        failure, self.failure = self.failure, None
        if failure is not None:
            raise failure
        self.sent.append((event, data, namespace))


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory) -> Iterator[str]:
    server = RedisServer(tmp_path_factory.mktemp("keeper-redis")).start()
    yield server.url
    server.stop()


@pytest.mark.parametrize(
    "failure",
    [ServiceUnavailable("the message queue (Redis) cannot be reached"), RuntimeError("a bug")],
    ids=["publish-failed", "unexpected-error"],
)
def test_one_failed_announce_does_not_lose_the_departures_after_it(redis_url, failure, caplog):
    redis.Redis.from_url(redis_url).flushdb()
    dead, sweeper = RedisPresence(redis_url, ttl=0.6), RedisPresence(redis_url, ttl=0.6)
    try:
        for member in MEMBERS:
            assert dead.join("/chat", member, f"sid-{member.id}")
        last_joined = time.monotonic()
        server = EmitsAfterAFailure(failure)
        deadline = time.monotonic() + 5
        # `dead` never refreshes: its sessions expire 0.42 s after joining. The first sweep
        # waits until the last of them has, so that it finds all three together (as a dead
        # node's sessions would be) rather than the first ones alone on a slow machine.
        time.sleep(max(0.0, last_joined + 0.42 + 0.05 - time.monotonic()))
        while not server.attempts:
            assert time.monotonic() < deadline, "nothing was swept"
            with caplog.at_level(logging.WARNING):
                keep_presence_once(server, sweeper, reachable=True)
            time.sleep(0.05)
        assert [data["id"] for _, data, _ in server.attempts] == [1, 2, 3]
        assert server.sent == [("user_left", member.to_json(), "/chat") for member in MEMBERS[1:]]
        assert any("user_left of user 1" in record.getMessage() for record in caplog.records)
        assert sweeper.members("/chat") == []
        keep_presence_once(server, sweeper, reachable=True)
        assert len(server.attempts) == 3, "a departure was announced twice"
    finally:
        dead.close()
        sweeper.close()


class RecordsEmits:
    """What the keeper emits through (a Socket.IO server's manager, which is itself here),
    recording each emit with its recipients."""

    namespace_handlers: dict = {}

    def __init__(self) -> None:
        self.sent: list[tuple[str, Any, Any]] = []
        self.manager = self

    def emit(self, event: str, data: Any, namespace: str, room: Any = None, **options) -> None:
        self.sent.append((event, data, room))


def test_sessions_lost_with_redis_are_announced_back_in_the_namespace_then_their_rooms(
    redis_url,
):
    redis.Redis.from_url(redis_url).flushdb()
    store = RedisPresence(redis_url, ttl=30)
    alice = MEMBERS[0]
    try:
        store.join("/chat", alice, "a1")
        store.join_room("/chat", "lobby", alice, "a1")
        redis.Redis.from_url(redis_url).flushdb()  # Redis restarted empty
        server = RecordsEmits()
        keep_presence_once(server, store, reachable=True)
        assert server.sent == [
            ("user_joined", alice.to_json(), None),
            ("user_joined", {**alice.to_json(), "room": "lobby"}, "room:lobby"),
        ]
        assert store.room_members("/chat", "lobby") == [alice]
    finally:
        store.close()
