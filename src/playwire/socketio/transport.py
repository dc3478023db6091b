"""Engine.IO's sockets, with WebSocket writes done by the event loop.

python-engineio serves a WebSocket with two greenlets per connection, one reading and one
writing, plus a third that sleeps until the next ping. The writer takes one packet at a time
off a queue, frames it and sends it with its own system call, so every packet costs a
greenlet switch, and a broadcast frames the same packet again for each recipient.

Here a packet is framed once (a broadcast shares the frame), appended to its connection's
:class:`Outbox`, and the event loop writes the whole outbox with one non-blocking send as
soon as the running greenlet yields: a burst to one client leaves as one write. Only a
connection whose client does not keep up, with its kernel buffer full, gets a greenlet, for
as long as its backlog lasts, so a slow client never holds up the sender of a broadcast.
Pings are timers, not sleeping greenlets. An idle WebSocket connection thus holds one
greenlet, its reader, instead of three.

:class:`EngineServer` and :class:`EngineSocket` override methods of python-engineio
4.15.1's ``Server`` and ``Socket`` (pinned), keeping the protocol, the upgrade from
long-polling included; ``PlaywireSocketIO`` retypes its Engine.IO server to
:class:`EngineServer`. Long-polling connections use Engine.IO's queue unchanged.
"""

from __future__ import annotations

import contextlib
import logging
import socket as stdlib_socket
import time
from typing import Optional

import engineio
import gevent
from engineio import exceptions, packet
from engineio.socket import Socket
from geventwebsocket.websocket import Header, WebSocket

log = logging.getLogger(__name__)


def websocket_frame(pkt: packet.Packet) -> bytes:
    """The packet as one unmasked WebSocket frame, built once per packet object."""
    frame = pkt.__dict__.get("websocket_frame")
    if frame is None:
        payload = pkt.encode()
        if pkt.binary:
            opcode, body = WebSocket.OPCODE_BINARY, bytes(payload)
        else:
            opcode, body = WebSocket.OPCODE_TEXT, payload.encode()
        frame = Header.encode_header(True, opcode, b"", len(body), 0) + body
        pkt.websocket_frame = frame
    return frame


