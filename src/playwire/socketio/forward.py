"""Namespace ``/forward``: the relay of game messages between players (docs/protocol.md,
"`/forward`"), and to the players of a room ("Rooms")."""

from __future__ import annotations

from typing import Optional

from playwire.errors import INVALID_TARGET, TARGET_OFFLINE, EventError
from playwire.forwarding import check_latest, recipient_rooms, stamped, target_of
from playwire.later import Later
from playwire.rooms import names_a_room, room_of
from playwire.socketio.base import PlaywireNamespace, Session, held_ack


class ForwardNamespace(PlaywireNamespace):
    def on_forward(self, session: Session, data: dict) -> Optional[dict] | Later[Optional[dict]]:
        """A client sends ``{"target", ...}``; the target's sessions and the sender's other
        sessions get ``forwarded`` with ``sender`` set, each exactly once. With ``{"room",
        ...}`` instead, every session in the room but the sending one gets it. The ack
        counts the recipients that were held sessions, kept for them (``held``), if any. On
        a cluster node it comes once Redis has run the publish, and the session's next event
        does not wait for it.
        """
        if names_a_room(data):
            return held_ack(self._forward_to_room(session, data))
        target = target_of(data)
        check_latest(data)
        rooms = recipient_rooms(session.user_id, target)
        message = stamped(data, session.user_id)

        def acked(held: Optional[int]) -> Optional[dict]:
            if held is None:
                raise EventError(TARGET_OFFLINE, f"user {target} has no session in /forward")
            return held_ack(held)

        return self.emit_to_user(rooms, "forwarded", message, skip_sid=session.sid).then(acked)

    def _forward_to_room(self, session: Session, data: dict) -> int:
        if "target" in data:
            raise EventError(INVALID_TARGET, "a forward has a target or a room, not both")
        check_latest(data)
        to = self.require_room(session, room_of(data))
        return self.emit_to(to, "forwarded", stamped(data, session.user_id), skip_sid=session.sid)
