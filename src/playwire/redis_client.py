"""Connections to Redis, shared by every cross-node store of a cluster and its message queue.

``--message-queue`` names one of three topologies (docs/cluster.md):

- ``redis://HOST:PORT/N`` (or ``rediss://``): one Redis server;
- ``redis+sentinel://HOST:PORT[,HOST:PORT...]/N/SERVICE``: the master that the Sentinels
  name for SERVICE (python-socketio's URL form), found again after every failover;
- ``redis+cluster://HOST:PORT[,HOST:PORT...]``: a Redis Cluster, those nodes being where
  its slot map is first read from.

:func:`connect` gives a client of any of them; :class:`Publisher` and :class:`Subscription`
are the pub/sub adapter: sharded pub/sub (SPUBLISH/SSUBSCRIBE) on a Redis Cluster, where a
channel lives on the shard that owns its slot, and plain PUBLISH/SUBSCRIBE elsewhere.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any, Optional, Union
from urllib.parse import urlparse

import redis
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import RedisClusterException, RedisError
from redis.retry import Retry
from redis.sentinel import Sentinel
from socketio.redis_manager import parse_redis_sentinel_url

from playwire.blocking import under_gevent
from playwire.later import Later

SENTINEL_SCHEME = "redis+sentinel"
CLUSTER_SCHEME = "redis+cluster"
SCHEMES = ("redis", "rediss", SENTINEL_SCHEME, CLUSTER_SCHEME)

Client = Union[redis.Redis, RedisCluster]
#: What is published: JSON text, or its UTF-8 bytes (which Redis takes without a copy).
Message = Union[str, bytes]

#: What a Redis that is away raises, whatever the topology: a Redis Cluster client raises
#: RedisClusterException (not a RedisError) when it cannot map a slot to a reachable shard.
REDIS_ERRORS = (RedisError, RedisClusterException)

#: A client fails fast when Redis is away, so that events are answered ``unavailable``.
CONNECT_TIMEOUT = 2.0


def scheme(url: str) -> str:
    """The URL's scheme, lower-cased: one of :data:`SCHEMES` for a URL Playwire takes."""
    return urlparse(url).scheme.lower()


def is_valid_url(url: str) -> bool:
    """Whether ``url`` names a topology, with the hosts each form needs."""
    try:
        if scheme(url) == SENTINEL_SCHEME:
            sentinels, service, _ = parse_redis_sentinel_url(url)
            return bool(sentinels and service)
        if scheme(url) == CLUSTER_SCHEME:
            return bool(cluster_nodes(url))
    except ValueError:
        return False
    return scheme(url) in SCHEMES


def cluster_nodes(url: str) -> list[tuple[str, int]]:
    """The ``HOST:PORT`` pairs of a ``redis+cluster://`` URL."""
    netloc = urlparse(url).netloc.rsplit("@", 1)[-1]
    nodes = []
    for host_port in netloc.split(","):
        host, port = host_port.rsplit(":", 1)
        nodes.append((host, int(port)))
    return nodes


def connect(url: str, **options: Any) -> Client:
    """A client that fails fast when Redis is away and reconnects by itself once it is back.

    One immediate retry replaces a pooled connection that Redis closed while restarting (or,
    behind Sentinel, asks the Sentinels again where the master is).
    """
    options = {
        "decode_responses": True,
        "socket_connect_timeout": CONNECT_TIMEOUT,
        "retry": Retry(NoBackoff(), 1),
        **options,
    }
    if scheme(url) == SENTINEL_SCHEME:
        sentinels, service, url_options = parse_redis_sentinel_url(url)
        return _sentinel(sentinels, options).master_for(service, **url_options)
    if scheme(url) == CLUSTER_SCHEME:
        nodes = [ClusterNode(host, port) for host, port in cluster_nodes(url)]
        # Full coverage is not required: a shard that is down fails only what lives there.
        return RedisCluster(startup_nodes=nodes, require_full_coverage=False, **options)
    return redis.Redis.from_url(url, **options)


