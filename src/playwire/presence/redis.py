"""Presence in Redis: the store of a cluster, exact across nodes.

Per namespace, four keys (Centrifugo's model), each named ``playwire:presence:{NAMESPACE}:...``:
a hash ``sessions`` (sid → user id), a sorted
set ``expiry`` (sid scored by the millisecond its session expires, on Redis's clock), a hash
``counts`` (user id → number of sessions) and a hash ``members`` (user id → username); a key
``limited`` exists while the namespace is above its presence limit. Per room a hash ``room:NAME``
(user id → number of sessions in the room), per session a set ``session-rooms:SID``. Every
change is one Lua script, so two nodes never both see a user's first (or last) session, nor
both switch a namespace across its limit. The namespace in braces is the keys' hash tag: on a
Redis Cluster every key of a namespace, its rooms' included, lives in one slot, so each script
(which builds room keys from a prefix) runs on one shard. The set ``playwire:presence:namespaces``
(the namespaces to sweep) is kept apart from the scripts, as it lives in a slot of its own.

Each node re-joins its own sessions every :attr:`RedisPresence.interval` seconds, which pushes
their expiry forward; a node that dies stops doing so, and the next :meth:`expire` on any
node removes its sessions. The script that removes an entry decides who announces the
departure, so exactly one node does. With ``ttl`` the bound from a node's death to its
sessions' departure: entries live ``0.7 * ttl`` after their last refresh and every node
refreshes and sweeps every ``ttl / 6``, so departures are found within ``0.87 * ttl``, and a
live node's refresh may be ``0.53 * ttl`` late before its sessions are swept.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Optional

from playwire.errors import ServiceUnavailable
from playwire.identity import Member
from playwire.presence import (
    Arrival,
    Census,
    Change,
    Departure,
    Limits,
    PresenceStore,
    RoomJoin,
    scripts,
)
from playwire.redis_client import REDIS_ERRORS, connect, is_cluster

log = logging.getLogger(__name__)

KEY_PREFIX = "playwire:presence"
NAMESPACES_KEY = f"{KEY_PREFIX}:namespaces"
SWEEP_BATCH = 1000
#: A limit a refresh never crosses: it leaves switching to :meth:`RedisPresence.census`.
NO_SWITCH = ["1e18", "-1"]
SCRIPTS = ("JOIN", "LEAVE", "CENSUS", "JOIN_ROOM", "LEAVE_ROOM", "LEAVE_ROOMS", "ROOM_MEMBERS")
SCRIPTS += ("EXPIRE", "REJOIN_ROOM")


def namespace_prefix(namespace: str) -> str:
    """The start of every key of the namespace, with the namespace as its hash tag."""
    return f"{KEY_PREFIX}:{{{namespace}}}:"


def namespace_keys(namespace: str) -> list[str]:
    """The keys of one namespace: sessions, expiry, counts, members."""
    parts = ("sessions", "expiry", "counts", "members")
    return [namespace_prefix(namespace) + part for part in parts]


def limited_key(namespace: str) -> str:
    """The key that exists while the namespace is above its presence limit."""
    return namespace_prefix(namespace) + "limited"


def room_prefix(namespace: str) -> str:
    """The prefix of the namespace's room keys; a room's key is this plus its name."""
    return namespace_prefix(namespace) + "room:"


def session_rooms_prefix(namespace: str) -> str:
    """The prefix of the sets of rooms a session is in; a session's set is this plus sid."""
    return namespace_prefix(namespace) + "session-rooms:"


