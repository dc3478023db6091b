"""Namespace ``/forward``: the relay of game messages between players (docs/protocol.md,
"`/forward`")."""

from __future__ import annotations

from playwire.errors import TARGET_OFFLINE, EventError
from playwire.forwarding import check_latest, recipient_rooms, stamped, target_of
from playwire.socketio.base import PlaywireNamespace, Session


class ForwardNamespace(PlaywireNamespace):
    def on_forward(self, session: Session, data: dict) -> None:
        """A client sends ``{"target", ...}``; the target's sessions and the sender's other
        sessions get ``forwarded`` with ``sender`` set, each exactly once.
        """
        target = target_of(data)
        check_latest(data)
        if not self.presence.is_online(self.namespace, target):
            raise EventError(TARGET_OFFLINE, f"user {target} has no session in /forward")
        rooms = recipient_rooms(session.user_id, target)
        self.emit_to(rooms, "forwarded", stamped(data, session.user_id), skip_sid=session.sid)