def _sentinel(sentinels: list[tuple[str, int]], options: dict) -> Sentinel:
    """Sentinels asked with the same timeouts as the master (redis-py's default too)."""
    timeouts = {key: value for key, value in options.items() if key.startswith("socket_")}
    return Sentinel(sentinels, sentinel_kwargs=timeouts, **options)


def _shard_of(url: str, channel: str, options: dict) -> redis.Redis:
    """A plain client of the Redis Cluster shard that owns ``channel``'s slot (the slot map
    read with :func:`connect`'s retry, which gets past a startup node that is down)."""
    cluster = connect(url)
    try:
        node = cluster.get_node_from_key(channel)
    finally:
        cluster.close()
    return connect(f"redis://{node.host}:{node.port}", **options)


def is_cluster(client: Client) -> bool:
    return isinstance(client, RedisCluster)


class Subscription:
    """A subscription to a set of channels on a connection of its own (SSUBSCRIBE on a
    Redis Cluster, where every channel of one Subscription must hash to one slot: the
    ``{hash tag}`` of the channels of one namespace).

    Channels can be added and removed while another greenlet reads :meth:`listen`, and
    :meth:`add` tells when Redis has confirmed a channel: what is published after that
    reaches this connection. Redis feeds one connection in the order it ran the publishes,
    whichever of its channels they were on.

    :meth:`listen` yields ``{"type": "message", "channel", "data"}`` dicts (bytes), the form
    python-socketio's Redis manager reads, and raises a :class:`redis.RedisError` once the
    connection is lost: the caller makes a new Subscription, without redis-py's
    reconnect-and-resubscribe (seen to end up subscribed to nothing when Redis restarts).
    """

    def __init__(self, url: str, *channels: str) -> None:
        options = {
            "socket_keepalive": True,
            "decode_responses": False,
            "retry": Retry(NoBackoff(), 0),
        }
        sharded = scheme(url) == CLUSTER_SCHEME
        self._client = _shard_of(url, channels[0], options) if sharded else connect(url, **options)
        self._pubsub = self._client.pubsub()
        if sharded:
            self._subscribe, self._unsubscribe = self._pubsub.ssubscribe, self._pubsub.sunsubscribe
        else:
            self._subscribe, self._unsubscribe = self._pubsub.subscribe, self._pubsub.unsubscribe
        #: Set once Redis has confirmed the channel, by name (read for every forward: keyed
        #: by the str a caller names, so that asking takes no encoding).
        self._confirmed: dict[str, threading.Event] = {}
        #: SUBSCRIBEs sent and not confirmed yet, by channel: a channel left and entered
        #: again quickly counts as subscribed only once its last SUBSCRIBE is confirmed.
        self._unconfirmed: dict[str, int] = {}
        try:
            for channel in channels:
                self.add(channel)
        except BaseException:
            self.close()
            raise

    def add(self, channel: str) -> threading.Event:
        """Subscribe to ``channel`` (once); the event is set when Redis has confirmed it."""
        confirmed = self._confirmed.get(channel)
        if confirmed is None:
            confirmed = self._confirmed[channel] = threading.Event()
            self._unconfirmed[channel] = self._unconfirmed.get(channel, 0) + 1
            self._subscribe(channel)
        return confirmed

    def confirmed(self, channel: str) -> bool:
        """Whether Redis has confirmed ``channel`` (and it was not removed since)."""
        confirmed = self._confirmed.get(channel)
        return confirmed is not None and confirmed.is_set()

    def remove(self, channel: str) -> None:
        """Unsubscribe from ``channel``: what is published on it stops coming here."""
        if self._confirmed.pop(channel, None) is not None:
            self._unsubscribe(channel)

    def listen(self) -> Iterator[dict]:
        for message in self._pubsub.listen():
            kind = message["type"]
            if kind in ("message", "smessage"):
                yield {"type": "message", "channel": message["channel"], "data": message["data"]}
            elif kind in ("subscribe", "ssubscribe"):
                self._on_confirmation(message["channel"])

    def _on_confirmation(self, name: bytes) -> None:
        channel = name.decode("utf-8")
        left = self._unconfirmed.get(channel, 1) - 1
        if left > 0:
            self._unconfirmed[channel] = left
            return
        self._unconfirmed.pop(channel, None)
        confirmed = self._confirmed.get(channel)
        if confirmed is not None:
            confirmed.set()

    def unsubscribe(self, *channels: str) -> None:
        """The end of python-socketio's ``_listen``: the subscription is closed."""
        self.close()

    def close(self) -> None:
        self._pubsub.close()
        self._client.close()


