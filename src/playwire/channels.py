"""The message queue's channels: what travels where on a cluster (docs/cluster.md, "What
travels where").

Free of any transport. A node subscribes to a channel only while it holds a session that
needs it, so a node receives only what its own sessions need:

- ``playwire:<namespace>:user:<id>``: forwards to a user (the python-socketio room of
  :func:`~playwire.forwarding.user_room`);
- ``playwire:<namespace>:room:<name>``: a room's messages and presence
  (:func:`~playwire.forwarding.room_channel`);
- ``playwire:<namespace>``: the namespace's broadcasts (chat without a room, presence events)
  and emits to one session id, which only the node holding it delivers;
- ``playwire:cluster``: python-socketio's own requests between nodes (disconnect a session of
  another node, acknowledgements), which every node hears.

Each name hashes on its own (no hash tag), so on Redis Cluster sharded pub/sub spreads the
channels over the shards.
"""

from __future__ import annotations

from typing import Any

from playwire.forwarding import room_channel, user_room

PREFIX = "playwire:"
#: The channel every node subscribes to for as long as it runs.
CONTROL_CHANNEL = PREFIX + "cluster"
#: The python-socketio rooms that travel on a channel of their own.
ROUTED_PREFIXES = (user_room(0)[:-1], room_channel(""))


def channel_of(namespace: str, room: Any = None) -> str:
    """The channel of an emit to ``room`` of ``namespace`` (None: everyone in it)."""
    if isinstance(room, str) and room.startswith(ROUTED_PREFIXES):
        return f"{PREFIX}{namespace}:{room}"
    return f"{PREFIX}{namespace}"


def is_user_room(room: Any) -> bool:
    """Whether ``room`` is a user's room, whose channel decides ``target_offline``."""
    return isinstance(room, str) and room.startswith(ROUTED_PREFIXES[0])


#: The kinds of channel, as counted in ``playwire_queue_received_total{channel}``.
KINDS = ("user", "room", "namespace", "cluster")


def kind_of(channel: bytes) -> str:
    """Which kind of channel ``channel`` (as Redis sends it) is."""
    if channel == CONTROL_BYTES:
        return "cluster"
    if USER_MARK in channel:
        return "user"
    if ROOM_MARK in channel:
        return "room"
    return "namespace"


CONTROL_BYTES = CONTROL_CHANNEL.encode()
USER_MARK = f":{ROUTED_PREFIXES[0]}".encode()
ROOM_MARK = f":{ROUTED_PREFIXES[1]}".encode()
