"""Namespace ``/chat``: one room-wide conversation with stored history (docs/protocol.md,
"`/chat`")."""

from __future__ import annotations

from playwire.chat import message_text
from playwire.socketio.base import PlaywireNamespace, Session


class ChatNamespace(PlaywireNamespace):
    def on_join(self, session: Session) -> None:
        """A new session gets the recent history, after ``presence``."""
        self.emit_to(session.sid, "history", {"messages": self.services.chat.history()})

    def on_message(self, session: Session, data: dict) -> dict:
        """A client posts ``{"message"}``; every session in /chat gets the stored message."""
        text = message_text(data, self.config.message_max_length)
        message = self.services.chat.post(session.member, text)
        self.broadcast("message", message)
        return {"id": message["id"], "timestamp": message["timestamp"]}