#: Forwards' deliveries, run in one command: a batch of them, in order, for one round trip.
#: ARGV[1] and ARGV[2] name the commands, PUBLISH and PUBSUB NUMSUB, or on a Redis Cluster
#: SPUBLISH and PUBSUB SHARDNUMSUB; then each forward has two keys, a user's channel and the
#: sender's, and three fields: a message and two flags. The message goes to the other nodes
#: subscribed to the user's channel; then, only if that user has a session anywhere, to the
#: other nodes subscribed to the sender's channel (the sender's other tabs), unless it is
#: the user's (a user forwarding to itself: the first copy reached them). A node delivers
#: what comes on a user's channel to that user's sessions, so one text serves both. The
#: flags say whether the publishing node holds each channel itself (1 or 0): it delivers to
#: its own sessions without Redis, and a channel that no other node holds is not published
#: at all. Each forward's result is whether the user has a session on some node (1 or 0).
#: On a Redis Cluster a batch is one forward (whose channels hash to one slot).
PUBLISH_TO_USERS = """
local publish, count = ARGV[1], ARGV[2]
local function others(channel, here)
  return redis.call('PUBSUB', count, channel)[2] - here
end
local results = {}
for f = 1, #KEYS / 2 do
  local target, sender, a = KEYS[2 * f - 1], KEYS[2 * f], 3 * f
  local here, then_here = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  local reached = here == 1
  if others(target, here) > 0 then
    redis.call(publish, target, ARGV[a])
    reached = true
  end
  if reached and sender ~= target and others(sender, then_here) > 0 then
    redis.call(publish, sender, ARGV[a])
  end
  results[f] = reached and 1 or 0
end
return results
"""

#: The most forwards one PUBLISH_TO_USERS runs: Redis serves nobody else while a script runs.
BATCH_MAX = 256


