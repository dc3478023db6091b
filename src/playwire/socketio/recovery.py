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
"""

from __future__ import annotations

import logging
import secrets
from typing import TYPE_CHECKING, Any, Optional

import gevent

from playwire.recovery import SessionLog

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
    sessions: dict[str, Session]

    def _init_recovery(self) -> None:
        #: The logs of this node's sessions that can recover, by sid (the manager reads it).
        self.logs: dict[str, SessionLog] = {}
        #: The sessions with a log, held or not: pid → sid.
        self.pids: dict[str, str] = {}

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
        timer = gevent.get_hub().loop.timer(self.config.recovery_window)
        session_log.hold(timer, lambda: self._end_soon(sid, TOO_MANY_EVENTS))
        timer.start(self._end_soon, sid, WINDOW_ENDED)
        log.debug("holding %s in %s (%s)", sid, self.namespace, reason)
        return True

    def _end_soon(self, sid: str, reason: str) -> None:
        # In a greenlet of its own: this may run in the event loop or mid-broadcast, and
        # ending announces user_left.
        gevent.spawn(self.end_held, sid, reason)

    def end_held(self, sid: str, reason: str = WINDOW_ENDED) -> None:
        """A held session is gone for good: it leaves as a disconnected one does."""
        session_log = self.logs.get(sid)
        if session_log is None or not session_log.held:
            return
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

    def forget(self, sid: str) -> None:  # pragma: no cover - PlaywireNamespace defines it
        raise NotImplementedError
