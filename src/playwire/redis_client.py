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
    """A subscription to one channel, on a connection of its own (SSUBSCRIBE on a cluster).

    :meth:`listen` yields ``{"type": "message", "channel", "data"}`` dicts (bytes), the form
    python-socketio's Redis manager reads, and raises a :class:`redis.RedisError` once the
    connection is lost: the caller makes a new Subscription, without redis-py's
    reconnect-and-resubscribe (seen to end up subscribed to nothing when Redis restarts).
    """

    def __init__(self, url: str, channel: str) -> None:
        self.channel = channel
        options = {
            "socket_keepalive": True,
            "decode_responses": False,
            "retry": Retry(NoBackoff(), 0),
        }
        sharded = scheme(url) == CLUSTER_SCHEME
        self._client = _shard_of(url, channel, options) if sharded else connect(url, **options)
        self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        try:
            (self._pubsub.ssubscribe if sharded else self._pubsub.subscribe)(channel)
        except BaseException:
            self.close()
            raise

    def listen(self) -> Iterator[dict]:
        for message in self._pubsub.listen():
            if message["type"] in ("message", "smessage"):
                yield {"type": "message", "channel": message["channel"], "data": message["data"]}

    def unsubscribe(self, *channels: str) -> None:
        """The end of python-socketio's ``_listen``: the subscription is closed."""
        self.close()

    def close(self) -> None:
        self._pubsub.close()
        self._client.close()


class Publisher:
    """Publishes on one channel for every greenlet of the process, pipelined.

    A publish waits for Redis to confirm it (a handler answers ``ok`` only then), but it does
    not take a round trip of its own: the publishes that greenlets make while a batch is on
    its way go out together as the next one, one pipeline at a time, in the order they were
    made. Under load a round trip carries hundreds of them. Without gevent's patched sockets
    (a test's plain threads) each publish is a call of its own, as before. On a Redis
    Cluster each publish is an SPUBLISH of its own: redis-py's cluster pipeline does not
    route SPUBLISH.
    """

    def __init__(self, client: Client, channel: str) -> None:
        self._client = client
        self._channel = channel
        self._queued: list[tuple[str, Any]] = []
        self._sending = False
        self._pipelined = not is_cluster(client) and under_gevent()
        if self._pipelined:
            from gevent import spawn
            from gevent.event import AsyncResult

            self._spawn, self._waiter = spawn, AsyncResult

    def publish(self, message: str) -> int:
        """How many subscribers received ``message``; raises what Redis raised."""
        if not self._pipelined:
            return publish(self._client, self._channel, message)
        confirmed = self._waiter()
        self._queued.append((message, confirmed))
        if not self._sending:
            self._sending = True
            self._spawn(self._send_batches)
        return confirmed.get()

    def _send_batches(self) -> None:
        try:
            while self._queued:
                batch, self._queued = self._queued, []
                self._send(batch)
        finally:
            self._sending = False

    def _send(self, batch: list[tuple[str, Any]]) -> None:
        try:
            pipeline = self._client.pipeline(transaction=False)
            for message, _ in batch:
                pipeline.publish(self._channel, message)
            receivers = pipeline.execute()
        except BaseException as exc:  # a Redis error, or this greenlet killed: nobody hangs
            for _, confirmed in batch:
                confirmed.set_exception(exc)
            if isinstance(exc, REDIS_ERRORS):
                return
            raise
        for (_, confirmed), count in zip(batch, receivers):
            confirmed.set(count)
