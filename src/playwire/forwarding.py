"""The relay's rules (docs/protocol.md, "`/forward`"), free of any transport."""

from __future__ import annotations

from typing import Any, Optional

from playwire.errors import INVALID_PAYLOAD, INVALID_TARGET, EventError

#: The longest keep-latest key (``"latest"``) a forward may carry.
LATEST_MAX_LENGTH = 64


def user_room(user_id: int) -> str:
    """The room holding every session of one user; always a string, never a bare int."""
    return f"user:{user_id}"


def room_channel(name: str) -> str:
    """The python-socketio room of a client-named room: apart from :func:`user_room`'s, so a
    room called ``user:5`` never reaches user 5's sessions."""
    return f"room:{name}"


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


def check_latest(payload: dict) -> None:
    """A ``latest`` key, if present, must be a string of at most 64 characters."""
    if "latest" in payload:
        latest = payload["latest"]
        if not isinstance(latest, str) or len(latest) > LATEST_MAX_LENGTH:
            raise EventError(INVALID_PAYLOAD, "latest must be a string of at most 64 characters")


def latest_tag(namespace: Optional[str], data: Any) -> Optional[tuple]:
    """The keep-latest tag of an outgoing event: ``(namespace, sender, key)`` for a
    ``forwarded`` message with ``latest``, else None. A recipient's unsent message with the
    same tag is replaced by the newer one (docs/protocol.md, *Keep-latest*). A recovery
    offset may follow the message (:mod:`playwire.recovery`)."""
    if not isinstance(data, list) or data[:1] != ["forwarded"]:
        return None
    if len(data) != 2 and not (len(data) == 3 and isinstance(data[2], str)):
        return None
    message = data[1]
    if not isinstance(message, dict):
        return None
    latest = message.get("latest")
    if not isinstance(latest, str):
        return None
    return (namespace, message.get("sender"), latest)
