"""The base of every Playwire namespace (docs/protocol.md, "Rules for every event",
"Presence" and "Rooms"; README, "Adding a namespace").

A namespace derived from :class:`PlaywireNamespace` holds only its own events, written as
``on_<event>(self, session, data)``: ``session`` says who sent it, ``data`` is the event's
JSON object, already checked against the payload limit and the session's rate limit. Return
a dict to add fields to the ``{"ok": true}`` ack; raise :class:`~playwire.errors.EventError`
to refuse, and the client gets the ack ``{"ok": false, ...}`` or the ``error`` event. A
handler whose answer waits on Redis returns a :class:`~playwire.later.Later` of that dict
(as :meth:`PlaywireNamespace.emit_to_user` gives), and the session's next event runs
meanwhile.

The base class does the rest: authentication on connect, the per-user room, presence
(``presence``, ``user_joined``, ``user_left``, bounded by the presence limit), rooms (the
``join`` and ``leave`` events, from :class:`~playwire.socketio.rooms.RoomEvents`),
validation, rate limits and error replies. Handlers run without Flask's request context; use
``session`` and ``self.services``.

The events a client may send are exactly the ``on_<event>`` methods that namespaces define,
plus ``join`` and ``leave``: hooks (:meth:`PlaywireNamespace.after_connect`,
:meth:`PlaywireNamespace.after_join`) and the connection's lifecycle
(:meth:`PlaywireNamespace.open_session`, :meth:`PlaywireNamespace.close_session`)
are not events, and a client naming one gets ``unknown_event``.
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
from playwire.forwarding import room_channel, user_room
from playwire.identity import Member
from playwire.later import Later
from playwire.presence import Census, Change
from playwire.ratelimit import TokenBucket
from playwire.recovery import recovery_request, wants_recovery
from playwire.services import Services
from playwire.socketio.recovery import SessionRecovery, new_pid
from playwire.socketio.rooms import RoomEvents
from playwire.tokens import TokenError
from playwire.validation import event_payload

log = logging.getLogger(__name__)

# Socket.IO's lifecycle events: a subclass's ``on_connect`` or ``on_disconnect`` (Flask-SocketIO's
# names for its handlers) is not a client event.
LIFECYCLE = frozenset({"connect", "disconnect"})


def announce(
    server: Any,
    namespace: str,
    event: str,
    data: dict,
    to: Optional[str] = None,
    skip_sid: Optional[str] = None,
) -> None:
    """Broadcast a presence change (``user_joined``, ``user_left``, ``presence``) to every
    session of ``namespace``, or of room ``to``, on every node; lost, not fatal, if the
    message queue is down.

    News about a user skips that user's own sessions: on a cluster the announcement of a
    user's arrival on one node may reach another node after the user's next tab connected
    there, and that tab must not hear of its own user's arrival."""
    about = user_room(data["id"]) if "id" in data else None
    try:
        server.manager.emit(event, data, namespace, room=to, skip_sid=skip_sid, except_room=about)
    except ServiceUnavailable:
        who = data.get("id", "(every user)")
        log.warning("message queue unavailable; %s of user %s not sent", event, who)


def _ok(result: Optional[dict]) -> dict:
    """The ack of an event its handler answered with ``result`` (fields to add, or None)."""
    return {"ok": True, **result} if result else {"ok": True}


def held_ack(held: int) -> Optional[dict]:
    """The ack's extra fields when an event reached held sessions: ``{"held": N}``."""
    return {"held": held} if held else None


@dataclass
class Session:
    """One Socket.IO connection of a user to a namespace."""

    sid: str
    member: Member
    bucket: TokenBucket
    #: The rooms this session is in (this node knows its own sessions' rooms exactly).
    rooms: set[str] = field(default_factory=set)
    #: The reply of its last event that waits on Redis (see PlaywireNamespace.dispatch).
    replying: Optional[Later[Optional[dict]]] = None

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
    change: Optional[Change] = None
    members: list[Member] = field(default_factory=list)
    failure: Optional[ServiceUnavailable] = None
    #: The private id its CONNECT packet carries, if it can be recovered.
    pid: Optional[str] = None