class Publisher:
    """Publishes for every greenlet of the process, pipelined.

    A publish is answered only once Redis has run it (a handler answers ``ok`` only then),
    but it does not take a round trip of its own: the publishes that greenlets make while a
    batch is on its way go out together as the next one, one pipeline (each run of
    forwards one :data:`PUBLISH_TO_USERS`) at a time, in the order they were made. Under
    load a round trip carries hundreds of them. A forward's publish does not even hold up
    its greenlet: it returns a :class:`~playwire.later.Later`, settled in the order of the
    publishes.

    Without gevent's patched sockets (a test's plain threads) each publish is a call of its
    own, as before; on a Redis Cluster too, where a publish goes to its channel's shard.
    """

    def __init__(self, client: Client) -> None:
        self._client = client
        self._queued: list[tuple[tuple, Any]] = []
        self._sending = False
        #: Calls under way when not pipelined (their completion), for :meth:`barrier`.
        self._in_flight: set[threading.Event] = set()
        cluster = is_cluster(client)
        self._commands = ("SPUBLISH", "SHARDNUMSUB") if cluster else ("PUBLISH", "NUMSUB")
        self._pipelined = not cluster and under_gevent()
        if self._pipelined:
            from gevent import spawn
            from gevent.event import AsyncResult

            self._spawn, self._waiter = spawn, AsyncResult

    def publish(self, channel: str, message: Message) -> int:
        """How many subscribers received ``message``; raises what Redis raised."""
        op = (channel, message)
        if not self._pipelined:
            return self._run_alone(op)
        waiter = self._waiter()
        self._enqueue(op, waiter)
        return waiter.get()

    def publish_to_user(
        self, channel: str, message: Message, here: bool, then: str, then_here: bool
    ) -> Later[int]:
        """``message`` for a user's sessions on other nodes (``channel``), then for the
        sender's on ``then`` if the user has a session anywhere; ``here``, ``then_here``:
        this node holds the channel (:data:`PUBLISH_TO_USERS`). Later: 1 if the user has a
        session anywhere, else 0; or what Redis raised."""
        op = (channel, then, message, int(here), int(then_here))
        later: Later[int] = Later()
        if self._pipelined:
            self._enqueue(op, later)
            return later
        try:
            later.set(self._run_alone(op))
        except Exception as exc:
            later.set_exception(exc)
        return later

    def barrier(self) -> None:
        """Return once every publish made before this call has run in Redis (or failed), and
        what was chained onto its result has run. A node lets a channel go only then: a
        forward counts the nodes subscribed to its target's channel when Redis runs it, less
        this node if it holds the channel, so this node must still hold it when the forwards
        it made while holding it run."""
        if not self._pipelined:
            for done in list(self._in_flight):
                done.wait()
            return
        waiter = self._waiter()
        self._enqueue(None, waiter)  # a place in the queue, with no command
        with contextlib.suppress(*REDIS_ERRORS):
            waiter.get()

    def _enqueue(self, op: Optional[tuple], outcome: Any) -> None:
        self._queued.append((op, outcome))
        if not self._sending:
            self._sending = True
            self._spawn(self._send_batches)

    def _run_alone(self, op: tuple) -> int:
        done = threading.Event()
        self._in_flight.add(done)
        try:
            if len(op) == 2:
                return self._publish(self._client, *op)
            (result,) = self._to_users(self._client, [op])
            return result
        finally:
            self._in_flight.discard(done)
            done.set()

    def _publish(self, client: Any, channel: str, message: Message) -> Any:
        """PUBLISH (SPUBLISH on a Redis Cluster), run or, on a pipeline, queued."""
        return client.execute_command(self._commands[0], channel, message)

    def _to_users(self, client: Any, ops: list[tuple]) -> Any:
        """:data:`PUBLISH_TO_USERS` for ``ops``, run or, on a pipeline, queued."""
        keys: list[str] = []
        args: list[Any] = [*self._commands]
        for target, sender, *fields in ops:
            keys += (target, sender)
            args += fields
        # EVAL, not EVALSHA: redis-py's pipeline would ask SCRIPT EXISTS before every batch
        # (a round trip), and on a Redis Cluster a NOSCRIPT loads the script on every shard.
        return client.eval(PUBLISH_TO_USERS, len(keys), *keys, *args)

    def _send_batches(self) -> None:
        try:
            while self._queued:
                batch, self._queued = self._queued, []
                self._send(batch)
        finally:
            self._sending = False

    def _send(self, batch: list[tuple[Optional[tuple], Any]]) -> None:
        """One pipeline: each publish a command, each run of forwards one script (at most
        :data:`BATCH_MAX` each), in the order they were made."""
        try:
            pipeline = self._client.pipeline(transaction=False)
            forwards: list[tuple] = []
            for op, _ in batch:
                if op is None:  # a barrier's place: no command
                    continue
                if len(op) == 2:
                    self._flush_forwards(pipeline, forwards)
                    self._publish(pipeline, *op)
                else:
                    forwards.append(op)
                    if len(forwards) == BATCH_MAX:
                        self._flush_forwards(pipeline, forwards)
            self._flush_forwards(pipeline, forwards)
            results: list[Any] = []
            for reply in pipeline.execute() if len(pipeline) else ():
                if isinstance(reply, list):
                    results += reply
                else:
                    results.append(reply)
        except BaseException as exc:  # a Redis error, or this greenlet killed: nobody hangs
            for _, outcome in batch:
                outcome.set_exception(exc)
            if isinstance(exc, REDIS_ERRORS):
                return
            raise
        returned = iter(results)
        for op, outcome in batch:
            outcome.set(next(returned) if op is not None else None)

    def _flush_forwards(self, pipeline: Any, forwards: list[tuple]) -> None:
        if forwards:
            self._to_users(pipeline, forwards)
            forwards.clear()
