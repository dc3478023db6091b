"""Namespace ``/ping``: the example of README, "Adding a namespace", and a clock for games.

A game client measures its round trip and the server's clock offset with it; the class
holds nothing but its event, everything else comes from :class:`PlaywireNamespace`.
"""

from __future__ import annotations

from playwire.clock import now_ms
from playwire.socketio.base import PlaywireNamespace, Session


class PingNamespace(PlaywireNamespace):
    def on_ping(self, session: Session, data: dict) -> dict:
        """A client sends ``{}`` (any fields) with an ack; the ack carries the server time."""
        return {"server_time": now_ms()}
