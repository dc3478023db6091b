"""Redis pub/sub for a cluster's message queue: pipelined publishes, counted subscriptions.

The one place that speaks pub/sub to Redis. :class:`Publisher` sends every greenlet's
PUBLISH of one round trip in one write and hands each caller its receiver count;
:class:`Subscriber` keeps one connection subscribed to the channels this node holds. A
sharded variant (SPUBLISH/SSUBSCRIBE, one connection per shard) offers the same calls:
``Publisher.publish`` and ``Subscriber.hold``/``release``/``run``.

Both speak RESP2 on a socket that redis-py opened (so URLs, passwords, TLS and databases mean
what they mean everywhere else): redis-py's pure-Python reply parser costs more than the rest
of a forward, and its PubSub object cannot tell which SUBSCRIBE a confirmation answers.
"""

from __future__ import annotations

import logging
import socket
from collections import deque
from typing import Any, Callable, Optional

import gevent
import redis
from gevent.event import Event
from gevent.lock import Semaphore

from playwire.errors import ServiceUnavailable

log = logging.getLogger(__name__)

UNAVAILABLE = "the message queue (Redis) cannot be reached; try again"
PUBLISH = b"*3\r\n$7\r\nPUBLISH\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n"
SUBSCRIBE = b"SUBSCRIBE"
UNSUBSCRIBE = b"UNSUBSCRIBE"
RETRY_MAX = 2.0


class Incomplete(Exception):
    """The buffer ends inside a reply."""


class ReplyError(Exception):
    """Redis answered a command with an error."""


def command(*parts: bytes) -> bytes:
    """One command in RESP2."""
    return b"*%d\r\n" % len(parts) + b"".join(b"$%d\r\n%s\r\n" % (len(p), p) for p in parts)


def parse(buf: bytes, pos: int) -> tuple[Any, int]:
    """The RESP2 reply at ``buf[pos:]`` and where it ends; raises :class:`Incomplete`."""
    end = buf.find(b"\r\n", pos)
    if end < 0:
        raise Incomplete
    kind, line, pos = buf[pos], buf[pos + 1 : end], end + 2
    if kind == 0x24:  # $ bulk string
        size = int(line)
        if size < 0:
            return None, pos
        if len(buf) < pos + size + 2:
            raise Incomplete
        return buf[pos : pos + size], pos + size + 2
    if kind == 0x3A:  # : integer
        return int(line), pos
    if kind == 0x2A:  # * array
        items = []
        for _ in range(int(line)):
            item, pos = parse(buf, pos)
            items.append(item)
        return items, pos
    if kind == 0x2D:  # - error
        return ReplyError(line.decode(errors="replace")), pos
    return line, pos  # + simple string


MESSAGE = b"*3\r\n$7\r\nmessage\r\n$"


def message_at(buf: bytes, pos: int, skip: bytes) -> tuple[Any, int]:
    """The pub/sub message at ``buf[pos:]`` (``[b"message", channel, data]``), or None when
    its data starts with ``skip``, and where it ends: a node's own messages come back to it
    on every channel it holds, and are dropped here without being copied. Raises
    :class:`Incomplete`."""
    size_at = pos + len(MESSAGE)
    size_end = buf.find(b"\r\n", size_at)
    if size_end < 0:
        raise Incomplete
    channel_at = size_end + 2
    channel_end = channel_at + int(buf[size_at:size_end])
    size_at = channel_end + 3  # past "\r\n$"
    size_end = buf.find(b"\r\n", size_at)
    if size_end < 0:
        raise Incomplete
    data_at = size_end + 2
    data_end = data_at + int(buf[size_at:size_end])
    if len(buf) < data_end + 2:
        raise Incomplete
    if buf.startswith(skip, data_at):
        return None, data_end + 2
    return [b"message", buf[channel_at:channel_end], buf[data_at:data_end]], data_end + 2


class Connection:
    """A socket to Redis, opened and authenticated by redis-py, read as RESP2 here."""

    def __init__(self, url: str, timeout: Optional[float]) -> None:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_keepalive=True)
        self._redis = client.connection_pool.make_connection()
        self._redis.connect()
        self.sock: socket.socket = self._redis._sock
        self.sock.settimeout(timeout)
        self._buf = b""
        self._pos = 0

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def replies(self, skip: Optional[bytes] = None) -> Any:
        """Every reply as it comes, but pub/sub messages whose data starts with ``skip``;
        blocks for more; raises OSError when the socket closes."""
        while True:
            try:
                while self._pos < len(self._buf):
                    if skip is not None and self._buf.startswith(MESSAGE, self._pos):
                        item, self._pos = message_at(self._buf, self._pos, skip)
                        if item is None:
                            continue
                    else:
                        item, self._pos = parse(self._buf, self._pos)
                    yield item
            except Incomplete:
                pass
            chunk = self.sock.recv(262144)
            if not chunk:
                raise ConnectionError("Redis closed the connection")
            self._buf, self._pos = self._buf[self._pos :] + chunk, 0

    def close(self) -> None:
        self._redis.disconnect()


