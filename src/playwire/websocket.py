"""WebSocket framing and writes: frames built once, written by the event loop.

python-engineio serves a WebSocket with two greenlets per connection, one reading and one
writing, plus a third that sleeps until the next ping. The writer takes one packet at a time
off a queue, frames it and sends it with its own system call, so every packet costs a
greenlet switch, and a broadcast frames the same packet again for each recipient.

Here a packet is framed once (a broadcast shares the frame, :func:`websocket_frame`),
appended to its connection's :class:`Outbox`, and the event loop writes the whole outbox
with one non-blocking send as soon as the running greenlet yields: a burst to one client
leaves as one write. Only a connection whose client does not keep up, with its kernel buffer
full, gets a greenlet, for as long as its backlog lasts, so a slow client never holds up the
sender of a broadcast. Incoming frames are unmasked by :func:`unmask_payload`.

The Engine.IO socket that writes through an outbox, with pings as timers, is
:class:`playwire.upstream.engineio.EngineSocket` (it overrides python-engineio's); the patch
that makes gevent-websocket unmask with :func:`unmask_payload` is in
:mod:`playwire.upstream.geventwebsocket`.
"""

from __future__ import annotations

import contextlib
import logging
import socket as stdlib_socket
from typing import Optional

import gevent
from engineio import packet
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


def unmask_payload(header, payload: bytes) -> bytearray:
    """``payload`` XOR the header's 4-byte mask, repeated: the same as gevent-websocket's.

    Every frame a browser sends is XOR-masked, and gevent-websocket unmasks it one byte at a
    time in Python. Here the whole payload is XORed as one integer, which CPython does in C:
    for a typical 100-byte game message, about 20x less time per frame. UTF-8 validation, the
    other per-frame cost, is accelerated by ``wsaccel`` when it is installed (CPython), which
    gevent-websocket picks up by itself.
    """
    size = len(payload)
    key = (header.mask * (size // 4 + 1))[:size]
    unmasked = int.from_bytes(payload, "little") ^ int.from_bytes(key, "little")
    return bytearray(unmasked.to_bytes(size, "little"))
