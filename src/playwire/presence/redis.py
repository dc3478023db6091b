"""Presence in Redis: the store of a cluster, exact across nodes.

Per namespace, four keys (Centrifugo's model): a hash ``sessions`` (sid → user id), a sorted
set ``expiry`` (sid scored by the millisecond its session expires, on Redis's clock), a hash
``counts`` (user id → number of sessions) and a hash ``members`` (user id → username). Every
change is one Lua script, so two nodes never both see a user's first (or last) session.

Each node re-joins its own sessions every :attr:`RedisPresence.interval` seconds, which pushes
their expiry forward; a node that dies stops doing so, and the next :meth:`expire` on any
node removes its sessions. The script that removes an entry decides who announces the
departure, so exactly one node does. With ``ttl`` the bound from a node's death to its
sessions' departure: entries live ``0.7 * ttl`` after their last refresh and every node
refreshes and sweeps every ``ttl / 6``, so departures are found within ``0.87 * ttl``, and a
live node's refresh may be ``0.53 * ttl`` late before its sessions are swept.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from redis.exceptions import RedisError

from playwire.errors import ServiceUnavailable
from playwire.identity import Member
from playwire.presence import Arrival, Departure, PresenceStore
from playwire.redis_client import connect

KEY_PREFIX = "playwire:presence"
NAMESPACES_KEY = f"{KEY_PREFIX}:namespaces"
SWEEP_BATCH = 1000

_NOW_MS = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
"""

# KEYS: sessions, expiry, counts, members, namespaces. ARGV: sid, uid, username, lifetime
# (ms), namespace. Returns 1 when this is the user's first session, else 0; a known sid only
# has its expiry pushed forward.
JOIN = (
    _NOW_MS
    + """
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[4]), ARGV[1])
redis.call('SADD', KEYS[5], ARGV[5])
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('HSET', KEYS[4], ARGV[2], ARGV[3])
if redis.call('HINCRBY', KEYS[3], ARGV[2], 1) == 1 then return 1 end
return 0
"""
)

# KEYS: sessions, expiry, counts, members. ARGV: sid, uid. Returns 1 when it was the user's
# last session, else 0 (also when the session was unknown, e.g. already swept).
LEAVE = """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if redis.call('HINCRBY', KEYS[3], ARGV[2], -1) > 0 then return 0 end
redis.call('HDEL', KEYS[3], ARGV[2])
redis.call('HDEL', KEYS[4], ARGV[2])
return 1
"""

# KEYS: sessions, expiry, counts, members. ARGV: batch size. Removes expired sessions and
# returns {uid, username, ...} for the users who had no session left.
EXPIRE = (
    _NOW_MS
    + """
local gone = {}
local sids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
for _, sid in ipairs(sids) do
  redis.call('ZREM', KEYS[2], sid)
  local uid = redis.call('HGET', KEYS[1], sid)
  if uid then
    redis.call('HDEL', KEYS[1], sid)
    if redis.call('HINCRBY', KEYS[3], uid, -1) <= 0 then
      redis.call('HDEL', KEYS[3], uid)
      table.insert(gone, uid)
      table.insert(gone, redis.call('HGET', KEYS[4], uid) or '')
      redis.call('HDEL', KEYS[4], uid)
    end
  end
end
return gone
"""
)


def namespace_keys(namespace: str) -> list[str]:
    """The keys of one namespace: sessions, expiry, counts, members."""
    return [
        f"{KEY_PREFIX}:{namespace}:{part}" for part in ("sessions", "expiry", "counts", "members")
    ]


class RedisPresence(PresenceStore):
    """Presence shared by every node that uses the same Redis database."""

    def __init__(self, url: str, ttl: float) -> None:
        self.interval = ttl / 6
        self._lifetime_ms = int(ttl * 700)
        self._redis = connect(url, socket_timeout=5)
        self._join = self._redis.register_script(JOIN)
        self._leave = self._redis.register_script(LEAVE)
        self._expire = self._redis.register_script(EXPIRE)
        # This node's sessions, which refresh() keeps alive. The lock keeps a refresh from
        # bringing back a session that left while the refresh was on its way.
        self._local: dict[tuple[str, str], Member] = {}
        self._lock = threading.Lock()

    def join(self, namespace: str, member: Member, sid: str) -> bool:
        with self._lock, _unavailable_on_error():
            first = self._join(
                [*namespace_keys(namespace), NAMESPACES_KEY],
                self._join_args(namespace, member, sid),
            )
            self._local[(namespace, sid)] = member
        return bool(first)

    def leave(self, namespace: str, member: Member, sid: str) -> bool:
        with self._lock:
            # Forgotten here even if Redis is away: the entry then expires and is swept.
            self._local.pop((namespace, sid), None)
            with _unavailable_on_error():
                return bool(self._leave(namespace_keys(namespace), [sid, member.id]))

    def members(self, namespace: str) -> list[Member]:
        with _unavailable_on_error():
            found = self._redis.hgetall(namespace_keys(namespace)[3])
        members = [Member(int(uid), username) for uid, username in found.items()]
        return sorted(members, key=lambda member: member.id)

    def is_online(self, namespace: str, user_id: int) -> bool:
        with _unavailable_on_error():
            return bool(self._redis.hexists(namespace_keys(namespace)[2], str(user_id)))

    def refresh(self) -> list[Arrival]:
        """Re-join every session of this node: its expiry moves forward, and a session that
        was swept (or lost when Redis restarted empty) is written again."""
        with self._lock, _unavailable_on_error():
            sessions = list(self._local.items())
            pipe = self._redis.pipeline(transaction=False)
            for (namespace, sid), member in sessions:
                keys = [*namespace_keys(namespace), NAMESPACES_KEY]
                self._join(keys, self._join_args(namespace, member, sid), client=pipe)
            firsts = pipe.execute() if sessions else []
        return [
            Arrival(namespace, member)
            for ((namespace, _), member), first in zip(sessions, firsts)
            if first
        ]

    def expire(self) -> list[Departure]:
        departures = []
        with _unavailable_on_error():
            for namespace in sorted(self._redis.smembers(NAMESPACES_KEY)):
                gone = self._expire(namespace_keys(namespace), [SWEEP_BATCH])
                for uid, username in zip(gone[::2], gone[1::2]):
                    departures.append(Departure(namespace, Member(int(uid), username)))
        return departures

    def close(self) -> None:
        self._redis.close()

    def _join_args(self, namespace: str, member: Member, sid: str) -> list:
        return [sid, member.id, member.username, self._lifetime_ms, namespace]


@contextmanager
def _unavailable_on_error() -> Iterator[None]:
    try:
        yield
    except RedisError as exc:
        raise ServiceUnavailable("presence (Redis) cannot be reached; try again") from exc
