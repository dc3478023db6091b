"""Holding a dropped session and recovering it (docs/protocol.md, "Reconnecting without
losing a message"): a mixin of :class:`~playwire.socketio.base.PlaywireNamespace`.

A session that drops without leaving (see :data:`playwire.recovery.HOLDING_REASONS`) is
*held* for ``--recovery-window`` seconds: it stays in presence and in its rooms, and what is
sent to it is kept in its :class:`~playwire.recovery.SessionLog` (python-socketio's manager
stamps and stores it, :class:`~playwire.upstream.socketio.CountingManager`). When its client
reconnects with ``{pid, offset}``, the token is verified again, and the same user gets the
same ``sid`` and what it missed (:class:`~playwire.upstream.socketio.PlaywireServer` sends
it). The window's end, or more than ``--recovery-max-events`` events while held, ends the
session as a disconnect would.

On a cluster a session also moves between nodes (:mod:`playwire.socketio.handover`): this
mixin exports a session it holds (:meth:`SessionRecovery.export_held`,
:meth:`SessionRecovery.hand_over`) and imports one held elsewhere, for a client that
reconnected here (:meth:`SessionRecovery.take_from_another_node`) or for a node that is
stopping (:meth:`SessionRecovery.adopt`).
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import TYPE_CHECKING, Any, Optional

import gevent

from playwire.errors import ServiceUnavailable
from playwire.identity import Member
from playwire.ratelimit import TokenBucket
from playwire.recovery import SessionLog
from playwire.socketio.handover import BUSY_DELAY, BUSY_TRIES, MOVE_TIMEOUT

if TYPE_CHECKING:
    from playwire.socketio.base import Session

log = logging.getLogger(__name__)

#: The disconnect reason of a held session whose window passed (metrics count it).
WINDOW_ENDED = "recovery window ended"
#: The disconnect reason of a connection whose client recovered its session on another.
REPLACED = "replaced by a recovery"
#: The disconnect reason of a held session sent more than --recovery-max-events.
TOO_MANY_EVENTS = "recovery events exceeded"


def new_pid() -> str:
    """A private session id: whoever knows a session's public ``sid`` cannot recover it."""
    return secrets.token_urlsafe(15)


