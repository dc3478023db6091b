"""The base of every Playwire namespace (docs/protocol.md, "Rules for every event" and
"Presence"; README, "Adding a namespace").

A namespace derived from :class:`PlaywireNamespace` holds only its own events, written as
``on_<event>(self, session, data)``: ``session`` says who sent it, ``data`` is the event's
JSON object, already checked against the payload limit and the session's rate limit. Return
a dict to add fields to the ``{"ok": true}`` ack; raise :class:`~playwire.errors.EventError`
to refuse, and the client gets the ack ``{"ok": false, ...}`` or the ``error`` event.

The base class does the rest: authentication on connect, the per-user room, presence
(``presence``, ``user_joined``, ``user_left``), validation, rate limits and error replies.
Handlers run without Flask's request context; use ``session`` and ``self.services``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any, Callable, Optional

import flask
import flask_socketio
from flask_socketio import ConnectionRefusedError

from playwire import errors
from playwire.errors import EventError, ServiceUnavailable
from playwire.forwarding import user_room
from playwire.identity import Member
from playwire.ratelimit import TokenBucket
from playwire.services import Services
from playwire.tokens import TokenError
from playwire.validation import event_payload

log = logging.getLogger(__name__)

# Names a client may not trigger as events, though the namespace has methods for them.
RESERVED_EVENTS = frozenset({"connect", "disconnect"})


def announce(
    server: Any, namespace: str, event: str, member: Member, skip_sid: Optional[str] = None
) -> None:
    """Broadcast a presence change (``user_joined``, ``user_left``) to every session of
    ``namespace`` on every node; lost, not fatal, if the message queue is down."""
    try:
        server.emit(event, member.to_json(), skip_sid=skip_sid, namespace=namespace)
    except ServiceUnavailable:
        log.warning("message queue unavailable; %s of user %s not sent", event, member.id)


@dataclass
class Session:
    """One Socket.IO connection of a user to a namespace."""

    sid: str
    member: Member
    bucket: TokenBucket

    @property
    def user_id(self) -> int:
        return self.member.id

    @property
    def username(self) -> str:
        return self.member.username


@dataclass
class PendingSession:
    """A session between its connect handler and its CONNECT packet."""

    session: Session
    joined: bool = False
    first: bool = False
    members: list[Member] = field(default_factory=list)
    failure: Optional[ServiceUnavailable] = None


class PlaywireNamespace(flask_socketio.Namespace):
    """Authentication, presence, validation, limits and error replies for a namespace."""

    def __init__(self, namespace: str, services: Services) -> None:
        super().__init__(namespace)
        self.services = services
        self.config = services.config
        self.presence = services.presence
        self._pending: dict[str, PendingSession] = {}
        self.sessions: dict[str, Session] = {}
        self.metrics = services.metrics.for_namespace(self, self.event_names())

    @classmethod
    def event_names(cls) -> list[str]:
        """The event names :meth:`_handler_for` accepts: the metrics' ``event`` labels."""
        names = (name[3:] for name in dir(cls) if name.startswith("on_"))
        return [name for name in names if name not in RESERVED_EVENTS]

    # -- hooks for subclasses -------------------------------------------------------------

    def on_join(self, session: Session) -> None:
        """Called once a session is connected and announced; send it what it needs first."""

    # -- sending ------------------------------------------------------------------------

    def emit_to(self, to: str | list[str], event: str, data: dict, skip_sid: Any = None) -> None:
        """Send to one session id or room (or a list of them), never to everyone by mistake."""
        if not to:
            raise ValueError("emit_to needs a session id or room; use broadcast for everyone")
        server = self.socketio.server
        # A session of this node is served without the message queue (which may be down).
        local = isinstance(to, str) and server.manager.is_connected(to, self.namespace)
        server.emit(
            event, data, to=to, skip_sid=skip_sid, namespace=self.namespace, ignore_queue=local
        )

    def broadcast(self, event: str, data: dict, skip_sid: Optional[str] = None) -> None:
        """Send to every session in this namespace, on every node."""
        self.socketio.server.emit(event, data, skip_sid=skip_sid, namespace=self.namespace)

    # -- connection lifecycle (called by Flask-SocketIO and PlaywireServer) --------------

    def on_connect(self, auth: Any = None) -> None:
        """Accept a connection only with a valid token (``auth`` or the session cookie).

        The session joins presence here, before python-socketio adds it to the namespace's
        rooms: on a cluster node, a broadcast that arrives while Redis answers cannot reach
        the new session ahead of its ``presence`` (a second tab would otherwise hear of its
        own user's arrival first). The client hears of all this in :meth:`accepted`.
        """
        member, failure = self._authenticate(auth)
        bucket = TokenBucket(self.config.rate_limit, self.config.rate_burst)
        sid = flask.request.sid
        pending = PendingSession(Session(sid=sid, member=member, bucket=bucket), failure=failure)
        self._pending[sid] = pending
        if failure is not None:
            return
        try:
            pending.first = self.presence.join(self.namespace, member, sid)
            pending.joined = True
            pending.members = self.presence.members(self.namespace)
        except ServiceUnavailable as exc:
            pending.failure = exc

    def accepted(self, sid: str) -> None:
        """The client has its CONNECT packet: send ``presence``, announce the user if new."""
        pending = self._pending.pop(sid, None)
        if pending is None:
            return
        session = pending.session
        if pending.failure is not None:
            self._refuse_after_connect(session, pending.failure)
            return
        self.sessions[sid] = session
        self.socketio.server.enter_room(sid, user_room(session.user_id), namespace=self.namespace)
        users = [member.to_json() for member in pending.members]
        self.emit_to(sid, "presence", {"users": users})
        if pending.first:
            self._announce("user_joined", session.member, skip_sid=sid)
        self._report_failure(sid, "connect", self._run_safely("connect", self.on_join, session))

    def on_disconnect(self, reason: Any = None) -> None:
        """Forget the session; announce the user's departure when it was their last one."""
        sid = flask.request.sid
        self.services.metrics.disconnected(reason)
        pending = self._pending.pop(sid, None)
        session = self.sessions.pop(sid, None)
        if session is None:
            if pending is not None and pending.joined:
                # Gone before it was accepted, so never announced: leave quietly.
                self._leave_presence(pending.session)
            return
        if self._leave_presence(session):
            self._announce("user_left", session.member)

    def _leave_presence(self, session: Session) -> bool:
        """Whether that was the user's last session here; False if presence is unavailable."""
        try:
            return self.presence.leave(self.namespace, session.member, session.sid)
        except ServiceUnavailable:
            log.warning("presence unavailable; %s left %s unannounced", session.sid, self.namespace)
            return False

    def _announce(self, event: str, member: Member, skip_sid: Optional[str] = None) -> None:
        announce(self.socketio.server, self.namespace, event, member, skip_sid=skip_sid)

    def _authenticate(self, auth: Any) -> tuple[Member, Optional[ServiceUnavailable]]:
        """The token's member, or a refusal. If revocations (Redis) cannot be read, the
        session is let in to be told ``unavailable`` and disconnected, as when presence
        cannot be joined."""
        token = auth.get("token") if isinstance(auth, dict) else auth
        if token is None:
            token = flask.session.get("token")
        if token is None:
            raise ConnectionRefusedError(errors.AUTHENTICATION_REQUIRED)
        tokens = self.services.tokens
        try:
            return tokens.verify(token), None
        except TokenError as exc:
            raise ConnectionRefusedError(str(exc)) from exc
        except ServiceUnavailable as exc:
            return tokens.verify(token, check_revoked=False), exc

    def _refuse_after_connect(self, session: Session, exc: ServiceUnavailable) -> None:
        self.sessions.pop(session.sid, None)
        self._report_failure(session.sid, "connect", EventError(exc.code, exc.message).ack())
        self.socketio.server.disconnect(session.sid, namespace=self.namespace, ignore_queue=True)

    # -- events ---------------------------------------------------------------------------

    def dispatch(self, sid: str, event: Any, args: list, wants_ack: bool) -> Optional[dict]:
        """Run one client event; return its ack, which is sent only if the client asked.

        Without an ack a failure goes to the sending session as the ``error`` event.
        """
        session = self.sessions.get(sid)
        if session is None:
            return None
        started = perf_counter()
        reply = self._run_safely(event, self._handle, session, event, args)
        self.metrics.event_handled(event, reply, started)
        if not wants_ack:
            self._report_failure(sid, event, reply)
        return reply

    def _handle(self, session: Session, event: Any, args: list) -> dict:
        if not session.bucket.take():
            raise EventError(errors.RATE_LIMITED, "too many events; slow down")
        handler = self._handler_for(event)
        data = event_payload(args, self.config.payload_limit)
        result = handler(session, data)
        return {"ok": True, **result} if result else {"ok": True}

    def _handler_for(self, event: Any) -> Callable[[Session, dict], Optional[dict]]:
        handler = None
        if isinstance(event, str) and event not in RESERVED_EVENTS:
            handler = getattr(self, "on_" + event, None)
        if handler is None:
            raise EventError(errors.UNKNOWN_EVENT, f"no event {event!r} in {self.namespace}")
        return handler

    def _run_safely(self, event: Any, function: Callable[..., Any], *args: Any) -> Any:
        """``function(*args)``, or the failure ack of docs/protocol.md, "Rules for every event",
        if it raised."""
        try:
            return function(*args)
        except EventError as exc:
            return exc.ack()
        except ServiceUnavailable as exc:
            return EventError(exc.code, exc.message).ack()
        except Exception:
            log.exception("event %r in %s failed", event, self.namespace)
            return EventError(errors.INTERNAL_ERROR, "the server failed to handle this event").ack()

    def _report_failure(self, sid: str, event: Any, reply: Any) -> None:
        """Send a failure ack's content as the ``error`` event to the session alone."""
        if isinstance(reply, dict) and reply.get("ok") is False:
            report = {"event": str(event), "error": reply["error"], "message": reply["message"]}
            self.emit_to(sid, "error", report)
