"""Prometheus metrics of one process: what is counted and how it is read.

The relay forwards tens of thousands of events per second on one core, so nothing on the hot
path touches prometheus-client: a namespace's :class:`NamespaceMetrics` adds to plain ints in
dicts whose keys are fixed in advance (an event name a client invents counts as ``_unknown``,
so clients cannot grow the label set), and :class:`LatencyHistogram` is a list of bucket
counts. prometheus-client reads all of it only when ``/metrics`` is scraped, through
:class:`PlaywireCollector`, which also computes the gauges (sessions, users online, rooms)
from the namespaces' own state rather than counting connects and disconnects.

Under gevent a greenlet is never switched out between the bytecodes of an increment, so the
plain ints need no lock.
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from time import perf_counter
from typing import Any, Callable, Optional

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

log = logging.getLogger(__name__)

#: The ``event`` label of every event name the namespace has no handler for.
UNKNOWN_EVENT = "_unknown"
#: Handler times from 50 µs to 2.5 s: a forward takes tens of µs, a chat message a database write.
EVENT_BUCKETS = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
    0.5, 1.0, 2.5,
)  # fmt: skip
#: Redis PUBLISH round trips, from 50 µs to 1 s.
PUBLISH_BUCKETS = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
)  # fmt: skip
DISCONNECT_REASONS = (
    "client disconnect",
    "server disconnect",
    "ping timeout",
    "transport close",
    "transport error",
    "outbox full",  # --max-outbox (playwire.upstream.engineio.OUTBOX_FULL)
)


class LatencyHistogram:
    """A histogram whose :meth:`observe` costs one bisection and two additions."""

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is +Inf
        self.sum = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(self.bounds, seconds)] += 1
        self.sum += seconds

    def buckets(self) -> list[tuple[str, int]]:
        """Cumulative ``(le, count)`` pairs, as Prometheus expects them."""
        cumulative, total = [], 0
        for bound, count in zip((*map(repr, self.bounds), "+Inf"), self.counts):
            total += count
            cumulative.append((bound, total))
        return cumulative


class NamespaceMetrics:
    """What one namespace counts on its hot path."""

    def __init__(self, namespace: str, events: Iterable[str]) -> None:
        self.namespace = namespace
        self.received = dict.fromkeys([*events, UNKNOWN_EVENT], 0)
        self.errors: dict[str, int] = {}  # keys: the error codes of playwire.errors
        self.event_seconds = LatencyHistogram(EVENT_BUCKETS)

    def event_handled(self, event: Any, reply: Optional[dict], started: float) -> None:
        """Count one client event, its handler's time since ``started`` and its failure."""
        self.event_seconds.observe(perf_counter() - started)
        received = self.received
        if type(event) is str and event in received:
            received[event] += 1
        else:
            received[UNKNOWN_EVENT] += 1
        if reply is not None and reply.get("ok") is False:
            code = reply["error"]
            self.errors[code] = self.errors.get(code, 0) + 1


class NoMetrics(NamespaceMetrics):
    """``--metrics off``: the hooks stay, and do nothing."""

    def event_handled(self, event: Any, reply: Optional[dict], started: float) -> None:
        pass