class RedisPresence(PresenceStore):
    """Presence shared by every node that uses the same Redis database."""

    def __init__(self, url: str, ttl: float, limits: Optional[Limits] = None) -> None:
        super().__init__(limits)
        self.interval = ttl / 6
        self._lifetime_ms = int(ttl * 700)
        self._redis = connect(url, socket_timeout=5)
        self._scripts = {
            name: self._redis.register_script(getattr(scripts, name)) for name in SCRIPTS
        }
        # This node's sessions, which refresh() keeps alive. The lock keeps a refresh from
        # bringing back a session that left while the refresh was on its way.
        self._local: dict[tuple[str, str], Member] = {}
        #: The rooms of this node's sessions, which refresh() restores with them.
        self._local_rooms: dict[tuple[str, str], set[str]] = {}
        self._lock = threading.Lock()
        #: The namespaces this process has added to NAMESPACES_KEY since it started.
        self._registered: set[str] = set()

    def _run(self, script: str, keys: list, args: list, client: Any = None) -> Any:
        return self._scripts[script](keys, args, client=client)

    def _bounds(self) -> list:
        return [self.limits.presence, self.limits.presence_low]

    def join(self, namespace: str, member: Member, sid: str) -> Change:
        with self._lock, _unavailable_on_error():
            reply = self._run(
                "JOIN",
                [*namespace_keys(namespace), limited_key(namespace)],
                self._join_args(member, sid) + self._bounds(),
            )
            self._remember(namespace, sid, member)
            if namespace not in self._registered:
                self._redis.sadd(NAMESPACES_KEY, namespace)
                self._registered.add(namespace)
        return _change(reply)

    def leave(self, namespace: str, member: Member, sid: str) -> Change:
        with self._lock:
            # Forgotten here even if Redis is away: the entry then expires and is swept.
            self._forget(namespace, sid)
            with _unavailable_on_error():
                keys = [*namespace_keys(namespace), limited_key(namespace)]
                return _change(self._run("LEAVE", keys, [sid, member.id, *self._bounds()]))

    def census(self, namespace: str) -> Census:
        keys = [namespace_keys(namespace)[2], limited_key(namespace)]
        with _unavailable_on_error():
            count, limited, switched = self._run("CENSUS", keys, self._bounds())
        return Census(int(count), bool(limited), bool(switched))

    def members(self, namespace: str) -> list[Member]:
        with _unavailable_on_error():
            found = self._redis.hgetall(namespace_keys(namespace)[3])
        members = [Member(int(uid), username) for uid, username in found.items()]
        return sorted(members, key=lambda member: member.id)

    def is_online(self, namespace: str, user_id: int) -> bool:
        with _unavailable_on_error():
            return bool(self._redis.hexists(namespace_keys(namespace)[2], str(user_id)))

    def join_room(self, namespace: str, room: str, member: Member, sid: str) -> RoomJoin:
        keys = [room_prefix(namespace) + room, session_rooms_prefix(namespace) + sid]
        keys.append(namespace_keys(namespace)[3])
        limits = [self.limits.rooms_per_session, self.limits.room_users]
        with self._lock, _unavailable_on_error():
            reply = self._run("JOIN_ROOM", keys, [member.id, room, *limits])
            if not reply[0]:
                self._local_rooms.setdefault((namespace, sid), set()).add(room)
        if reply[0]:
            return RoomJoin(refused=reply[0])
        return RoomJoin(first=bool(reply[1]), members=_members(reply[2:]))

    def leave_room(self, namespace: str, room: str, member: Member, sid: str) -> Optional[bool]:
        keys = [room_prefix(namespace) + room, session_rooms_prefix(namespace) + sid]
        with self._lock:
            self._local_rooms.get((namespace, sid), set()).discard(room)
            with _unavailable_on_error():
                left = self._run("LEAVE_ROOM", keys, [member.id, room])
        return None if left < 0 else bool(left)

    def leave_rooms(self, namespace: str, member: Member, sid: str) -> list[str]:
        keys = [session_rooms_prefix(namespace) + sid]
        with self._lock:
            self._local_rooms.pop((namespace, sid), None)
            with _unavailable_on_error():
                return sorted(self._run("LEAVE_ROOMS", keys, [member.id, room_prefix(namespace)]))

    def hand_over(self, namespace: str, sid: str) -> None:
        with self._lock:
            self._forget(namespace, sid)

    def take_over(self, namespace: str, member: Member, sid: str, rooms: set[str]) -> None:
        with self._lock:
            self._remember(namespace, sid, member)
            if rooms:
                self._local_rooms[(namespace, sid)] = set(rooms)

    def _remember(self, namespace: str, sid: str, member: Member) -> None:
        self._local[(namespace, sid)] = member

    def _forget(self, namespace: str, sid: str) -> None:
        self._local.pop((namespace, sid), None)
        self._local_rooms.pop((namespace, sid), None)

    def room_members(self, namespace: str, room: str) -> list[Member]:
        keys = [room_prefix(namespace) + room, namespace_keys(namespace)[3]]
        with _unavailable_on_error():
            return _members(self._run("ROOM_MEMBERS", keys, []))

    def refresh(self) -> list[Arrival]:
        """Re-join every session of this node: its expiry moves forward, and a session that
        was swept (or lost when Redis restarted empty) is written again, in its namespace and
        in its rooms (an :class:`Arrival` with ``room`` for each room its user is back in).
        A refresh never switches a namespace across its limit:
        :meth:`census` does that next. One batch per namespace: on a Redis Cluster, a shard
        that is down holds back only the namespaces that live there."""
        with self._lock:
            by_namespace: dict[str, list[tuple[str, Member]]] = {}
            for (namespace, sid), member in self._local.items():
                by_namespace.setdefault(namespace, []).append((sid, member))
            found = _each_namespace(sorted(by_namespace), self._refresh_namespace, by_namespace)
        return [arrival for arrivals in found for arrival in arrivals]

    def _refresh_namespace(self, namespace: str, by_namespace: dict) -> list[Arrival]:
        sessions = by_namespace[namespace]
        keys = [*namespace_keys(namespace), limited_key(namespace)]
        replies = self._pipelined(
            "JOIN", [(keys, self._join_args(member, sid) + NO_SWITCH) for sid, member in sessions]
        )
        self._redis.sadd(NAMESPACES_KEY, namespace)  # back, if Redis lost it
        arrivals = [
            Arrival(namespace, member) for (_, member), reply in zip(sessions, replies) if reply[0]
        ]
        return arrivals + self._refresh_rooms(namespace, sessions)

    def _refresh_rooms(self, namespace: str, sessions: list[tuple[str, Member]]) -> list[Arrival]:
        """Put the sessions back in the rooms Redis no longer has them in."""
        in_rooms = [
            (sid, member, room)
            for sid, member in sessions
            for room in sorted(self._local_rooms.get((namespace, sid), ()))
        ]
        if not in_rooms:
            return []
        calls = [
            (
                [room_prefix(namespace) + room, session_rooms_prefix(namespace) + sid],
                [member.id, room],
            )
            for sid, member, room in in_rooms
        ]
        replies = self._pipelined("REJOIN_ROOM", calls)
        return [
            Arrival(namespace, member, room)
            for (_, member, room), first in zip(in_rooms, replies)
            if first
        ]

    def _pipelined(self, script: str, calls: list[tuple[list, list]]) -> list:
        """Run ``script`` once per (keys, args), all keys in one slot, in one round trip.

        A Redis Cluster pipeline refuses scripts; the keys' shard's own client takes them
        (and loads the script where it is missing, as any redis-py pipeline does)."""
        client = self._redis
        if is_cluster(client):
            client = client.get_redis_connection(client.get_node_from_key(calls[0][0][0]))
        pipe = client.pipeline(transaction=False)
        for keys, args in calls:
            self._run(script, keys, args, client=pipe)
        return pipe.execute()

    def expire(self) -> list[Departure]:
        with _unavailable_on_error():
            namespaces = sorted(self._redis.smembers(NAMESPACES_KEY))
        found = _each_namespace(namespaces, self._expire_namespace)
        return [departure for departures in found for departure in departures]

    def _expire_namespace(self, namespace: str) -> list[Departure]:
        args = [SWEEP_BATCH, room_prefix(namespace), session_rooms_prefix(namespace)]
        gone = self._run("EXPIRE", namespace_keys(namespace), args)
        departures = []
        for room, uid, username in zip(gone[::3], gone[1::3], gone[2::3]):
            member = Member(int(uid), username)
            departures.append(Departure(namespace, member, room or None))
        return departures

    def close(self) -> None:
        self._redis.close()

    def _join_args(self, member: Member, sid: str) -> list:
        return [sid, member.id, member.username, self._lifetime_ms]


def _change(reply: list) -> Change:
    user, count, limited, switched = reply
    return Change(bool(user), Census(int(count), bool(limited), bool(switched)))


def _members(flat: list) -> list[Member]:
    members = [Member(int(uid), name) for uid, name in zip(flat[::2], flat[1::2])]
    return sorted(members, key=lambda member: member.id)


def _each_namespace(namespaces: list[str], work: Callable[..., Any], *args: Any) -> list:
    """``work(namespace, *args)`` for each namespace, a failing one logged and skipped, so
    the others are still kept (a Redis Cluster shard down); unavailable if every one failed."""
    results, failures = [], []
    for namespace in namespaces:
        try:
            results.append(work(namespace, *args))
        except REDIS_ERRORS as exc:
            failures.append(exc)
            log.warning("presence of %s (Redis) cannot be reached: %s", namespace, exc)
    if failures and not results:
        raise ServiceUnavailable("presence (Redis) cannot be reached; try again") from failures[0]
    return results


@contextmanager
def _unavailable_on_error() -> Iterator[None]:
    try:
        yield
    except REDIS_ERRORS as exc:
        raise ServiceUnavailable("presence (Redis) cannot be reached; try again") from exc
