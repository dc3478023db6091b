"""Who a broadcast reaches: the sessions whose connection was accepted.

python-socketio counts a session as a member of its namespace's rooms from the moment its
connect handler starts. Playwire's connect handler waits on presence (Redis, on a cluster
node), and a broadcast arriving meanwhile would reach the client ahead of its CONNECT and
its ``presence``: a user's second tab would hear of the user's own arrival first. So a
session still being connected is left out of broadcasts; what it needs to know it gets in
``presence`` and ``history`` once accepted.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import socketio as python_socketio


class AcceptedParticipants:
    """A mixin for python-socketio managers (5.18.1, pinned): ``get_participants``, the
    recipients of every emit, skips sessions whose connect handler has not returned."""

    def get_participants(self, namespace: str, room: Any) -> Iterator[tuple[str, str]]:
        participants = super().get_participants(namespace, room)
        connecting = self.pending_connect.get(namespace)
        if not connecting:  # the usual case: no filter on a broadcast's hot loop
            return participants
        return ((sid, eio_sid) for sid, eio_sid in participants if sid not in connecting)


class PlaywireManager(AcceptedParticipants, python_socketio.Manager):
    """The manager of a single node."""
