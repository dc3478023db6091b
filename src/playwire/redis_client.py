"""Connections to Redis, shared by every cross-node store of a cluster and its message queue.

``--message-queue`` names one of three topologies (docs/cluster.md):

- ``redis://HOST:PORT/N`` (or ``rediss://``): one Redis server;
- ``redis+sentinel://HOST:PORT[,HOST:PORT...]/N/SERVICE``: the master that the Sentinels
  name for SERVICE (python-socketio's URL form), found again after every failover;
- ``redis+cluster://HOST:PORT[,HOST:PORT...]``: a Redis Cluster, those nodes being where
  its slot map is first read from.

:func:`connect` gives a client of any of them; :func:`publish` and :class:`Subscription` are
the pub/sub adapter: sharded pub/sub (SPUBLISH/SSUBSCRIBE) on a Redis Cluster, where a
channel lives on the shard that owns its slot, and plain PUBLISH/SUBSCRIBE elsewhere.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any, Union
from urllib.parse import urlparse

import redis
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import RedisClusterException, RedisError
from redis.retry import Retry
from redis.sentinel import Sentinel
from socketio.redis_manager import parse_redis_sentinel_url

from playwire.blocking import under_gevent

SENTINEL_SCHEME = "redis+sentinel"
CLUSTER_SCHEME = "redis+cluster"
SCHEMES = ("redis", "rediss", SENTINEL_SCHEME, CLUSTER_SCHEME)

Client = Union[redis.Redis, RedisCluster]

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


def publish(client: Client, channel: str, message: str) -> int:
    """Publish on ``channel``: SPUBLISH on a Redis Cluster, else PUBLISH.

    Returns how many subscribers received it (on a cluster: on the channel's shard, which is
    where every :class:`Subscription` to it listens).
    """
    if is_cluster(client):
        return client.spublish(channel, message)
    return client.publish(channel, message)


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
        #: Set once Redis has confirmed the channel, by name.
        self._confirmed: dict[bytes, threading.Event] = {}
        #: SUBSCRIBEs sent and not confirmed yet, by channel: a channel left and entered
        #: again quickly counts as subscribed only once its last SUBSCRIBE is confirmed.
        self._unconfirmed: dict[bytes, int] = {}
        try:
            for channel in channels:
                self.add(channel)
        except BaseException:
            self.close()
            raise

    def add(self, channel: str) -> threading.Event:
        """Subscribe to ``channel`` (once); the event is set when Redis has confirmed it."""
        key = channel.encode("utf-8")
        confirmed = self._confirmed.get(key)
        if confirmed is None:
            confirmed = self._confirmed[key] = threading.Event()
            self._unconfirmed[key] = self._unconfirmed.get(key, 0) + 1
            self._subscribe(channel)
        return confirmed

    def confirmed(self, channel: str) -> bool:
        """Whether Redis has confirmed ``channel`` (and it was not removed since)."""
        confirmed = self._confirmed.get(channel.encode("utf-8"))
        return confirmed is not None and confirmed.is_set()

    def remove(self, channel: str) -> None:
        """Unsubscribe from ``channel``: what is published on it stops coming here."""
        if self._confirmed.pop(channel.encode("utf-8"), None) is not None:
            self._unsubscribe(channel)

    def listen(self) -> Iterator[dict]:
        for message in self._pubsub.listen():
            kind = message["type"]
            if kind in ("message", "smessage"):
                yield {"type": "message", "channel": message["channel"], "data": message["data"]}
            elif kind in ("subscribe", "ssubscribe"):
                self._on_confirmation(message["channel"])

    def _on_confirmation(self, key: bytes) -> None:
        left = self._unconfirmed.get(key, 1) - 1
        if left > 0:
            self._unconfirmed[key] = left
            return
        self._unconfirmed.pop(key, None)
        confirmed = self._confirmed.get(key)
        if confirmed is not None:
            confirmed.set()

    def unsubscribe(self, *channels: str) -> None:
        """The end of python-socketio's ``_listen``: the subscription is closed."""
        self.close()

    def close(self) -> None:
        self._pubsub.close()
        self._client.close()


