"""The chat store: messages stamped by the server, kept in the database for history."""

from __future__ import annotations

import threading
from collections import OrderedDict
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
    """Appends messages and reads back the most recent ones.

    With ``cached_rooms`` (a single node, the database's only writer) the recent history of
    the global chat and of that many rooms (the most recently read) is also kept in memory:
    every connect to ``/chat`` reads the global history, and a database query per connect
    was a third of a connect's CPU. A cluster node reads the database every time, as the
    other nodes write to it too.
    """

    def __init__(self, db: Database, history_size: int, cached_rooms: int = 0) -> None:
        self.db = db
        self.history_size = history_size
        self._insert = insert(ChatMessage).returning(ChatMessage.id)
        self._cache = RecentMessages(cached_rooms + 1) if cached_rooms > 0 else None

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
        stored = {"id": message_id, **message}
        if self._cache is not None:
            self._cache.add(room, stored, self.history_size)
        return stored

    def history(self, room: Optional[str] = None) -> list[dict]:
        """The last ``history_size`` messages of ``room`` (None: the global chat, which
        holds no room's messages), oldest first."""
        if self.history_size == 0:
            return []
        if self._cache is None:
            return self._read_history(room)
        return self._cache.get(room, self._read_history)

    def _read_history(self, room: Optional[str]) -> list[dict]:
        in_room = ChatMessage.room.is_(None) if room is None else ChatMessage.room == room
        columns = [getattr(ChatMessage, name) for name in HISTORY_COLUMNS]
        query = (
            select(*columns).where(in_room).order_by(ChatMessage.id.desc()).limit(self.history_size)
        )
        # Core, not the ORM: every connect to /chat reads this (0.3 ms against 1 ms).
        with self.db.transaction() as connection:
            newest_first = connection.execute(query).all()
        return [_public(row) for row in reversed(newest_first)]


class RecentMessages:
    """The recent messages of the most recently read rooms (None: the global chat), oldest
    first, each list as long as the history; a room read for the first time is loaded from
    the database, and the least recently read one is forgotten beyond ``rooms``.

    A message stored while its room's history is being loaded may be in what the database
    returned or not: :meth:`add` keeps each id once, in id order.
    """

    def __init__(self, rooms: int) -> None:
        self.rooms = rooms
        self._recent: OrderedDict[Optional[str], list[dict]] = OrderedDict()
        self._lock = threading.Lock()  # gevent's, under monkey-patching

    def get(self, room: Optional[str], load) -> list[dict]:
        with self._lock:
            recent = self._recent.get(room)
            if recent is None:
                recent = self._recent[room] = load(room)
                while len(self._recent) > self.rooms:
                    self._recent.popitem(last=False)
            else:
                self._recent.move_to_end(room)
            return list(recent)

    def add(self, room: Optional[str], message: dict, history_size: int) -> None:
        with self._lock:
            recent = self._recent.get(room)
            if recent is None or any(kept["id"] == message["id"] for kept in recent):
                return  # not cached: read from the database when it is
            recent.append(message)
            recent.sort(key=lambda kept: kept["id"])
            del recent[:-history_size]


HISTORY_COLUMNS = ("id", "user_id", "username", "message", "timestamp", "room")


def _public(row) -> dict:
    """A history row as clients see it: ``room`` only when it has one."""
    message = dict(zip(HISTORY_COLUMNS, row))
    if message["room"] is None:
        del message["room"]
    return message
