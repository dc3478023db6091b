"""The HTTP server: gevent's WSGI server with WebSocket support, tuned for small messages."""

from __future__ import annotations

from flask import Flask
from gevent import pywsgi

from playwire.upstream.geventwebsocket import Handler


def serve(app: Flask, host: str, port: int) -> None:
    """Serve ``app`` (HTTP, long-polling and WebSocket) until the process is stopped.

    Its handler sets TCP_NODELAY on long-polling requests only (see
    :class:`~playwire.upstream.geventwebsocket.Handler`).
    """
    pywsgi.WSGIServer((host, port), app, handler_class=Handler, log=None).serve_forever()
