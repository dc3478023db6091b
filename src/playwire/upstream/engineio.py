"""Overrides of python-engineio 4.15.1 (pinned): WebSocket sockets written by the event loop.

:class:`EngineServer` (the Engine.IO server of :class:`~playwire.upstream.socketio.PlaywireServer`)
serves its sockets as :class:`EngineSocket` objects, whose WebSocket transport writes through
a :class:`~playwire.websocket.Outbox` instead of a writer greenlet and whose pings are
timers instead of sleeping greenlets: an idle WebSocket connection holds one greenlet, its
reader, instead of three. The protocol is Engine.IO's, the upgrade from long-polling
included. Long-polling connections use Engine.IO's queue, under the outbox's two rules:
past ``--max-outbox`` unsent bytes the connection is closed, and a keep-latest packet
removes the queued one with the same tag before it is queued (a scan of the queue, which a
long-polling client empties at each request). A packet or POST the server cannot decode
closes that client's connection, logged as a warning, not as the server's error.
"""

from __future__ import annotations

import logging
import time
from typing import Callable, Optional

import engineio
import gevent
from engineio import exceptions, packet
from engineio.payload import Payload
from engineio.socket import Socket
from geventwebsocket.websocket import WebSocket

from playwire.keep_latest import Tagged, latest_of
from playwire.websocket import DEFAULT_MAX_OUTBOX, Outbox, log_overflow, websocket_frame

log = logging.getLogger(__name__)

#: The disconnect reason of a session dropped by ``--max-outbox`` (metrics count it).
OUTBOX_FULL = "outbox full"

#: The upstream code these overrides copy or depend on, and its fingerprint (see
#: :func:`playwire.upstream.changed`).
UPSTREAM = {
    "engineio.server:Server._handle_connect": "80eeebd591ab7d50",
    "engineio.server:Server._trigger_event": "ff535f989ff283e9",
    "engineio.server:Server.send_packet": "877479033668fc7e",
    "engineio.socket:Socket.check_ping_timeout": "dc3c2335410ce2d4",
    "engineio.socket:Socket.send": "add5df2eafdaeba6",
    "engineio.socket:Socket.close": "45bbdca61c81338d",
    "engineio.socket:Socket.schedule_ping": "ad28edec571600f6",
    "engineio.socket:Socket._send_ping": "8239008968c03f48",
    "engineio.socket:Socket._websocket_handler": "613e11f7821225c9",
    "engineio.socket:Socket.poll": "cebc43071d6d3b76",
    "engineio.socket:Socket.handle_post_request": "2803b6d94a5d1ed8",
    "engineio.server:Server.handle_request": "f2ee31fb35a83b47",
    "engineio.payload:Payload.max_decode_packets": "62c59f92cd72c21c",
    "engineio.payload:Payload.decode": "e72f56f7a61b9a99",
}


def allow_poll_packets(count: int) -> None:
    """Let one long-polling POST carry up to ``count`` packets.

    Replaces Payload.max_decode_packets (16) of python-engineio 4.15.1, which drops a whole
    POST of more packets while answering 200; browsers batch a burst of emits into one POST.
    Process-wide by design.
    """
    Payload.max_decode_packets = count


