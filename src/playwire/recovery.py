"""Connection state recovery, free of any transport (docs/protocol.md, "Reconnecting
without losing a message").

Socket.IO's official client (4.6 and later) recovers a dropped session by itself: the
server's CONNECT packet gives it a private session id ``pid``, every event it stores for the
session carries a string *offset* as its last argument, and the client, reconnecting, sends
``{pid, offset}`` (the last offset it received) in its CONNECT auth. The server then reuses
the session's ``sid`` and replays what came after that offset.

A :class:`SessionLog` is what one session was sent: the last ``--recovery-max-events``
events, each with its offset, kept while the session is connected (a dropped connection may
have lost what was in flight) and while it is held after a drop. Offsets come from one
process-wide :class:`Offsets` counter, so a broadcast stamps one offset shared by all its
recipients and is encoded once. On a cluster, an event published for every node carries the
offset its publisher gave it, so each node stamps it alike: an offset names one event
cluster-wide, which is how a session moving between nodes gets each event once
(:mod:`playwire.socketio.handover`).
"""

from __future__ import annotations

import itertools
import secrets
from collections import deque
from typing import Any, Callable, Optional

#: Engine.IO disconnect reasons after which a session is held for recovery. An Engine.IO
#: CLOSE from the client (``client disconnect`` there) counts too: socket.io-client closes its
#: transport that way without leaving the namespace (``socket.io.engine.close()``), as Node's
#: server, which calls it ``transport close``, recovers it. A Socket.IO DISCONNECT packet
#: (the client's ``disconnect()``) and the server's own ``server disconnect`` do not hold.
HOLDING_REASONS = frozenset(
    {
        "transport close",
        "transport error",
        "ping timeout",
        "client disconnect",
        "outbox full",
        "server shutting down",
    }
)


class Offsets:
    """Unique offsets: a counter, prefixed with a tag of this process so that the offsets of
    two nodes never meet in one session's log after a handover."""

    def __init__(self) -> None:
        self._prefix = secrets.token_hex(3) + "."
        self._counter = itertools.count(1)

    def next(self) -> str:
        return f"{self._prefix}{next(self._counter):x}"


class SessionLog:
    """The recent events of one session, kept for replay; and whether it is held.

    ``entries`` holds ``(offset, packet)`` pairs, oldest first: the last ``limit`` events
    and the one before them (whose offset a client may reconnect with). Once an older one
    falls out, a client whose offset it was cannot be recovered, which :meth:`since` says
    rather than replaying part of what it missed.
    """

    __slots__ = (
        "added",
        "entries",
        "held",
        "held_events",
        "held_until",
        "limit",
        "mark",
        "moving",
        "on_overflow",
        "pid",
        "timer",
    )

    def __init__(self, pid: str, limit: int) -> None:
        self.pid = pid
        self.limit = limit
        self.entries: deque[tuple[str, Any]] = deque(maxlen=limit + 1)
        #: Whether the session has no connection and waits to be recovered.
        self.held = False
        #: Events stored while held: past ``limit``, nothing the client had can be found.
        self.held_events = 0
        #: The end of the window (a timer of the event loop), while held.
        self.timer: Any = None
        #: Called (once) when a held session is sent more than ``limit`` events.
        self.on_overflow: Optional[Callable[[], None]] = None
        #: Entries ever added, and how many there were when the last ping was sent.
        self.added = 0
        self.mark: Optional[int] = None
        #: When the window ends (``time.monotonic()``), while held.
        self.held_until = 0.0
        #: While the session moves to another node: it must not end meanwhile.
        self.moving = False

    def add(self, entry: tuple[str, Any]) -> bool:
        """Keep ``(offset, packet)``, one tuple that every recipient of a broadcast shares (a
        session's log then costs one reference per event); return whether to send it now
        (False: the session is held)."""
        self.entries.append(entry)
        self.added += 1
        if not self.held:
            return True
        self.held_events += 1
        if self.held_events == self.limit + 1 and self.on_overflow is not None:
            self.on_overflow()
        return False

    def hold(
        self, timer: Any, on_overflow: Callable[[], None], until: float = 0.0, events: int = 0
    ) -> None:
        """Keep what comes without sending it, until ``until``; ``events`` were kept while
        held already (a session held on another node before it moved here)."""
        self.held, self.held_events, self.held_until = True, events, until
        self.timer, self.on_overflow = timer, on_overflow

    def release(self) -> None:
        """The session is connected again, or gone: stop its window."""
        if self.timer is not None:
            self.timer.close()
        self.held, self.timer, self.on_overflow = False, None, None

    def ping_sent(self) -> None:
        """A ping follows what was sent so far on the same ordered connection."""
        self.mark = self.added

    def pong_received(self) -> None:
        """The client answered the ping, so it has read everything sent before it: keep
        only the last of those (its offset is at least that one's) and what followed."""
        if self.mark is None:
            return
        first = self.added - len(self.entries)  # the number of the oldest entry kept
        for _ in range(self.mark - 1 - first):
            self.entries.popleft()
        self.mark = None

    def added_since(self, count: int) -> Optional[list[tuple[str, Any]]]:
        """The entries added since there were ``count``; None if some fell out already."""
        new = self.added - count
        if new > len(self.entries):
            return None
        return list(itertools.islice(self.entries, len(self.entries) - new, None))

    @property
    def overflowed(self) -> bool:
        return self.held_events > self.limit

    def since(self, offset: str) -> Optional[list[Any]]:
        """The packets after ``offset``, in order; None if ``offset`` is not kept (too old,
        or never sent here), so the session cannot be recovered."""
        entries = self.entries_since(offset)
        return None if entries is None else [packet for _, packet in entries]

    def entries_since(self, offset: Optional[str]) -> Optional[list[tuple[str, Any]]]:
        """The ``(offset, packet)`` entries after ``offset`` (all of them for None), as
        :meth:`since` finds them."""
        if self.overflowed:
            return None
        if offset is None:
            return list(self.entries)
        for index in range(len(self.entries) - 1, -1, -1):
            if self.entries[index][0] == offset:
                return list(itertools.islice(self.entries, index + 1, None))
        return None


def wants_recovery(auth: Any) -> bool:
    """Whether a client's CONNECT auth lets its session be recovered: anything but
    ``{"recovery": false}`` (what a client without recovery, python-socketio's, may send to
    get its events without offsets)."""
    return not (isinstance(auth, dict) and auth.get("recovery") is False)


def recovery_request(auth: Any) -> Optional[tuple[str, str]]:
    """``(pid, offset)`` if ``auth`` asks to recover a session, as socket.io-client does."""
    if not isinstance(auth, dict):
        return None
    pid, offset = auth.get("pid"), auth.get("offset")
    if isinstance(pid, str) and isinstance(offset, str):
        return pid, offset
    return None
