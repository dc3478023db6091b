"""Overrides of gevent-websocket 0.10.1 (pinned): frame unmasking and TCP_NODELAY.

Also fingerprinted here: the internals of gevent-websocket and gevent 26.7.0 (pinned) that
:class:`playwire.websocket.Outbox` writes through.
"""

from __future__ import annotations

import socket

from geventwebsocket.handler import WebSocketHandler
from geventwebsocket.websocket import Header

from playwire.websocket import unmask_payload

#: The upstream code these overrides copy or depend on, and its fingerprint (see
#: :func:`playwire.upstream.changed`).
UPSTREAM = {
    "geventwebsocket.websocket:Header.mask_payload": "f18106ad71738e81",
    "geventwebsocket.websocket:Header.unmask_payload": "dbef3bea0fe7dd3c",
    "geventwebsocket.websocket:Header.encode_header": "2b8109a78d9b2817",
    "geventwebsocket.handler:WebSocketHandler.run_application": "b3d63aaa4a855c7e",
    # What playwire.websocket.Outbox relies on: the handler's gevent socket, its OS socket
    # (`_sock`, non-blocking, written without waiting) and the closing handshake.
    "geventwebsocket.websocket:WebSocket.__init__": "74ad61ed7b3c8781",
    "geventwebsocket.websocket:WebSocket.close": "88b98d94de07858a",
    "gevent._socket3:socket.__init__": "4b202b75d5fa9af7",
}


def install_unmasking() -> None:
    """Make gevent-websocket unmask every incoming frame with :func:`unmask_payload`."""
    # Replaces Header.mask_payload and Header.unmask_payload of gevent-websocket 0.10.1,
    # which XOR a payload byte by byte in Python: unmask_payload does it as one integer.
    Header.mask_payload = unmask_payload
    Header.unmask_payload = unmask_payload


class Handler(WebSocketHandler):
    """Sends a long-polling response at once; lets WebSocket frames coalesce.

    A long-polling exchange is one small response per request: with Nagle's algorithm on,
    each waits for the peer's delayed ACK, about 40 ms. A WebSocket carrying a burst (a chat
    message to hundreds of sessions) is better off with Nagle: measured here, TCP_NODELAY on
    WebSockets cut chat fan-out from about 192,000 to 128,000-160,000 deliveries/s, while the
    latency of a lone message is not delayed (Nagle holds data back only while earlier data
    is unacknowledged).
    """

    # Extends WebSocketHandler.run_application of gevent-websocket 0.10.1: TCP_NODELAY on
    # a request that is not a WebSocket upgrade (long-polling answers at once).
    def run_application(self):
        if self.environ.get("HTTP_UPGRADE", "").lower() != "websocket":
            self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().run_application()