class EngineSocket(Socket):
    """An Engine.IO socket whose WebSocket transport writes through an :class:`Outbox`."""

    outbox: Optional[Outbox] = None
    ping_timer = None
    #: Long-polling: bytes of the packets in Engine.IO's queue, and their keep-latest tags.
    queued_bytes = 0
    overflowing = False
    _queued_latest: Optional[dict] = None

    # Replaces Socket.send of python-engineio 4.15.1: on a WebSocket the frame goes into the
    # outbox (built once per packet) instead of the writer greenlet's queue; on long-polling
    # into Engine.IO's queue, counted and capped; unlogged.
    def send(self, pkt: packet.Packet) -> None:
        outbox = self.outbox
        if outbox is None:
            self._queue_for_polling(pkt, latest_of(pkt))
        elif self.check_ping_timeout():
            data = pkt.data  # latest_of(pkt), inlined: this runs for every recipient
            outbox.put(websocket_frame(pkt), data.latest if type(data) is Tagged else None)

    def _queue_for_polling(self, pkt: packet.Packet, latest: Optional[tuple]) -> None:
        if self.overflowing or not self.check_ping_timeout():
            return
        if latest is not None:
            self._drop_queued(pkt, latest)
        self.queued_bytes += len(pkt.encode())  # Engine.IO caches the encoding it sends
        limit = self.server.max_outbox
        if self.queued_bytes > limit:
            log_overflow(self.sid, self.queued_bytes, limit)
            self.overflowing = True
            # Not here: this may be the middle of a broadcast, and closing runs handlers.
            self.server.start_background_task(self.close, wait=False, reason=OUTBOX_FULL)
            return
        self.queue.put(pkt)

    def _drop_queued(self, pkt: packet.Packet, latest: tuple) -> None:
        """Take the queued packet tagged ``latest`` out of the queue, if it is still there."""
        if self._queued_latest is None:
            self._queued_latest = {}
        old = self._queued_latest.get(latest)
        self._queued_latest[latest] = pkt
        if old is None:
            return
        try:
            self.queue.queue.remove(old)  # gevent's Queue keeps its items in a deque
        except ValueError:
            return  # already taken by a poll
        self.queue.task_done()  # the queue counts unfinished items; this one never will be
        self.queued_bytes -= len(old.encode())

    # Extends Socket.poll of python-engineio 4.15.1: what it returns is no longer queued.
    def poll(self) -> list:
        packets = super().poll()
        self.queued_bytes = max(0, self.queued_bytes - sum(len(p.encode()) for p in packets))
        if self._queued_latest:
            self._queued_latest.clear()
        return packets

    # Extends Socket.handle_post_request of python-engineio 4.15.1. On a bad packet, its
    # Server.handle_request answers 400 after Server.disconnect, which waits until the client
    # fetched its CLOSE packet: a client sending garbage may never poll again, and its POST
    # (and a greenlet) hangs meanwhile. A body it cannot decode (not UTF-8, bad base64, an
    # empty packet, more than --max-poll-packets) it logs as its error and answers 200.
    # Here both close the socket at once and answer 400.
    def handle_post_request(self, environ) -> None:
        try:
            super().handle_post_request(environ)
        except (exceptions.EngineIOError, ValueError) as exc:
            log.warning("closing %s: bad long-polling POST (%r)", self.sid, exc)
            self.close(wait=False, reason=self.server.reason.TRANSPORT_ERROR)
            raise exceptions.EngineIOError("bad long-polling POST") from exc

    # Replaces Socket.close of python-engineio 4.15.1 on a WebSocket: its body, minus the
    # queue whose writer it would wake; the outbox writes what is pending, then closes.
    def close(self, wait: bool = True, abort: bool = False, reason: Optional[str] = None) -> None:
        outbox = self.outbox
        if outbox is None:
            super().close(wait=wait, abort=abort, reason=reason)
            return
        if self.closed or self.closing:
            return
        self.closing = True
        self.server._trigger_event(
            "disconnect", self.sid, reason or self.server.reason.SERVER_DISCONNECT, run_async=False
        )
        if not abort:
            self.send(packet.Packet(packet.CLOSE))
        self.closed = True
        self._stop_pings()
        outbox.close(wait)

    # Replaces Socket.schedule_ping and _send_ping of python-engineio 4.15.1: a timer of the
    # event loop instead of a greenlet sleeping a ping interval per connection.
    def schedule_ping(self) -> None:
        if self.last_ping:  # the pong of the ping sent at last_ping
            self.last_ping = None
            self.server.ping_answered(self.sid, True)
            self.ping_timer = gevent.get_hub().loop.timer(self.server.ping_interval)
            self.ping_timer.start(self._ping_due)

    def _ping_due(self) -> None:
        self._stop_pings()
        # In a greenlet: a ping may find the socket timed out, and closing runs handlers.
        self.server.start_background_task(self._send_ping_now)

    def _send_ping_now(self) -> None:
        if not self.closing and not self.closed:
            self.last_ping = time.time()
            self.server.ping_answered(self.sid, False)
            self.send(packet.Packet(packet.PING))

    def _stop_pings(self) -> None:
        if self.ping_timer is not None:
            self.ping_timer.close()
            self.ping_timer = None

    # Replaces Socket._websocket_handler of python-engineio 4.15.1 (its upgrade handshake and
    # read loop copied below): no writer greenlet, the connection's outbox writes instead.
    def _websocket_handler(self, ws) -> list:
        """Engine.IO's WebSocket session (upgrade included), written through an outbox."""
        websocket = getattr(ws, "_sock", None)
        if not isinstance(websocket, WebSocket):
            return super()._websocket_handler(ws)
        if self.connected:
            if not self._upgrade(ws):
                return []
        else:
            self.connected = True
            self.upgraded = True
        self._attach_outbox(Outbox(websocket, self.sid, self.server.max_outbox))
        self._read_packets(ws)
        self.outbox.close(wait=True)
        reason = OUTBOX_FULL if self.outbox.overflowed else self.server.reason.TRANSPORT_CLOSE
        self.close(wait=False, abort=True, reason=reason)
        return []

    def _attach_outbox(self, outbox: Outbox) -> None:
        """Move what Engine.IO queued (OPEN, say) into the outbox, then send through it.

        Nothing here yields to another greenlet, so no packet can overtake the queued ones.
        """
        while True:
            try:
                pkt = self.queue.get(block=False)
            except self.server.get_queue_empty_exception():
                break
            self.queue.task_done()
            if pkt is not None:
                outbox.put(websocket_frame(pkt), latest_of(pkt))
        self.outbox = outbox

    def _upgrade(self, ws) -> bool:
        """Engine.IO's upgrade handshake from long-polling (its probe, then UPGRADE)."""
        self.upgrading = True  # hold packet sends during the upgrade
        probe = packet.Packet(encoded_packet=self._receive(ws))
        if probe.packet_type != packet.PING or probe.data != "probe":
            self.upgrading = False
            return False
        ws.send(packet.Packet(packet.PONG, data="probe").encode())
        self.queue.put(packet.Packet(packet.NOOP))  # ends the pending long-poll
        upgrade = packet.Packet(encoded_packet=self._receive(ws))
        self.upgrading = False
        if upgrade.packet_type != packet.UPGRADE:
            self.upgraded = False
            return False
        self.upgraded = True
        return True

    def _read_packets(self, ws) -> None:
        """Receive until the client goes, as Engine.IO does; a packet that cannot be
        decoded closes the connection (the client's fault, so not logged as an error)."""
        while True:
            try:
                data = self._receive(ws)
            except Exception as exc:
                if not self.closed:
                    self.server.logger.info("%s: Unexpected error %r, closing", self.sid, exc)
                return
            if data is None:
                return
            try:
                pkt = packet.Packet(encoded_packet=data)
            except (ValueError, TypeError) as exc:
                log.warning("closing %s: bad Engine.IO packet (%r)", self.sid, exc)
                return
            try:
                self.receive(pkt)
            except exceptions.UnknownPacketError:
                pass
            except exceptions.SocketIsClosedError:
                return
            except Exception:
                self.server.logger.exception("Unknown receive error")
                return

    def _receive(self, ws) -> Optional[str | bytes]:
        data = ws.wait()
        if data and len(data) > self.server.max_http_buffer_size:
            raise ValueError("packet is too large")
        return data


class EngineServer(engineio.Server):
    """python-engineio's server, serving its sockets as :class:`EngineSocket` objects."""

    #: Unsent bytes beyond which a connection is closed (``--max-outbox``).
    max_outbox = DEFAULT_MAX_OUTBOX
    #: Told ``(sid, False)`` as a ping is sent to a socket and ``(sid, True)`` when its pong
    #: comes back: what was sent before the ping has been read (connection state recovery
    #: keeps less, :class:`~playwire.upstream.socketio.PlaywireServer`).
    ping_listener: Optional[Callable[[str, bool], None]] = None

    def ping_answered(self, sid: str, answered: bool) -> None:
        if self.ping_listener is not None:
            self.ping_listener(sid, answered)

    # Extends Server._trigger_event of python-engineio 4.15.1: _handle_connect builds a plain
    # Socket (no seam for its class) and fires "connect" before scheduling anything on it.
    def _trigger_event(self, event: str, *args, **kwargs):
        if event == "connect":
            self.sockets[args[0]].__class__ = EngineSocket
        return super()._trigger_event(event, *args, **kwargs)
