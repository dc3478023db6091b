"""Rooms: named groups of sessions inside a namespace (docs/protocol.md, "Rooms").

Free of any transport: the name rule, and the one way an event's ``room`` field is read.
"""

from __future__ import annotations

import re

from playwire.errors import INVALID_ROOM, EventError

ROOM_NAME = re.compile(r"[A-Za-z0-9_\-:.]{1,64}")


def room_of(payload: dict) -> str:
    """The payload's ``room``: 1-64 characters of ``A-Z a-z 0-9 _ - : .``."""
    room = payload.get("room")
    if not isinstance(room, str) or not ROOM_NAME.fullmatch(room):
        raise EventError(INVALID_ROOM, "room must be 1-64 characters of A-Z a-z 0-9 _ - : .")
    return room


def names_a_room(payload: dict) -> bool:
    """Whether the event addresses a room: it has a ``room`` field, whatever its value."""
    return "room" in payload
