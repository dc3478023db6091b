"""The relay's rules (docs/protocol.md, "`/forward`"), free of any transport."""

from __future__ import annotations

from playwire.errors import INVALID_TARGET, EventError


def user_room(user_id: int) -> str:
    """The room holding every session of one user; always a string, never a bare int."""
    return f"user:{user_id}"


def target_of(payload: dict) -> int:
    """The payload's ``target`` user id; booleans, floats, strings and null are not ids."""
    target = payload.get("target")
    if type(target) is not int:
        raise EventError(INVALID_TARGET, "target must be the integer id of a user")
    return target


def stamped(payload: dict, sender_id: int) -> dict:
    """The forwarded object: the sender's fields, with ``sender`` set by the server."""
    message = dict(payload)
    message["sender"] = sender_id
    return message


def recipient_rooms(sender_id: int, target_id: int) -> list[str]:
    """The target's sessions and the sender's own; one room when they are the same user."""
    if sender_id == target_id:
        return [user_room(sender_id)]
    return [user_room(target_id), user_room(sender_id)]