def client_events(namespace: PlaywireNamespace) -> dict[str, Callable[..., Any]]:
    """The events a client may send to ``namespace``: ``join`` and ``leave``, and each
    ``on_<event>`` defined by a class below :class:`PlaywireNamespace`."""
    events = {"join": namespace.on_join, "leave": namespace.on_leave}
    for cls in type(namespace).__mro__:
        if cls is PlaywireNamespace:
            break
        for name in vars(cls):
            event = name[3:]
            if name.startswith("on_") and event not in LIFECYCLE and event not in events:
                events[event] = getattr(namespace, name)
    return events


class PlaywireNamespace(SessionRecovery, RoomEvents, flask_socketio.Namespace):
    """Authentication, presence, rooms, recovery, validation, limits and error replies."""

    def __init__(self, namespace: str, services: Services) -> None:
        super().__init__(namespace)
        self.services = services
        self.config = services.config
        self.presence = services.presence
        self._pending: dict[str, PendingSession] = {}
        self.sessions: dict[str, Session] = {}
        self.events = client_events(self)
        self.metrics = services.metrics.for_namespace(self, list(self.events))
        services.metrics.feed_rooms(namespace, self.rooms_here)
        #: The count last sent in ``presence_count`` to this node's sessions, while limited.
        self.count_sent: Optional[int] = None
        self._init_recovery()

    def rooms_here(self) -> int:
        """How many rooms this node's sessions are in (``playwire_rooms``)."""
        rooms = self.socketio.server.manager.rooms.get(self.namespace, {}) if self.socketio else {}
        prefix = room_channel("")
        return sum(1 for room in rooms if isinstance(room, str) and room.startswith(prefix))

    # -- hooks for subclasses (never reachable as events) ---------------------------------

    def after_connect(self, session: Session) -> None:
        """Called once a session is connected and announced; send it what it needs first."""

    def after_join(self, session: Session, room: str) -> Optional[dict]:
        """Called when a session has joined ``room``; a dict adds fields to the ack."""
        return None

    # -- sending ------------------------------------------------------------------------

    def emit_to(self, to: str | list[str], event: str, data: dict, skip_sid: Any = None) -> int:
        """Send to one session id or room (or a list of them), never to everyone by mistake;
        return how many of this node's recipients were held sessions (kept for them)."""
        if not to:
            raise ValueError("emit_to needs a session id or room; use broadcast for everyone")
        manager = self.socketio.server.manager
        # A session of this node is served without the message queue (which may be down).
        local = isinstance(to, str) and manager.is_connected(to, self.namespace)
        manager.held_by_last_emit = 0
        self.socketio.server.emit(
            event, data, to=to, skip_sid=skip_sid, namespace=self.namespace, ignore_queue=local
        )
        return manager.held_by_last_emit

    def emit_to_user(
        self, rooms: list[str], event: str, data: dict, skip_sid: Optional[str] = None
    ) -> Later[Optional[int]]:
        """Send to a user's room (``rooms[0]``) and the other ``rooms``, only if the user has
        a session on some node. Later: how many of this node's recipients were held
        sessions, or None, nothing sent, if the user has none. On a cluster node the count
        of nodes subscribed to the user's channel tells, in the command that publishes,
        and the caller goes on meanwhile: return the Later from the handler
        (:mod:`playwire.later`)."""
        manager = self.socketio.server.manager
        return manager.emit_to_user(event, data, self.namespace, rooms, skip_sid=skip_sid)

    def broadcast(self, event: str, data: dict, skip_sid: Optional[str] = None) -> int:
        """Send to every session in this namespace, on every node; return how many of this
        node's recipients were held sessions."""
        manager = self.socketio.server.manager
        manager.held_by_last_emit = 0
        self.socketio.server.emit(event, data, skip_sid=skip_sid, namespace=self.namespace)
        return manager.held_by_last_emit

    # -- connection lifecycle (called by python-socketio and PlaywireServer) -------------

    def trigger_event(self, event: str, *args: Any) -> Any:
        """python-socketio's call into a class-based namespace, the method it documents for
        dispatching of one's own. Only ``connect`` and ``disconnect`` arrive here (client
        events go to :meth:`dispatch`), and they run without the Flask request context
        that Flask-SocketIO's version builds around each: it was an eighth of a connect's
        CPU, for a session cookie that only a connect without a token needs."""
        if event == "connect":
            sid, environ, auth = args
            return self.open_session(sid, environ, auth)
        if event == "disconnect":
            return self.close_session(*args)
        return super().trigger_event(event, *args)

    def open_session(self, sid: str, environ: dict, auth: Any = None) -> None:
        """Accept a connection only with a valid token (``auth`` or the session cookie).

        The session joins presence here, before python-socketio adds it to the namespace's
        rooms: on a cluster node, a broadcast that arrives while Redis answers cannot reach
        the new session ahead of its ``presence`` (a second tab would otherwise hear of its
        own user's arrival first). The client hears of all this in :meth:`accepted`.
        """
        member, failure = self._authenticate(auth, environ)
        bucket = TokenBucket(self.config.rate_limit, self.config.rate_burst)
        pending = PendingSession(Session(sid=sid, member=member, bucket=bucket), failure=failure)
        if self.recovers and wants_recovery(auth):
            pending.pid = new_pid()
        self._pending[sid] = pending
        if failure is not None:
            return
        try:
            # In the user's room first: on a cluster node, what other nodes send the user
            # reaches this node before anyone hears of the session (playwire.routing).
            manager = self.socketio.server.manager
            manager.enter_room_and_subscribe(sid, self.namespace, user_room(member.id))
            pending.change = self.presence.join(self.namespace, member, sid)
            if not pending.change.census.limited:
                pending.members = self.presence.members(self.namespace)
        except ServiceUnavailable as exc:
            pending.failure = exc

    def accepted(self, sid: str) -> None:
        """The client has its CONNECT packet: send ``presence``, announce the user if new.

        Above the presence limit the new session gets the count alone, and nobody hears of
        its arrival: nothing here costs more as the namespace grows.
        """
        pending = self._pending.pop(sid, None)
        if pending is None:
            return
        session = pending.session
        if pending.failure is not None:
            self._refuse_after_connect(session, pending.failure)
            return
        self.sessions[sid] = session
        self.keep_log(sid, pending.pid)
        census = pending.change.census
        self.emit_to(sid, "presence", self._presence(census, pending.members))
        self._announce_change(pending.change, "user_joined", session.member, skip_sid=sid)
        hook = self._run_safely("connect", self.after_connect, session)
        self._report_failure(sid, "connect", hook)

    def pid_for_connect(self, sid: str) -> Optional[str]:
        """The ``pid`` that the CONNECT packet of session ``sid`` carries, if any."""
        pending = self._pending.get(sid)
        return pending.pid if pending is not None else None

    def recover(self, environ: dict, auth: dict, eio_sid: str) -> Optional[tuple[str, str, list]]:
        """``(sid, pid, missed packets)`` of the held session that ``auth`` (with ``pid``,
        ``offset`` and the token) asks for, now connected again on ``eio_sid``; None to
        connect afresh. On a cluster the session may be on another node: it moves here.
        A token that is no longer valid refuses the connection (ConnectionRefusedError)."""
        request = recovery_request(auth)
        if request is None or (request[0] not in self.pids and self.handover is None):
            return None
        member, failure = self._authenticate(auth, environ)
        if failure is not None:
            return None  # a fresh connect tells the client that revocations are unavailable
        pid, offset = request
        if pid in self.pids:
            taken = self.take_held(pid, offset, member.id)
        else:
            taken = self.take_from_another_node(pid, offset, member, eio_sid)
        if taken is None:
            return None
        sid, missed = taken
        self.sessions[sid].member = member
        return sid, pid, missed

    def _new_session(
        self, sid: str, member: Member, bucket: TokenBucket, rooms: set[str]
    ) -> Session:
        return Session(sid=sid, member=member, bucket=bucket, rooms=rooms)

    def close_session(self, sid: str, reason: Any = None) -> None:
        """Forget the session; it leaves its rooms, and the namespace, announced as such."""
        self.services.metrics.disconnected(reason)
        self.forget(sid)

    def forget(self, sid: str) -> None:
        """The session is gone: it leaves its rooms, and the namespace, announced as such."""
        self._drop_log(sid)
        pending = self._pending.pop(sid, None)
        session = self.sessions.pop(sid, None)
        if session is None:
            if pending is not None and pending.change is not None:
                # Gone before it was accepted, so never announced: leave quietly.
                self._leave_presence(pending.session)
            return
        self.leave_all_rooms(session)
        change = self._leave_presence(session)
        if change is not None:
            self._announce_change(change, "user_left", session.member)

    def _leave_presence(self, session: Session) -> Optional[Change]:
        """What leaving did, or None if presence is unavailable."""
        try:
            return self.presence.leave(self.namespace, session.member, session.sid)
        except ServiceUnavailable:
            log.warning("presence unavailable; %s left %s unannounced", session.sid, self.namespace)
            return None

    # -- namespace-wide presence and its limit ------------------------------------------

    def _presence(self, census: Census, members: list[Member]) -> dict:
        """The ``presence`` event: the list and its count, or the count alone when limited."""
        if census.limited:
            return {"users": [], "count": census.count, "limited": True}
        return {"users": [member.to_json() for member in members], "count": len(members)}

    def _announce_change(
        self, change: Change, event: str, member: Member, skip_sid: Optional[str] = None
    ) -> None:
        """Tell everyone of a join or leave: of the switch across the limit if it made one,
        else of the user's arrival or departure unless the namespace is limited."""
        if change.census.switched:
            self.announce_switch(change.census, skip_sid=skip_sid)
        elif change.user and not change.census.limited:
            self.announce(event, member.to_json(), skip_sid=skip_sid)

    def announce_switch(self, census: Census, skip_sid: Optional[str] = None) -> None:
        """Every session gets a fresh ``presence``: the count alone once the namespace is
        limited, the complete list once it is back below the limit."""
        members = [] if census.limited else self.presence.members(self.namespace)
        self.count_sent = census.count if census.limited else None
        self.announce("presence", self._presence(census, members), skip_sid=skip_sid)

    def send_presence_count(self) -> None:
        """While limited, send this node's sessions ``presence_count`` if the count moved.

        Each node of a cluster runs this on its own timer for its own sessions (a local
        emit), reading the count from the shared store; it also makes the switch across the
        limit when sessions were swept or restored meanwhile.
        """
        if not self.sessions:
            return
        census = self.presence.census(self.namespace)
        if census.switched:
            self.announce_switch(census)
        elif census.limited and census.count != self.count_sent:
            self.count_sent = census.count
            server = self.socketio.server
            count = {"count": census.count}
            server.emit("presence_count", count, namespace=self.namespace, ignore_queue=True)
        elif not census.limited:
            self.count_sent = None

    def announce(
        self, event: str, data: dict, to: Optional[str] = None, skip_sid: Optional[str] = None
    ) -> None:
        """Broadcast a presence change (to a room, or everyone): :func:`announce`."""
        announce(self.socketio.server, self.namespace, event, data, to=to, skip_sid=skip_sid)

    def _authenticate(
        self, auth: Any, environ: dict
    ) -> tuple[Member, Optional[ServiceUnavailable]]:
        """The token's member (from ``auth``, else from the session cookie of the
        connection's HTTP request ``environ``), or a refusal. If revocations (Redis) cannot
        be read, the session is let in to be told ``unavailable`` and disconnected, as when
        presence cannot be joined."""
        token = auth.get("token") if isinstance(auth, dict) else auth
        if token is None:
            with environ["flask.app"].request_context(environ):
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

    def dispatch(
        self, sid: str, event: Any, args: list, answer: Optional[Callable[[dict], None]]
    ) -> None:
        """Run one client event; its reply goes to ``answer``, the ack, if the client asked
        for one. Without an ack a failure goes to the sending session as the ``error`` event.

        A reply may come after the next event has run, once Redis has run the event's
        publish (a handler returned a Later), but the replies of one session keep the order
        of its events: one that is known at once waits for those before it.
        """
        session = self.sessions.get(sid)
        if session is None:
            return
        started = perf_counter()
        reply = self._run_safely(event, self._handle, session, event, args)

        def send(reply: dict) -> None:
            self.metrics.event_handled(event, reply, started)
            if answer is not None:
                answer(reply)
            else:
                self._report_failure(sid, event, reply)

        self._reply_in_order(session, event, reply, send)

    def _reply_in_order(
        self,
        session: Session,
        event: Any,
        reply: dict | Later[Optional[dict]],
        send: Callable[[dict], None],
    ) -> None:
        """``send(reply)`` now, or once the reply is known, after the session's earlier
        replies (a Later settles after those made before it: playwire.later)."""
        if isinstance(reply, Later):

            def send_known(known: Later[Optional[dict]]) -> None:
                try:
                    ack = _ok(known.result())
                except Exception as exc:
                    ack = self._failure_ack(event, exc)
                send(ack)

            session.replying = reply
            reply.add_done_callback(send_known)
            return
        before = session.replying
        if before is not None and not before.done:
            before.add_done_callback(lambda _: send(reply))
        else:
            send(reply)

    def _handle(self, session: Session, event: Any, args: list) -> dict | Later[Optional[dict]]:
        """The ack, or the Later of the handler's result."""
        if not session.bucket.take():
            raise EventError(errors.RATE_LIMITED, "too many events; slow down")
        handler = self._handler_for(event)
        data = event_payload(args, self.config.payload_limit)
        result = handler(session, data)
        return result if isinstance(result, Later) else _ok(result)

    def _handler_for(self, event: Any) -> Callable[[Session, dict], Optional[dict]]:
        handler = self.events.get(event) if isinstance(event, str) else None
        if handler is None:
            raise EventError(errors.UNKNOWN_EVENT, f"no event {event!r} in {self.namespace}")
        return handler

    def _run_safely(self, event: Any, function: Callable[..., Any], *args: Any) -> Any:
        """``function(*args)``, or the failure ack of docs/protocol.md, "Rules for every event",
        if it raised."""
        try:
            return function(*args)
        except Exception as exc:
            return self._failure_ack(event, exc)

    def _failure_ack(self, event: Any, exc: Exception) -> dict:
        if isinstance(exc, EventError):
            return exc.ack()
        if isinstance(exc, ServiceUnavailable):
            return EventError(exc.code, exc.message).ack()
        log.error("event %r in %s failed", event, self.namespace, exc_info=exc)
        return EventError(errors.INTERNAL_ERROR, "the server failed to handle this event").ack()

    def _report_failure(self, sid: str, event: Any, reply: Any) -> None:
        """Send a failure ack's content as the ``error`` event to the session alone."""
        if isinstance(reply, dict) and reply.get("ok") is False:
            report = {"event": str(event), "error": reply["error"], "message": reply["message"]}
            self.emit_to(sid, "error", report)
