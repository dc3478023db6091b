"""Namespace ``/chat``: the conversation of everyone, and of each room, with stored history
(docs/protocol.md, "`/chat`" and "Rooms")."""

from __future__ import annotations

from typing import Optional

from playwire.chat import message_text
from playwire.rooms import names_a_room, room_of
from playwire.socketio.base import PlaywireNamespace, Session, held_ack


class ChatNamespace(PlaywireNamespace):
    def after_connect(self, session: Session) -> None:
        """A new session gets the recent history of the global chat, after ``presence``."""
        self.emit_to(session.sid, "history", {"messages": self.services.chat.history()})

    def after_join(self, session: Session, room: str) -> Optional[dict]:
        """The ``join`` ack carries the room's recent history."""
        return {"history": self.services.chat.history(room)}

    def on_message(self, session: Session, data: dict) -> dict:
        """A client posts ``{"message"}`` and every session in /chat gets the stored message;
        with ``"room"``, only the sessions in that room, which the sender must be in."""
        room = room_of(data) if names_a_room(data) else None
        to = self.require_room(session, room) if room is not None else None
        text = message_text(data, self.config.message_max_length)
        message = self.services.chat.post(session.member, text, room)
        if to is None:
            held = self.broadcast("message", message)
        else:
            held = self.emit_to(to, "message", message)
        return {"id": message["id"], "timestamp": message["timestamp"], **(held_ack(held) or {})}
