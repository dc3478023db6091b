"""Checks every event's data passes before a handler sees it (docs/protocol.md, "Rules for every
event")."""

from __future__ import annotations

from playwire import jsonlib
from playwire.errors import INVALID_PAYLOAD, PAYLOAD_TOO_LARGE, EventError


def event_payload(args: tuple | list, limit: int) -> dict:
    """The event's single JSON object, within ``limit`` bytes of compact JSON."""
    if len(args) != 1 or not isinstance(args[0], dict):
        raise EventError(INVALID_PAYLOAD, "event data must be one JSON object")
    payload = args[0]
    try:
        size = jsonlib.encoded_size(payload)
    except (TypeError, ValueError) as exc:  # binary attachments are not JSON
        raise EventError(INVALID_PAYLOAD, "event data must be JSON, without binary data") from exc
    if size > limit:
        raise EventError(
            PAYLOAD_TOO_LARGE, f"event data is {size} bytes of JSON; the limit is {limit}"
        )
    return payload
