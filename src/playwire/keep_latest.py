"""Keep-latest's tag, carried from a ``forwarded`` event to the transports that queue it.

A forward with ``"latest": KEY`` is tagged ``(namespace, sender, KEY)`` once, when its
Socket.IO packet is encoded (:class:`playwire.upstream.socketio.JsonPacket`): the encoded
string is a :class:`Tagged` ``str``, which Engine.IO wraps unchanged in its packet. Each
recipient's queue (:class:`playwire.websocket.Outbox`, or Engine.IO's own for long-polling)
reads the tag with :func:`latest_of` and drops its unsent packet with the same tag.
"""

from __future__ import annotations

from typing import Any, Optional


class Tagged(str):
    """An encoded Socket.IO packet that says which earlier unsent one it replaces."""

    __slots__ = ("latest",)

    def __new__(cls, encoded: str, latest: tuple) -> Tagged:
        tagged = super().__new__(cls, encoded)
        tagged.latest = latest
        return tagged


def latest_of(pkt: Any) -> Optional[tuple]:
    """The keep-latest tag of an Engine.IO packet that carries a :class:`Tagged` message."""
    data = pkt.data
    return data.latest if type(data) is Tagged else None  # on every send: no getattr miss
