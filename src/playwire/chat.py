"""The chat store: messages stamped by the server, kept in the database for history."""

from __future__ import annotations

from typing import Optional

from sqlalchemy import insert, select

from playwire.clock import now_ms
from playwire.database import Database
from playwire.errors import INVALID_MESSAGE, EventError
from playwire.identity import Member
from playwire.models import ChatMessage


def message_text(payload: dict, max_length: int) -> str:
    """The payload's ``message``: a non-empty string of at most ``max_length`` characters."""
    text = payload.get("message")
    if not isinstance(text, str) or not text or len(text) > max_length:
        rule = f"message must be a non-empty string of at most {max_length} characters"
        raise EventError(INVALID_MESSAGE, rule)
    return text


class ChatStore:
    """Appends messages and reads back the most recent ones."""

    def __init__(self, db: Database, history_size: int) -> None:
        self.db = db
        self.history_size = history_size
        self._insert = insert(ChatMessage).returning(ChatMessage.id)

    def post(self, author: Member, text: str, room: Optional[str] = None) -> dict:
        """Store a message from ``author`` (to ``room``, or to everyone); its public form,
        with id and server timestamp, and ``room`` only if it has one."""
        message = {
            "user_id": author.id,
            "username": author.username,
            "message": text,
            "timestamp": now_ms(),
        }
        with self.db.transaction() as connection:
            row = {**message, "room": room}
            message_id = connection.execute(self._insert, row).scalar_one()
        if room is not None:
            message["room"] = room
        return {"id": message_id, **message}

    def history(self, room: Optional[str] = None) -> list[dict]:
        """The last ``history_size`` messages of ``room`` (None: the global chat, which
        holds no room's messages), oldest first."""
        if self.history_size == 0:
            return []
        in_room = ChatMessage.room.is_(None) if room is None else ChatMessage.room == room
        columns = [getattr(ChatMessage, name) for name in HISTORY_COLUMNS]
        query = (
            select(*columns).where(in_room).order_by(ChatMessage.id.desc()).limit(self.history_size)
        )
        # Core, not the ORM: every connect to /chat reads this (0.3 ms against 1 ms).
        with self.db.transaction() as connection:
            newest_first = connection.execute(query).all()
        return [_public(row) for row in reversed(newest_first)]


HISTORY_COLUMNS = ("id", "user_id", "username", "message", "timestamp", "room")


def _public(row) -> dict:
    """A history row as clients see it: ``room`` only when it has one."""
    message = dict(zip(HISTORY_COLUMNS, row))
    if message["room"] is None:
        del message["room"]
    return message
