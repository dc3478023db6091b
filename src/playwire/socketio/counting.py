"""The ``presence_count`` timer of limited namespaces (docs/protocol.md, "Presence limit").

Every ``--presence-count-interval`` seconds each process asks each of its namespaces to send
its own sessions the count, if it changed: on a cluster every node does this for its own
sessions with a local emit, reading the count from Redis, so the count crosses the message
queue not at all and each session gets at most one per interval.
"""

from __future__ import annotations

import logging

import socketio as python_socketio

from playwire.errors import ServiceUnavailable

log = logging.getLogger(__name__)


def start_presence_counter(server: python_socketio.Server, interval: float) -> None:
    """Run :func:`count_presence` in the background."""
    server.start_background_task(count_presence, server, interval)


def count_presence(server: python_socketio.Server, interval: float) -> None:
    """Forever: let every Playwire namespace send its ``presence_count``."""
    while True:
        server.sleep(interval)
        for handler in list(server.namespace_handlers.values()):
            if not hasattr(handler, "send_presence_count"):
                continue
            try:
                handler.send_presence_count()
            except ServiceUnavailable:
                log.debug("presence unavailable; no presence_count for %s", handler.namespace)
            except Exception:
                log.exception("presence_count of %s failed", handler.namespace)
