"""The HTTP server: gevent's WSGI server with WebSocket support, tuned for small messages."""

from __future__ import annotations

import gc
import logging
import platform
import signal
from typing import Callable, Optional

import gevent
from flask import Flask
from gevent import pywsgi
from gevent.event import Event

from playwire.upstream.geventwebsocket import Handler

log = logging.getLogger(__name__)

#: Allocations between two collections of CPython's youngest generation (its default: 700).
YOUNG_COLLECTION_THRESHOLD = 50_000


def serve(
    app: Flask, host: str, port: int, before_exit: Optional[Callable[[], None]] = None
) -> None:
    """Serve ``app`` (HTTP, long-polling and WebSocket) until the process is stopped.

    Its handler sets TCP_NODELAY on long-polling requests only (see
    :class:`~playwire.upstream.geventwebsocket.Handler`). With ``before_exit`` (a cluster
    node), SIGTERM stops accepting connections, so that the proxy sends clients to other
    nodes, runs ``before_exit`` (the sessions' handover), then ends the server.
    """
    tune_garbage_collector()
    server = pywsgi.WSGIServer((host, port), app, handler_class=Handler, log=None)
    if before_exit is None:
        server.serve_forever()
        return
    stopping: list[gevent.Greenlet] = []
    stopped = Event()

    def on_sigterm() -> None:
        if not stopping:
            stopping.append(gevent.spawn(_stop, server, before_exit, stopped))

    gevent.signal_handler(signal.SIGTERM, on_sigterm)
    server.start()  # not serve_forever, which returns as soon as the listener closes
    stopped.wait()


def _stop(server: pywsgi.WSGIServer, before_exit: Callable[[], None], stopped: Event) -> None:
    log.info("SIGTERM: no new connections; handing sessions over")
    server.close()  # the listener only: open connections go on until before_exit is done
    try:
        before_exit()
    except Exception:
        log.exception("handing sessions over failed")
    server.stop(timeout=1)
    log.info("stopped")
    stopped.set()


def tune_garbage_collector() -> None:
    """Keep CPython's cycle collector from pausing every game as sessions pile up.

    Each session keeps a few hundred container objects alive (its greenlet, socket, WSGI
    environ, Engine.IO and Socket.IO state), and a full collection walks every one of them,
    by default each time the heap has grown by a quarter: while 10,000 players connect that
    was about 20 full collections, the last over half a second with every session stalled,
    some 15 % of the server's CPU. So what start-up built is frozen out of the collector's
    reach, and the young generation is collected every 50,000 allocations instead of 700:
    full collections become rare. Reference counting still frees at once everything that
    is not in a cycle. PyPy's collector is another design, left as it is.
    """
    if platform.python_implementation() != "CPython":
        return
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, middle, old)
