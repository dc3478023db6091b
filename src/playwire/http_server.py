"""The HTTP server: gevent's WSGI server with WebSocket support, tuned for small messages."""

from __future__ import annotations

import socket

from flask import Flask
from gevent import pywsgi
from geventwebsocket.handler import WebSocketHandler


class NoDelayHandler(WebSocketHandler):
    """Sends small writes at once instead of waiting for the peer's delayed ACK.

    Without TCP_NODELAY every long-polling round trip of a small message waits about 40 ms
    (Nagle's algorithm meeting delayed ACKs); game messages are all small.
    """

    def __init__(self, sock, address, server, rfile=None):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().__init__(sock, address, server, rfile)


def serve(app: Flask, host: str, port: int) -> None:
    """Serve ``app`` (HTTP, long-polling and WebSocket) until the process is stopped."""
    pywsgi.WSGIServer((host, port), app, handler_class=NoDelayHandler, log=None).serve_forever()