class Metrics:
    """The registry of one process and everything its collector reads."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.registry = CollectorRegistry(auto_describe=False)
        self.namespaces: dict[str, tuple[Any, NamespaceMetrics]] = {}
        self.disconnects = dict.fromkeys(DISCONNECT_REASONS, 0)
        #: Sessions each emit reached on this node, per namespace; None when off (the
        #: manager then counts nothing). Filled by the Socket.IO manager.
        self.deliveries: Optional[dict[str, int]] = {} if enabled else None
        #: Messages a cluster node read from the queue, by kind of channel (playwire.routing).
        self.queue_received: Optional[dict[str, int]] = {} if enabled else None
        self.queue_publish_seconds = LatencyHistogram(PUBLISH_BUCKETS)
        self.presence: Any = None
        self._rooms: dict[str, Callable[[], int]] = {}
        if enabled:
            self.registry.register(PlaywireCollector(self))

    def for_namespace(self, handler: Any, events: Iterable[str]) -> NamespaceMetrics:
        """The recorder of a namespace handler; its ``sessions`` dict is read at scrape time."""
        recorder = (NamespaceMetrics if self.enabled else NoMetrics)(handler.namespace, events)
        self.namespaces[handler.namespace] = (handler, recorder)
        return recorder

    def disconnected(self, reason: Any) -> None:
        """Count a session's disconnect; reasons are python-socketio's few strings."""
        if self.enabled:
            key = reason if reason in self.disconnects else "other"
            self.disconnects[key] = self.disconnects.get(key, 0) + 1

    def feed_rooms(self, namespace: str, count: Callable[[], int]) -> None:
        """Have ``playwire_rooms{namespace}`` read ``count()`` at scrape time (default 0)."""
        self._rooms[namespace] = count

    def rooms(self, namespace: str) -> int:
        count = self._rooms.get(namespace)
        return count() if count is not None else 0

    def time_publish(self, started: float) -> None:
        """Record a Redis publish that began at ``started`` (``perf_counter()``)."""
        if self.enabled:
            self.queue_publish_seconds.observe(perf_counter() - started)


class PlaywireCollector:
    """Turns :class:`Metrics` into Prometheus families when ``/metrics`` is scraped."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        yield from self._gauges()
        yield from self._counters()
        yield self._histogram(
            "playwire_event_seconds",
            "Time spent handling one client event, by namespace.",
            [((name,), recorder.event_seconds) for name, (_, recorder) in self._recorders()],
            ["namespace"],
        )
        yield self._histogram(
            "playwire_queue_publish_seconds",
            "Time of one publish to the message queue (Redis) on a cluster node.",
            [((), self.metrics.queue_publish_seconds)],
            [],
        )

    def _recorders(self) -> list[tuple[str, tuple[Any, NamespaceMetrics]]]:
        return sorted(self.metrics.namespaces.items())

    def _gauges(self) -> Iterator[Metric]:
        sessions = GaugeMetricFamily(
            "playwire_sessions", "Sessions connected to this node.", labels=["namespace"]
        )
        users = GaugeMetricFamily(
            "playwire_users_online",
            "Users with a session in the namespace (on a cluster: on any node).",
            labels=["namespace"],
        )
        rooms = GaugeMetricFamily(
            "playwire_rooms", "Game rooms open in the namespace.", labels=["namespace"]
        )
        for name, (handler, _) in self._recorders():
            sessions.add_metric([name], len(handler.sessions))
            rooms.add_metric([name], self.metrics.rooms(name))
            online = self._users_online(name)
            if online is not None:
                users.add_metric([name], online)
        yield from (sessions, users, rooms)

    def _users_online(self, namespace: str) -> Optional[int]:
        presence = self.metrics.presence
        if presence is None:
            return None
        try:
            return len(presence.members(namespace))
        except Exception:  # e.g. Redis down: the sample is left out, the scrape still answers
            log.warning("presence unavailable; playwire_users_online{%s} left out", namespace)
            return None

    def _counters(self) -> Iterator[Metric]:
        received = CounterMetricFamily(
            "playwire_events_received",
            "Client events received, by namespace and event (_unknown: no such event).",
            labels=["namespace", "event"],
        )
        errors = CounterMetricFamily(
            "playwire_event_errors",
            "Client events refused or failed, by namespace and error code.",
            labels=["namespace", "error"],
        )
        deliveries = CounterMetricFamily(
            "playwire_deliveries",
            "Events handed to sessions of this node (one per recipient session).",
            labels=["namespace"],
        )
        for name, (_, recorder) in self._recorders():
            for event, count in list(recorder.received.items()):
                received.add_metric([name, event], count)
            for code, count in list(recorder.errors.items()):
                errors.add_metric([name, code], count)
        for name, count in sorted((self.metrics.deliveries or {}).items()):
            deliveries.add_metric([name], count)
        queue_received = CounterMetricFamily(
            "playwire_queue_received",
            "Messages a cluster node read from the message queue, by kind of channel "
            "(user, room, namespace, other), its own emits included.",
            labels=["channel"],
        )
        for kind, count in sorted((self.metrics.queue_received or {}).items()):
            queue_received.add_metric([kind], count)
        disconnects = CounterMetricFamily(
            "playwire_disconnects", "Sessions disconnected, by reason.", labels=["reason"]
        )
        for reason, count in list(self.metrics.disconnects.items()):
            disconnects.add_metric([reason], count)
        yield from (received, errors, deliveries, queue_received, disconnects)

    @staticmethod
    def _histogram(
        name: str,
        documentation: str,
        series: list[tuple[tuple[str, ...], LatencyHistogram]],
        labels: list[str],
    ) -> Metric:
        family = HistogramMetricFamily(name, documentation, labels=labels)
        for values, histogram in series:
            family.add_metric(list(values), histogram.buckets(), histogram.sum)
        return family