#: A forward's delivery in one command: ARGV[1] to the other nodes subscribed to KEYS[1] (a
#: user's channel), then, only if that user has a session anywhere, ARGV[2] to the other
#: nodes subscribed to KEYS[2] (the sender's channel, for the sender's other tabs); ARGV[3]
#: and ARGV[4] say whether the publishing node holds each channel itself (1 or 0): it
#: delivers to its own sessions without Redis, and a channel that no other node holds is
#: not published at all. The command names come last: PUBLISH and PUBSUB NUMSUB, or on a
#: Redis Cluster SPUBLISH and PUBSUB SHARDNUMSUB (both channels hash to one slot).
#: Returns whether the user has a session on some node (1 or 0).
PUBLISH_TO_USER = """
local function others(channel, here)
  return redis.call('PUBSUB', ARGV[6], channel)[2] - tonumber(here)
end
local reached = tonumber(ARGV[3]) == 1
if others(KEYS[1], ARGV[3]) > 0 then
  redis.call(ARGV[5], KEYS[1], ARGV[1])
  reached = true
end
if not reached then return 0 end
if others(KEYS[2], ARGV[4]) > 0 then redis.call(ARGV[5], KEYS[2], ARGV[2]) end
return 1
"""


class Publisher:
    """Publishes for every greenlet of the process, pipelined.

    A publish waits for Redis to confirm it (a handler answers ``ok`` only then), but it does
    not take a round trip of its own: the publishes that greenlets make while a batch is on
    its way go out together as the next one, one pipeline at a time, in the order they were
    made. Under load a round trip carries hundreds of them. Without gevent's patched sockets
    (a test's plain threads) each publish is a call of its own, as before. On a Redis
    Cluster each publish is an SPUBLISH of its own: redis-py's cluster pipeline does not
    route SPUBLISH.
    """

    def __init__(self, client: Client) -> None:
        self._client = client
        self._queued: list[tuple[tuple, Any]] = []
        self._sending = False
        #: Calls under way when not pipelined (their completion), for :meth:`barrier`.
        self._in_flight: set[threading.Event] = set()
        self._cluster = is_cluster(client)
        self._pipelined = not self._cluster and under_gevent()
        if self._pipelined:
            from gevent import spawn
            from gevent.event import AsyncResult

            self._spawn, self._waiter = spawn, AsyncResult

    def publish(self, channel: str, message: str) -> int:
        """How many subscribers received ``message``; raises what Redis raised."""
        return self._call((channel, message))

    def publish_to_user(
        self, channel: str, message: str, here: bool, then: str, then_message: str, then_here: bool
    ) -> bool:
        """:data:`PUBLISH_TO_USER`: ``message`` for a user's sessions on other nodes
        (``channel``), then ``then_message`` on ``then`` if the user has a session anywhere;
        ``here``: this node holds the channel. Whether the user has a session anywhere."""
        return bool(self._call((channel, message, int(here), then, then_message, int(then_here))))

    def barrier(self) -> None:
        """Return once every publish made before this call has run in Redis (or failed). A
        node lets a channel go only then: a forward counts the nodes subscribed to its
        target's channel when Redis runs it, less this node if it holds the channel, so this
        node must still hold it when the forwards it made while holding it run."""
        if not self._pipelined:
            for done in list(self._in_flight):
                done.wait()
            return
        with contextlib.suppress(*REDIS_ERRORS):
            self._call(())  # a place in the queue, with no command

    def _call(self, op: tuple) -> int:
        if not self._pipelined:
            done = threading.Event()
            self._in_flight.add(done)
            try:
                return self._run(op, self._client)
            finally:
                self._in_flight.discard(done)
                done.set()
        confirmed = self._waiter()
        self._queued.append((op, confirmed))
        if not self._sending:
            self._sending = True
            self._spawn(self._send_batches)
        return confirmed.get()

    def _run(self, op: tuple, client: Any) -> Any:
        """Run (or, ``client`` being a pipeline, queue) one publish of :meth:`_call`."""
        if len(op) == 2:
            return publish(client, *op)
        channel, message, here, then, then_message, then_here = op
        commands = ("SPUBLISH", "SHARDNUMSUB") if self._cluster else ("PUBLISH", "NUMSUB")
        # EVAL, not EVALSHA: redis-py's pipeline would ask SCRIPT EXISTS before every batch
        # (a round trip), and on a Redis Cluster a NOSCRIPT loads the script on every shard.
        args = (message, then_message, here, then_here, *commands)
        return client.eval(PUBLISH_TO_USER, 2, channel, then, *args)

    def _send_batches(self) -> None:
        try:
            while self._queued:
                batch, self._queued = self._queued, []
                self._send(batch)
        finally:
            self._sending = False

    def _send(self, batch: list[tuple[tuple, Any]]) -> None:
        try:
            pipeline = self._client.pipeline(transaction=False)
            for op, _ in batch:
                if op:  # an empty op is a barrier's place in the queue
                    self._run(op, pipeline)
            receivers = iter(pipeline.execute())
        except BaseException as exc:  # a Redis error, or this greenlet killed: nobody hangs
            for _, confirmed in batch:
                confirmed.set_exception(exc)
            if isinstance(exc, REDIS_ERRORS):
                return
            raise
        for op, confirmed in batch:
            confirmed.set(next(receivers) if op else None)
