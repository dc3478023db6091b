"""Rooms in every namespace: the ``join`` and ``leave`` events (docs/protocol.md, "Rooms").

A mixin of :class:`~playwire.socketio.base.PlaywireNamespace`. Membership and room presence
live in the presence store (exact across a cluster's nodes); each node also enters its own
sessions into the python-socketio room :func:`~playwire.forwarding.room_channel` names, so
an emit to that room reaches them from any node through the message queue.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any, Optional

from playwire.errors import NOT_IN_ROOM, ROOM_FULL, TOO_MANY_ROOMS, EventError, ServiceUnavailable
from playwire.forwarding import room_channel
from playwire.identity import Member
from playwire.rooms import room_of

if TYPE_CHECKING:
    from playwire.socketio.base import Session

log = logging.getLogger(__name__)


class RoomEvents:
    """``join {"room"}`` and ``leave {"room"}``, and leaving every room on disconnect."""

    namespace: str
    presence: Any
    socketio: Any

    def on_join(self, session: Session, data: dict) -> dict:
        """A client joins a room; the ack lists the room's users, itself included. The
        room's other sessions get ``user_joined`` (with ``room``) on the user's first
        session there; joining again from the same session changes nothing."""
        room = room_of(data)
        joined = self.presence.join_room(self.namespace, room, session.member, session.sid)
        if joined.refused is not None:
            raise EventError(joined.refused, _refusal(joined.refused, self))
        if room not in session.rooms:
            session.rooms.add(room)
            self._enter_room(session, room)
        if joined.first:
            self.announce_room(room, "user_joined", session.member, skip_sid=session.sid)
        users = [member.to_json() for member in joined.members]
        extra = self.after_join(session, room) or {}
        return {"room": room, "users": users, "count": len(users), **extra}

    def on_leave(self, session: Session, data: dict) -> None:
        """A client leaves a room it is in (else ``not_in_room``); the room's other sessions
        get ``user_left`` (with ``room``) when it was the user's last session there."""
        room = room_of(data)
        last = self.presence.leave_room(self.namespace, room, session.member, session.sid)
        if last is None and room not in session.rooms:
            raise EventError(NOT_IN_ROOM, f"this session is not in room {room!r}")
        self._forget_room(session, room)
        if last:
            self.announce_room(room, "user_left", session.member)

    def leave_all_rooms(self, session: Session) -> None:
        """A disconnecting session leaves every room; lost if presence is unavailable (its
        entries then expire with the session)."""
        if not session.rooms:
            return
        try:
            gone = self.presence.leave_rooms(self.namespace, session.member, session.sid)
        except ServiceUnavailable:
            log.warning("presence unavailable; %s left its rooms unannounced", session.sid)
            return
        for room in gone:
            self.announce_room(room, "user_left", session.member, skip_sid=session.sid)
        session.rooms.clear()

    def require_room(self, session: Session, room: str) -> str:
        """The python-socketio room to send to, if the session is in ``room``; else
        ``not_in_room``."""
        if room not in session.rooms:
            raise EventError(NOT_IN_ROOM, f"join room {room!r} before sending to it")
        return room_channel(room)

    def announce_room(
        self, room: str, event: str, member: Member, skip_sid: Optional[str] = None
    ) -> None:
        """Tell a room's sessions of a member's arrival or departure."""
        data = {**member.to_json(), "room": room}
        self.announce(event, data, to=room_channel(room), skip_sid=skip_sid)

    def _enter_room(self, session: Session, room: str) -> None:
        """Into the python-socketio room, once what other nodes send to it reaches this
        node (playwire.routing): the ack and the others' ``user_joined`` come after that.
        Redis away: out of the room again, and ``unavailable``."""
        manager = self.socketio.server.manager
        try:
            manager.enter_room_and_subscribe(session.sid, self.namespace, room_channel(room))
        except ServiceUnavailable:
            self._forget_room(session, room)
            with contextlib.suppress(ServiceUnavailable):
                self.presence.leave_room(self.namespace, room, session.member, session.sid)
            raise

    def _forget_room(self, session: Session, room: str) -> None:
        session.rooms.discard(room)
        self.socketio.server.leave_room(session.sid, room_channel(room), self.namespace)


def _refusal(code: str, namespace: Any) -> str:
    limits = namespace.presence.limits
    if code == TOO_MANY_ROOMS:
        return f"a session may be in at most {limits.rooms_per_session} rooms"
    if code == ROOM_FULL:
        return f"the room holds its maximum of {limits.room_users} users"
    return code