class Batch:
    """The publishes of one round trip, and their outcome."""

    __slots__ = ("commands", "done", "error", "results")

    def __init__(self) -> None:
        self.commands: list[bytes] = []
        self.results: list[Any] = []
        self.error: Optional[BaseException] = None
        self.done = Event()


class Publisher:
    """PUBLISH for every greenlet, pipelined: one write and one read per round trip.

    While one batch is on the wire the next one fills up, so the more greenlets publish, the
    more each round trip carries. A caller waits for its own batch's replies: it learns
    Redis's receiver count, or gets :class:`ServiceUnavailable`, never a guess. Batches go out
    in the order they filled, and within a batch the order of the calls.
    """

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url
        self.timeout = timeout
        self._connection: Optional[Connection] = None
        self._batch = Batch()
        self._wakeup = Event()
        self._greenlet: Optional[gevent.Greenlet] = None

    def publish(self, messages: list[tuple[bytes, bytes]]) -> list[int]:
        """Publish ``(channel, data)`` pairs in order; their receiver counts, once Redis
        confirmed all of them."""
        if self._greenlet is None or self._greenlet.dead:
            self._greenlet = gevent.spawn(self._run)
        batch = self._batch
        first = len(batch.commands)
        for channel, data in messages:
            batch.commands.append(PUBLISH % (len(channel), channel, len(data), data))
        self._wakeup.set()
        if not batch.done.wait(2 * self.timeout) or batch.error is not None:
            raise ServiceUnavailable(UNAVAILABLE) from batch.error
        counts = batch.results[first : first + len(messages)]
        if not all(type(count) is int for count in counts):
            raise ServiceUnavailable(f"the message queue refused a publish: {counts}")
        return counts

    def _run(self) -> None:
        while True:
            self._wakeup.wait()
            self._wakeup.clear()
            batch, self._batch = self._batch, Batch()
            try:
                batch.results = self._send(batch.commands)
            except Exception as exc:  # OSError, redis-py's errors: all mean "not published"
                batch.error = exc
                self._drop()
            batch.done.set()

    def _send(self, commands: list[bytes]) -> list[Any]:
        if self._connection is None:
            self._connection = Connection(self.url, self.timeout)
        connection = self._connection
        connection.send(b"".join(commands))
        replies = connection.replies()
        return [next(replies) for _ in commands]

    def _drop(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class Waiter(Event):
    """Set when Redis confirmed one SUBSCRIBE or UNSUBSCRIBE, or when the connection died."""

    failed = False


class Subscriber:
    """One connection subscribed to the channels this node holds, and its listener.

    A channel is held by each local session that needs it (:meth:`hold`) and stays
    subscribed until the last one lets go (:meth:`release`), at once or after a delay. Redis
    confirms the (UN)SUBSCRIBEs of one connection in order, so each waiter knows exactly when
    its own took effect. After a reconnect the held channels are subscribed again; meanwhile
    ``subscribed`` is False and what other nodes publish is lost for this node.
    """

    def __init__(
        self,
        url: str,
        skip_prefix: bytes,
        on_message: Callable[[bytes, bytes], None],
        timeout: float = 5.0,
    ) -> None:
        self.url = url
        self.skip_prefix = skip_prefix
        self.on_message = on_message
        self.timeout = timeout
        #: Whether this node receives what other nodes publish to the channels it holds.
        self.subscribed = False
        self._holds: dict[bytes, int] = {}
        self._active: set[bytes] = set()  # the last command sent for it was a SUBSCRIBE
        self._inflight: dict[bytes, deque[tuple[bytes, Waiter]]] = {}
        self._lingering: dict[bytes, Any] = {}
        self._initial: list[Waiter] = []
        self._connection: Optional[Connection] = None
        self._write = Semaphore()
        self._ready = Event()  # set while subscribed
        self._done = Waiter()
        self._done.set()

    def channels(self) -> set[str]:
        """The channels this node is subscribed to (or subscribing)."""
        return {channel.decode() for channel in self._active}

    def keep(self, channel: str) -> None:
        """Hold ``channel`` for as long as this node runs; subscribed on connecting."""
        key = channel.encode()
        self._holds[key] = self._holds.get(key, 0) + 1

    def hold(self, channel: str, wait: bool = True) -> None:
        """Take a hold on ``channel``; return once it is subscribed. Raises
        :class:`ServiceUnavailable` if Redis cannot confirm it; the hold stays, to be
        released (and subscribed after a reconnect meanwhile). ``wait`` False: return at
        once, without yielding to other greenlets; the subscription follows."""
        key = channel.encode()
        self._holds[key] = self._holds.get(key, 0) + 1
        timer = self._lingering.pop(key, None)
        if timer is not None:
            timer.kill(block=False)
        if wait:
            self._ensure(key)
        elif key not in self._active or self._inflight.get(key):
            gevent.spawn(self._ensure_quietly, key)

    def confirm(self, channel: str) -> None:
        """Return once ``channel``, already held, is subscribed (ServiceUnavailable if not)."""
        self._ensure(channel.encode())

    def _ensure(self, key: bytes) -> None:
        if key in self._active:  # the last command sent for it was a SUBSCRIBE
            pending = self._inflight.get(key)
            if not pending:
                return
            waiter = pending[-1][1]
        else:
            waiter = self._send(SUBSCRIBE, key)
        self._wait(waiter)

    def _ensure_quietly(self, key: bytes) -> None:
        if key not in self._holds:
            return
        try:
            self._ensure(key)
        except ServiceUnavailable:
            log.warning("cannot subscribe to %s now; will after reconnecting", key.decode())

    def release(self, channel: str, delay: float = 0.0) -> None:
        """Let go of a hold; the last one unsubscribes after ``delay`` seconds, or at once
        (returning once Redis confirmed it) when ``delay`` is 0."""
        key = channel.encode()
        left = self._holds.get(key, 0) - 1
        if left > 0:
            self._holds[key] = left
            return
        self._holds.pop(key, None)
        if delay > 0:
            if key not in self._lingering:
                self._lingering[key] = gevent.spawn_later(delay, self._unsubscribe, key, False)
            return
        self._unsubscribe(key, True)

    def _unsubscribe(self, key: bytes, wait: bool) -> None:
        self._lingering.pop(key, None)
        if key in self._holds or key not in self._active:
            return
        try:
            waiter = self._send(UNSUBSCRIBE, key)
            if wait:
                self._wait(waiter)
        except ServiceUnavailable:
            pass  # the connection is gone, and its subscriptions with it

    def _send(self, verb: bytes, key: bytes) -> Waiter:
        if self._connection is None and verb is SUBSCRIBE:
            # (Re)connecting: the held channels are subscribed once connected.
            if not self._ready.wait(self.timeout):
                raise ServiceUnavailable(UNAVAILABLE)
            if key in self._active:
                pending = self._inflight.get(key)
                return pending[-1][1] if pending else self._done
        connection = self._connection
        if connection is None:
            raise ServiceUnavailable(UNAVAILABLE)
        waiter = Waiter()
        self._inflight.setdefault(key, deque()).append((verb, waiter))
        if verb is SUBSCRIBE:
            self._active.add(key)
        else:
            self._active.discard(key)
        try:
            with self._write:
                connection.send(command(verb, key))
        except OSError as exc:
            raise ServiceUnavailable(UNAVAILABLE) from exc
        return waiter

    def _wait(self, waiter: Waiter) -> None:
        if not waiter.wait(self.timeout) or waiter.failed:
            raise ServiceUnavailable(UNAVAILABLE)

    # -- the listener ----------------------------------------------------------------------

    def run(self) -> None:
        """Forever: connect, subscribe what is held, deliver; retry within 2 s on failure."""
        delay = 0.25
        while True:
            try:
                replies = self._connect()
                delay = 0.25
                for reply in replies:
                    self._dispatch(reply)
            except Exception as exc:  # OSError, redis-py's errors: start afresh
                self._disconnected()
                log.warning("message queue unreachable (%s); retrying in %.2fs", exc, delay)
                gevent.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)

    def _connect(self) -> Any:
        connection = Connection(self.url, None)
        self._connection = connection
        keys = list(self._holds)
        self._initial = []
        for key in keys:
            waiter = Waiter()
            self._inflight.setdefault(key, deque()).append((SUBSCRIBE, waiter))
            self._active.add(key)
            self._initial.append(waiter)
        if keys:
            with self._write:
                connection.send(command(SUBSCRIBE, *keys))
        else:
            self._now_subscribed()
        return connection.replies(skip=self.skip_prefix)

    def _dispatch(self, reply: Any) -> None:
        kind = reply[0]
        if kind == b"message":  # from another node: the connection dropped this node's own
            try:
                self.on_message(reply[1], reply[2])
            except Exception:
                log.exception("a message from the queue could not be handled")
        elif kind in (b"subscribe", b"unsubscribe"):
            self._confirmed(reply[1])

    def _confirmed(self, key: bytes) -> None:
        pending = self._inflight.get(key)
        if not pending:
            return
        pending.popleft()[1].set()
        if not pending:
            del self._inflight[key]
        if not self.subscribed and all(waiter.is_set() for waiter in self._initial):
            self._now_subscribed()

    def _now_subscribed(self) -> None:
        self._initial = []
        self.subscribed = True
        self._ready.set()
        log.info("subscribed to the message queue")

    def _disconnected(self) -> None:
        self.subscribed = False  # at once: the presence keeper reads it meanwhile
        self._ready.clear()
        connection, self._connection = self._connection, None
        for pending in self._inflight.values():
            for _, waiter in pending:
                waiter.failed = True
                waiter.set()
        self._inflight.clear()
        self._active.clear()
        for timer in self._lingering.values():
            timer.kill(block=False)
        self._lingering.clear()
        if connection is not None:
            try:
                connection.close()
            except Exception:
                log.debug("closing the subscriber connection failed", exc_info=True)