class SessionRecovery:
    """Holding, ending and recovering sessions of one namespace."""

    namespace: str
    config: Any
    socketio: Any
    services: Any
    presence: Any
    sessions: dict[str, Session]
    #: Moves sessions between the nodes of a cluster (None on a single node).
    handover: Any = None

    def _init_recovery(self) -> None:
        #: The logs of this node's sessions that can recover, by sid (the manager reads it).
        self.logs: dict[str, SessionLog] = {}
        #: The sessions with a log, held or not: pid → sid.
        self.pids: dict[str, str] = {}
        #: Sessions whose ``state`` was sent to another node: sid → entries added then.
        self._moving: dict[str, int] = {}

    @property
    def recovers(self) -> bool:
        return self.config.recovery_window > 0

    def keep_log(self, sid: str, pid: Optional[str]) -> None:
        """A session accepted with a ``pid`` gets a log: from now on its events are stored."""
        if pid is not None:
            self.logs[sid] = SessionLog(pid, self.config.recovery_max_events)
            self.pids[pid] = sid

    def hold(self, sid: str, reason: str) -> bool:
        """Hold a session whose connection dropped; False if it cannot be recovered."""
        session_log = self.logs.get(sid)
        if session_log is None or session_log.held or sid not in self.sessions:
            return False
        self.services.metrics.disconnected(reason)
        self._start_window(sid, session_log, self.config.recovery_window)
        log.debug("holding %s in %s (%s)", sid, self.namespace, reason)
        return True

    def _start_window(
        self, sid: str, session_log: SessionLog, seconds: float, events: int = 0
    ) -> None:
        timer = gevent.get_hub().loop.timer(seconds)
        until = time.monotonic() + seconds
        session_log.hold(timer, lambda: self._end_soon(sid, TOO_MANY_EVENTS), until, events)
        timer.start(self._end_soon, sid, WINDOW_ENDED)

    def _end_soon(self, sid: str, reason: str) -> None:
        # In a greenlet of its own: this may run in the event loop or mid-broadcast, and
        # ending announces user_left.
        gevent.spawn(self.end_held, sid, reason)

    def end_held(self, sid: str, reason: str = WINDOW_ENDED) -> None:
        """A held session is gone for good: it leaves as a disconnected one does."""
        session_log = self.logs.get(sid)
        if session_log is None or not session_log.held or session_log.moving:
            return  # a moving session ends where it arrives, if it must
        self._drop_log(sid)
        self.services.metrics.disconnected(reason)
        manager = self.socketio.server.manager
        if not manager.is_connected(sid, self.namespace):
            return
        manager.pre_disconnect(sid, namespace=self.namespace)
        self.forget(sid)
        manager.disconnect(sid, self.namespace, ignore_queue=True)

    def _drop_log(self, sid: str) -> None:
        session_log = self.logs.pop(sid, None)
        if session_log is not None:
            self.pids.pop(session_log.pid, None)
            session_log.release()

    def take_held(self, pid: str, offset: str, member_id: int) -> Optional[tuple[str, list]]:
        """The session ``pid`` of user ``member_id`` and the packets it missed since
        ``offset``, now connected again; None if there is none to recover. A held session
        that cannot be recovered (its log lost ``offset``) ends here, before its client
        connects afresh. One not yet held is held first: its client saw the drop before
        this server did (a ping timeout), and its old connection is closed by the caller."""
        if not self._arrived(pid):
            return None
        sid = self.pids.get(pid)
        session = self.sessions.get(sid) if sid is not None else None
        if session is None or session.user_id != member_id:
            return None
        session_log = self.logs[sid]
        if not session_log.held and not self.hold(sid, REPLACED):
            return None
        missed = session_log.since(offset)
        if missed is None:
            self.end_held(sid, TOO_MANY_EVENTS)
            return None
        session_log.release()
        return sid, missed

    def _arrived(self, pid: str) -> bool:
        """Wait while session ``pid`` is still moving here (a node that is stopping hands it
        over while its client reconnects here): its log is complete only once it has
        arrived. False if it is still moving after a few seconds."""
        for _ in range(BUSY_TRIES):
            session_log = self.logs.get(self.pids.get(pid, ""))
            if session_log is None or not session_log.moving:
                return True
            gevent.sleep(BUSY_DELAY)
        return False

    def held_pids(self) -> list[str]:
        """The pids of the sessions held here and not moving."""
        return [log.pid for log in self.logs.values() if log.held and not log.moving]

    def end_all_held(self, reason: str) -> None:
        """Every held session here is gone for good (a stopping node's last step)."""
        for sid, session_log in list(self.logs.items()):
            if session_log.held:
                session_log.moving = False
                self.end_held(sid, reason)

    # -- a session leaving this node (the holder's side of playwire.socketio.handover) ----

    def export_held(
        self, pid: str, member_id: Optional[int], offset: Optional[str]
    ) -> Optional[dict | str]:
        """The state of session ``pid`` for the node that claims it: its sid, user, rooms
        and the log entries after ``offset`` (all for None: an adoption, ``member_id``
        None); ``"busy"`` if it is moving already; None if it is not here (or not that
        user's, or cannot recover from ``offset``: then it ends here)."""
        sid = self.pids.get(pid)
        session = self.sessions.get(sid) if sid is not None else None
        if session is None or member_id not in (None, session.user_id):
            return None
        session_log = self.logs[sid]
        if session_log.moving:
            return "busy"
        if not session_log.held and not self.hold(sid, REPLACED):
            return None
        entries = session_log.entries_since(offset)
        if entries is None:
            self.end_held(sid, TOO_MANY_EVENTS)
            return None
        session_log.moving = True
        self._moving[sid] = session_log.added
        gevent.spawn_later(MOVE_TIMEOUT, self._move_abandoned, sid, session_log)
        manager = self.socketio.server.manager
        return {
            "ns": self.namespace,
            "sid": sid,
            "pid": pid,
            "member": session.member.to_json(),
            "rooms": sorted(session.rooms),
            "channels": manager.get_rooms(sid, self.namespace),
            "entries": entries,
            "held_events": session_log.held_events,
            "window": max(0.0, session_log.held_until - time.monotonic()),
        }

    def _move_abandoned(self, sid: str, session_log: SessionLog) -> None:
        """No ``release`` came for a session sent to another node: it stays here."""
        if self.logs.get(sid) is not session_log or not session_log.moving:
            return
        log.warning("session %s did not move; it stays held here", sid)
        session_log.moving = False
        self._moving.pop(sid, None)
        if session_log.overflowed:
            self.end_held(sid, TOO_MANY_EVENTS)
        elif time.monotonic() >= session_log.held_until:
            self.end_held(sid, WINDOW_ENDED)

    def hand_over(self, pid: str) -> Optional[list]:
        """The session ``pid`` now belongs to the node that claimed it: forget it here, with
        no word to anyone, and return what it was sent since its state went (None if some
        of that fell out of its log, or it was not moving)."""
        sid = self.pids.get(pid)
        session_log = self.logs.get(sid) if sid is not None else None
        if session_log is None or not session_log.moving:
            return None
        delta = session_log.added_since(self._moving.pop(sid))
        self.sessions.pop(sid, None)
        self._drop_log(sid)
        manager = self.socketio.server.manager
        eio_sid = manager.eio_sid_from_sid(sid, self.namespace)
        manager.basic_disconnect(sid, self.namespace)
        self.presence.hand_over(self.namespace, sid)
        socket = self.socketio.server.eio.sockets.get(eio_sid) if eio_sid else None
        if socket is not None and not socket.closed:  # its client is on the other node now
            socket.close(wait=False, abort=True, reason=REPLACED)
        log.debug("session %s of %s moved to another node", sid, self.namespace)
        return delta

    # -- a session arriving on this node (the claiming side) ------------------------------

    def take_from_another_node(
        self, pid: str, offset: str, member: Member, eio_sid: str
    ) -> Optional[tuple[str, list]]:
        """As :meth:`take_held`, for a session another node holds: it moves here, onto the
        connection ``eio_sid``. None: connect afresh."""
        for _ in range(BUSY_TRIES):
            if pid in self.pids:  # it moved here meanwhile (an adoption)
                return self.take_held(pid, offset, member.id)
            kind, state = self.handover.ask(self.namespace, pid, member.id, offset)
            if kind == "state":
                if not self._import(state, member, eio_sid, offset):
                    return None
                # Read from its log only now, as for a session held here: the import
                # waited on presence (Redis), and what reached the session meanwhile is
                # kept in the log, not sent.
                return self.take_held(pid, offset, member.id)
            if kind != "busy":
                return None
            gevent.sleep(BUSY_DELAY)
        return None

    def adopt(self, pid: str) -> None:
        """Claim session ``pid`` of a node that is stopping, and hold it here for the rest
        of its window, for its client to recover here or anywhere."""
        if pid in self.pids:
            return
        kind, state = self.handover.ask(self.namespace, pid, None, None)
        if kind != "state":
            return
        sid = state["sid"]
        member = Member(int(state["member"]["id"]), state["member"]["username"])
        if not self._import(state, member, f"adopted:{sid}"):
            return
        session_log = self.logs[sid]
        events = session_log.held_events
        session_log.release()
        self._start_window(sid, session_log, state["window"], events)
        log.debug("adopted %s of %s", sid, self.namespace)

    def _import(
        self, state: dict, member: Member, eio_sid: str, offset: Optional[str] = None
    ) -> bool:
        """Enter the session of ``state`` here, held (its rooms, a log that keeps without
        sending), release it from its holder, and merge what both nodes kept into its log:
        every entry since the claim's ``offset``, once. False if it did not come (connect
        afresh) or is past its event cap (then it ends here). The log starts at ``offset``
        (an entry with no packets): a client that is sent nothing more reconnects with it
        again, maybe to yet another node."""
        sid, pid = state["sid"], state["pid"]
        manager = self.socketio.server.manager
        session_log = SessionLog(pid, self.config.recovery_max_events)
        session_log.hold(None, lambda: None)
        session_log.moving = True
        self.logs[sid] = session_log
        manager.basic_enter_room(sid, self.namespace, None, eio_sid=eio_sid)
        for channel in state["channels"]:
            manager.basic_enter_room(sid, self.namespace, channel, eio_sid=eio_sid)
        try:
            manager.wait_subscribed(self.namespace, state["channels"])
            released = self.handover.release(state)
        except ServiceUnavailable:  # its channels are not subscribed: it cannot come yet
            self.handover.abandon(state)
            released = None
        if released is None:  # the holder kept it (or died): undo, quietly
            self.logs.pop(sid, None)
            manager.basic_disconnect(sid, self.namespace)
            return False
        complete, delta = released
        known = {offset for offset, _ in state["entries"]} | {offset for offset, _ in delta}
        fresh = [entry for entry in session_log.entries if entry[0] not in known]
        entries = [*state["entries"], *delta, *fresh]
        limit = session_log.limit
        events = state["held_events"] + len(delta) + len(fresh)
        complete = complete and session_log.added <= limit and events <= limit
        base = [] if offset is None else [(offset, [])]
        session_log.entries.clear()
        session_log.entries.extend([*base, *entries])
        session_log.added, session_log.mark = len(session_log.entries), None  # as if added here
        session_log.held_events = events if complete else limit + 1
        self.pids[pid] = sid
        bucket = TokenBucket(self.config.rate_limit, self.config.rate_burst)
        session = self._new_session(sid, member, bucket, set(state["rooms"]))
        self.sessions[sid] = session
        self.presence.take_over(self.namespace, member, sid, session.rooms)
        session_log.moving = False  # only now: take_over may yield, and a take waits for this
        if not complete:
            self.end_held(sid, TOO_MANY_EVENTS)
            return False
        return True

    def _new_session(
        self, sid: str, member: Member, bucket: TokenBucket, rooms: set[str]
    ) -> Session:  # pragma: no cover - PlaywireNamespace defines it
        raise NotImplementedError

    def forget(self, sid: str) -> None:  # pragma: no cover - PlaywireNamespace defines it
        raise NotImplementedError
