"""The error codes of the contract and the one shape every error reply takes.

A Socket.IO handler raises :class:`EventError`; the base namespace turns it into the ack
``{"ok": false, "error", "message"}`` when the client asked for one, else into the ``error``
event ``{"event", "error", "message"}`` sent to the sending session only (docs/protocol.md,
"Rules for every event").
"""

from __future__ import annotations

# Socket.IO events (docs/protocol.md, "Rules for every event", "`/chat`", "`/forward`")
INVALID_PAYLOAD = "invalid_payload"
PAYLOAD_TOO_LARGE = "payload_too_large"
RATE_LIMITED = "rate_limited"
INVALID_MESSAGE = "invalid_message"
INVALID_TARGET = "invalid_target"
TARGET_OFFLINE = "target_offline"
UNAVAILABLE = "unavailable"
UNKNOWN_EVENT = "unknown_event"
INTERNAL_ERROR = "internal_error"

# Rooms (docs/protocol.md, "Rooms")
INVALID_ROOM = "invalid_room"
TOO_MANY_ROOMS = "too_many_rooms"
ROOM_FULL = "room_full"
NOT_IN_ROOM = "not_in_room"

# HTTP API (docs/protocol.md, "HTTP API")
INVALID_JSON = "invalid_json"
INVALID_USERNAME = "invalid_username"
INVALID_PASSWORD = "invalid_password"
USERNAME_TAKEN = "username_taken"
INVALID_CREDENTIALS = "invalid_credentials"
UNAUTHENTICATED = "unauthenticated"
NOT_FOUND = "not_found"
METHOD_NOT_ALLOWED = "method_not_allowed"
TOO_MANY_ATTEMPTS = "too_many_attempts"

# Connection refusals: the `message` of `connect_error` (docs/protocol.md, "Connecting with
# Socket.IO")
AUTHENTICATION_REQUIRED = "authentication required"
INVALID_TOKEN = "invalid token"
TOKEN_EXPIRED = "token expired"


class PlaywireError(Exception):
    """A failure with a code of the contract and a sentence for the developer."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class EventError(PlaywireError):
    """A Socket.IO event that cannot be carried out; answered to its sender only."""

    def ack(self) -> dict:
        return {"ok": False, "error": self.code, "message": self.message}


class ServiceUnavailable(PlaywireError):
    """The database or the message queue cannot be reached right now."""

    def __init__(self, message: str = "a backing service is unreachable; try again") -> None:
        super().__init__(UNAVAILABLE, message)
