"""Tables: users and chat messages.

The schema is made and changed by the migrations in ``playwire/migrations/versions``: a change
here needs a new revision there.
"""

from __future__ import annotations

from typing import Optional

from sqlalchemy import BigInteger, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(32))
    # Usernames are unique regardless of case, so "Alice" and "alice" cannot both exist.
    username_key: Mapped[str] = mapped_column(String(32), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[int] = mapped_column(BigInteger)


class ChatMessage(Base):
    __tablename__ = "chat_messages"
    # "The last N messages of a room" (and of the global chat, room NULL) reads this index.
    __table_args__ = (Index("ix_chat_messages_room_id", "room", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # No foreign key to users: a user authenticated by the game's own backend (a JWT) has no
    # row there. 64 bits, as a game's own user ids may be.
    user_id: Mapped[int] = mapped_column(BigInteger)
    # Usernames never change, so the message keeps its author's name and history needs no join.
    username: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)
    timestamp: Mapped[int] = mapped_column(BigInteger)
    # The room it was sent to; NULL for the namespace-wide chat.
    room: Mapped[Optional[str]] = mapped_column(String(64), nullable=True)

    def to_json(self) -> dict:
        message = {
            "id": self.id,
            "user_id": self.user_id,
            "username": self.username,
            "message": self.message,
            "timestamp": self.timestamp,
        }
        if self.room is not None:
            message["room"] = self.room
        return message