class Outbox:
    """The frames waiting for one WebSocket connection, written by the event loop.

    :meth:`put` never blocks and never switches greenlets, so it is safe anywhere, even in
    the middle of a broadcast. Frames leave in the order they were put.
    """

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self.socket = websocket.handler.socket  # gevent's socket: sendall waits cooperatively
        self._send_without_waiting = self.socket._sock.send  # the OS socket, non-blocking
        self.frames: list[bytes] = []
        self.flush_scheduled = False
        self.backlog: Optional[gevent.Greenlet] = None
        self.closing = False
        self.broken = False

    def put(self, frame: bytes) -> None:
        if self.closing or self.broken:
            return
        self.frames.append(frame)
        if not self.flush_scheduled and self.backlog is None:
            self.flush_scheduled = True
            _due_for_writing.add(self)

    def close(self, wait: bool) -> None:
        """Write what is pending, then the closing handshake; nothing is sent after it."""
        if self.closing:
            if wait and self.backlog is not None:
                self.backlog.join()
            return
        self.closing = True
        if self.backlog is None:
            self._write_what_fits()
        if self.backlog is None:
            self._close_websocket()
        elif wait:
            self.backlog.join()

    def _flush(self) -> None:
        """Runs in the event loop, so it must not block: what does not fit goes to a greenlet."""
        self.flush_scheduled = False
        if self.backlog is not None or self.closing:
            return
        self._write_what_fits()

    def _write_what_fits(self) -> None:
        """Send what the kernel takes now; a backlog greenlet waits to send the rest."""
        self._write_now()
        if self.frames:
            self.backlog = gevent.spawn(self._write_backlog)

    def _write_now(self) -> None:
        """Send as much of the outbox as the kernel takes without waiting."""
        if not self.frames or self.broken:
            return
        data = b"".join(self.frames)
        self.frames.clear()
        try:
            sent = self._send_without_waiting(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            self._break()
            return
        if sent < len(data):
            self.frames.append(data[sent:])

    def _write_backlog(self) -> None:
        """A client that does not keep up: wait for its socket, in a greenlet of its own."""
        try:
            while self.frames and not self.broken:
                data = b"".join(self.frames)
                self.frames.clear()
                self.socket.sendall(data)
        except OSError:
            self._break()
        finally:
            self.backlog = None
        if self.closing:
            self._close_websocket()

    def _close_websocket(self) -> None:
        if not self.broken:
            self.websocket.close()  # gevent-websocket swallows a failed closing frame

    def _break(self) -> None:
        """The connection failed: drop what is pending and wake the reader, which ends it."""
        self.broken = True
        self.frames.clear()
        with contextlib.suppress(OSError):
            self.socket._sock.shutdown(stdlib_socket.SHUT_RDWR)


class _DueForWriting:
    """The outboxes with frames to write, all written in one event-loop callback per turn
    (a broadcast to 200 sessions schedules one callback, not 200)."""

    def __init__(self) -> None:
        self.outboxes: list[Outbox] = []

    def add(self, outbox: Outbox) -> None:
        if not self.outboxes:
            gevent.get_hub().loop.run_callback(self._write_all)
        self.outboxes.append(outbox)

    def _write_all(self) -> None:
        outboxes, self.outboxes = self.outboxes, []
        for outbox in outboxes:
            try:
                outbox._flush()
            except Exception:  # one connection's failure must not stall the others' writes
                log.exception("writing to a WebSocket failed")
                outbox._break()


_due_for_writing = _DueForWriting()


class EngineSocket(Socket):
    """An Engine.IO socket whose WebSocket transport writes through an :class:`Outbox`."""

    outbox: Optional[Outbox] = None
    ping_timer = None

    def send(self, pkt: packet.Packet) -> None:
        outbox = self.outbox
        if outbox is None:
            super().send(pkt)
        elif self.check_ping_timeout():
            outbox.put(websocket_frame(pkt))

    def close(self, wait: bool = True, abort: bool = False, reason: Optional[str] = None) -> None:
        outbox = self.outbox
        if outbox is None:
            super().close(wait=wait, abort=abort, reason=reason)
            return
        if self.closed or self.closing:
            return
        # Engine.IO's own close, minus its queue: the writer it would wake is the outbox.
        self.closing = True
        self.server._trigger_event(
            "disconnect", self.sid, reason or self.server.reason.SERVER_DISCONNECT, run_async=False
        )
        if not abort:
            self.send(packet.Packet(packet.CLOSE))
        self.closed = True
        self._stop_pings()
        outbox.close(wait)

    def schedule_ping(self) -> None:
        if self.last_ping:
            self.last_ping = None
            self.ping_timer = gevent.get_hub().loop.timer(self.server.ping_interval)
            self.ping_timer.start(self._ping_due)

    def _ping_due(self) -> None:
        self._stop_pings()
        # In a greenlet: a ping may find the socket timed out, and closing runs handlers.
        self.server.start_background_task(self._send_ping_now)

    def _send_ping_now(self) -> None:
        if not self.closing and not self.closed:
            self.last_ping = time.time()
            self.send(packet.Packet(packet.PING))

    def _stop_pings(self) -> None:
        if self.ping_timer is not None:
            self.ping_timer.close()
            self.ping_timer = None

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
        self._attach_outbox(Outbox(websocket))
        self._read_packets(ws)
        self.outbox.close(wait=True)
        self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_CLOSE)
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
                outbox.put(websocket_frame(pkt))
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
        """Receive until the client goes, as Engine.IO does."""
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
                self.receive(packet.Packet(encoded_packet=data))
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

    def _trigger_event(self, event: str, *args, **kwargs):
        if event == "connect":
            # The socket exists and nothing was scheduled for it yet: not even the first ping.
            self.sockets[args[0]].__class__ = EngineSocket
        return super()._trigger_event(event, *args, **kwargs)

    def send_packet(self, sid: str, pkt: packet.Packet) -> None:
        """Every emit and ack ends here: a WebSocket's goes straight into its outbox.

        This skips the per-packet ping-timeout check of ``Socket.send``; the server's
        service task still closes timed-out sockets.
        """
        socket = self.sockets.get(sid)
        outbox = getattr(socket, "outbox", None)
        if outbox is None or socket.closed:
            super().send_packet(sid, pkt)
        else:
            outbox.put(websocket_frame(pkt))
