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

What waits for one connection is capped (``--max-outbox``): a connection whose unsent bytes
pass the cap is dropped, so a client that stops reading costs at most that much memory and
nobody else waits for it. A frame tagged for keep-latest (:mod:`playwire.keep_latest`)
removes the unsent frame with the same tag and is appended: what a client receives is
always a subsequence, in order, of what was sent to it.

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

#: The cap when none was configured.
DEFAULT_MAX_OUTBOX = 1_048_576
#: Blanked frames an outbox tolerates before it squeezes them out.
COMPACT_AFTER = 64


def log_overflow(sid: str, size: int, limit: int) -> None:
    log.warning("session %s disconnected: %d bytes unsent, over --max-outbox %d", sid, size, limit)


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

    def __init__(
        self, websocket: WebSocket, sid: str = "", limit: int = DEFAULT_MAX_OUTBOX
    ) -> None:
        self.websocket = websocket
        self.socket = websocket.handler.socket  # gevent's socket: sendall waits cooperatively
        self._send_without_waiting = self.socket._sock.send  # the OS socket, non-blocking
        self.sid = sid
        self.limit = limit
        self.frames: list[bytes] = []
        #: Bytes not yet sent: those in ``frames`` plus those a backlog greenlet is sending.
        self.size = 0
        #: Keep-latest tag → index in ``frames`` of the unsent frame that carries it.
        self.latest: dict[tuple, int] = {}
        self.blanks = 0  # frames replaced by a newer one with their tag, left as b""
        self.flush_scheduled = False
        self.backlog: Optional[gevent.Greenlet] = None
        self.closing = False
        self.broken = False
        self.overflowed = False

    def put(self, frame: bytes, latest: Optional[tuple] = None) -> None:
        if self.closing or self.broken:
            return
        self.frames.append(frame)
        self.size += len(frame)
        if latest is not None:
            self._keep_latest(latest)
        if self.size > self.limit:
            log_overflow(self.sid, self.size, self.limit)
            self.overflowed = True
            self._break()  # the reader wakes up and ends the session
            return
        if not self.flush_scheduled and self.backlog is None:
            self.flush_scheduled = True
            _due_for_writing.add(self)

    def _keep_latest(self, latest: tuple) -> None:
        """The frame just appended carries ``latest``: blank the unsent one with that tag,
        if any. Blanks are squeezed out once they are most of the outbox, so that replacing
        costs O(1) and no unbounded memory."""
        index = self.latest.get(latest)
        self.latest[latest] = len(self.frames) - 1
        if index is None:
            return
        self.size -= len(self.frames[index])
        self.frames[index] = b""
        self.blanks += 1
        if self.blanks > COMPACT_AFTER and self.blanks * 2 > len(self.frames):
            self._squeeze_blanks()

    def _squeeze_blanks(self) -> None:
        moved, kept = {}, []
        for index, frame in enumerate(self.frames):
            if frame:
                moved[index] = len(kept)
                kept.append(frame)
        self.frames = kept
        self.latest = {tag: moved[index] for tag, index in self.latest.items()}
        self.blanks = 0

    def _take_frames(self) -> bytes:
        """Everything unsent as one block; no tag can be replaced once it leaves ``frames``."""
        data = b"".join(self.frames)
        self.frames.clear()
        self.latest.clear()
        self.blanks = 0
        return data

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
        data = self._take_frames()
        try:
            sent = self._send_without_waiting(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            self._break()
            return
        self.size -= sent
        if sent < len(data):
            self.frames.append(data[sent:])

    def _write_backlog(self) -> None:
        """A client that does not keep up: wait for its socket, in a greenlet of its own."""
        try:
            while self.frames and not self.broken:
                data = self._take_frames()
                self.socket.sendall(data)
                self.size -= len(data)
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
        self.latest.clear()
        self.blanks = 0
        self.size = 0
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
