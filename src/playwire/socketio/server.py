"""The Socket.IO server: Flask-SocketIO's, with two hooks Playwire's namespaces need.

python-socketio hides from an event handler whether its client asked for an
acknowledgement, yet SPEC §3 answers a failure as an ack when one was asked for and as an
``error`` event otherwise. And events emitted from a connect handler would reach the client
before its CONNECT packet. So for namespaces derived from
:class:`~playwire.socketio.base.PlaywireNamespace` this server

- dispatches events itself, telling the namespace whether an ack is expected, and skips
  Flask's per-event request context (handlers receive their session explicitly);
- calls the namespace back once a connection is accepted, to send ``presence`` and the like.

Under gevent its Engine.IO server is an :class:`~playwire.socketio.transport.EngineServer`,
whose WebSocket writes cost no greenlet.

These hooks override private methods of python-socketio 5.18.1; the version is pinned and
the test suite covers every path.
"""

from __future__ import annotations

from typing import Any

import socketio as python_socketio
from engineio.payload import Payload
from flask_socketio import SocketIO
from socketio import packet

from playwire.socketio.transport import EngineServer


class JsonPacket(packet.Packet):
    """A Socket.IO packet that never carries binary attachments.

    Event data is JSON by contract (binary data from a client is refused as
    ``invalid_payload``), so the scan python-socketio makes of every outgoing payload, looking
    for bytes to send as attachments, is wasted work on the relay's hot path. Incoming binary
    packets are still decoded, so that they can be refused properly.
    """

    uses_binary_events = False


class PlaywireServer(python_socketio.Server):
    def _playwire_namespace(self, namespace: str | None) -> Any:
        handler = self.namespace_handlers.get(namespace or "/")
        return handler if hasattr(handler, "dispatch") else None

    def _handle_event_internal(self, server, sid, eio_sid, data, namespace, id):
        handler = self._playwire_namespace(namespace)
        if handler is None:
            return super()._handle_event_internal(server, sid, eio_sid, data, namespace, id)
        reply = handler.dispatch(sid, data[0], data[1:], wants_ack=id is not None)
        if id is not None:
            ack = self.packet_class(packet.ACK, namespace=namespace, id=id, data=[reply])
            server._send_packet(eio_sid, ack)
        return None

    def _handle_connect(self, eio_sid, namespace, data):
        super()._handle_connect(eio_sid, namespace, data)
        handler = self._playwire_namespace(namespace)
        if handler is not None:
            sid = self.manager.sid_from_eio_sid(eio_sid, namespace or "/")
            if sid is not None and self.manager.is_connected(sid, namespace or "/"):
                handler.accepted(sid)


class PlaywireSocketIO(SocketIO):
    """Flask-SocketIO whose server is a :class:`PlaywireServer`."""

    def init_app(self, app, **kwargs: Any) -> None:
        max_poll_packets = kwargs.pop("max_poll_packets", None)
        super().init_app(app, **kwargs)
        # Flask-SocketIO builds a plain python-socketio Server; PlaywireServer only adds
        # method overrides, so retyping the instance is safe and keeps Flask-SocketIO's wiring.
        self.server.__class__ = PlaywireServer
        if self.server.eio.async_mode == "gevent":
            self.server.eio.__class__ = EngineServer
        if max_poll_packets is not None:
            # python-engineio drops a whole POST of more than 16 packets while answering 200,
            # and browsers batch a burst of emits into one POST. Process-wide by design.
            Payload.max_decode_packets = max_poll_packets
