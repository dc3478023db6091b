"""Overrides of python-socketio 5.18.1's Admin UI instrumentation (pinned), made to see
Playwire's namespaces.

:class:`PlaywireInstrumentedServer` subclasses ``InstrumentedServer``. Its own patches miss
what Playwire does differently: events of Playwire namespaces are dispatched by
``PlaywireServer._handle_event_internal``, not ``_trigger_event``; class-based namespaces sit
in ``namespace_handlers``, which ``server_stats`` does not list; and WebSocket packets go
through an ``Outbox`` and ``EngineSocket._receive``, not the ``ws.send``/``ws.wait`` it wraps.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

from socketio.admin import HOSTNAME, PID, InstrumentedServer

from playwire import websocket
from playwire.upstream import engineio

#: The upstream code these overrides copy or depend on, and its fingerprint (see
#: :func:`playwire.upstream.changed`).
UPSTREAM = {
    "socketio.admin:InstrumentedServer.instrument": "60abe916d05a2ef5",
    "socketio.admin:InstrumentedServer._emit_server_stats": "f6d47f8c48f992b6",
    "socketio.admin:InstrumentedServer._trigger_event": "49bedfe104162112",
}


class PlaywireInstrumentedServer(InstrumentedServer):
    # Extends InstrumentedServer.instrument of python-socketio 5.18.1: it patches the server
    # as upstream does, then where Playwire's server and transport bypass those patches.
    def instrument(self) -> None:
        super().instrument()
        if self.mode == "development":
            self._report_dispatched_events()
        self._count_websocket_packets()

    def _report_dispatched_events(self) -> None:
        """``event_received`` for the events PlaywireServer dispatches itself."""
        handle = self.sio._handle_event_internal
        admin_namespace = self.admin_namespace

        def handle_and_report(server, sid, eio_sid, data, namespace, id):
            # Other namespaces' events go through _trigger_event, which reports them.
            if server._playwire_namespace(namespace) is not None:
                stamp = datetime.now(timezone.utc).isoformat()
                self.sio.emit(
                    "event_received", (namespace, sid, data, stamp), namespace=admin_namespace
                )
            return handle(server, sid, eio_sid, data, namespace, id)

        self.sio._handle_event_internal = handle_and_report

    def _count_websocket_packets(self) -> None:
        """packetsIn/Out and bytesIn/Out for WebSockets served through an Outbox."""
        buffer = self.event_buffer
        receive = engineio.EngineSocket._receive
        put = websocket.Outbox.put

        def counted_receive(socket, ws):
            data = receive(socket, ws)
            buffer.push("packetsIn")
            buffer.push("bytesIn", len(data or ""))
            return data

        def counted_put(outbox, frame, latest=None):
            buffer.push("packetsOut")
            buffer.push("bytesOut", len(frame))
            return put(outbox, frame, latest)

        engineio.EngineSocket._receive = counted_receive
        websocket.Outbox.put = counted_put

    # Replaces InstrumentedServer._emit_server_stats of python-socketio 5.18.1: the same loop,
    # listing class-based namespaces (namespace_handlers) too.
    def _emit_server_stats(self) -> None:
        start_time = time.time()
        namespaces = sorted({*self.sio.handlers, *self.sio.namespace_handlers})
        while not self.stop_stats_event.is_set():
            self.sio.sleep(self.server_stats_interval)
            self.sio.emit("server_stats", self._server_stats(start_time, namespaces),
                          namespace=self.admin_namespace)  # fmt: skip

    def _server_stats(self, start_time: float, namespaces: list[str]) -> dict[str, Any]:
        sockets = self.sio.eio.sockets
        rooms = self.sio.manager.rooms
        return {
            "serverId": self.server_id,
            "hostname": HOSTNAME,
            "pid": PID,
            "uptime": time.time() - start_time,
            "clientsCount": len(sockets),
            "pollingClientsCount": len([s for s in sockets.values() if not s.upgraded]),
            "aggregatedEvents": self.event_buffer.get_and_clear(),
            "namespaces": [
                {"name": name, "socketsCount": len(rooms.get(name, {}).get(None, ()))}
                for name in namespaces
            ],
        }
