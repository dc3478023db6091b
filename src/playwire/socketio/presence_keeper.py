"""What a cluster node runs besides its handlers: the presence keeper.

Every ``presence.interval`` seconds each node renews the expiry of its own sessions and
sweeps the sessions of nodes that stopped renewing theirs (killed, frozen, cut off from
Redis), then announces the users who left with them, in the namespace and in its rooms (a
limited namespace, docs/protocol.md "Presence limit", hears of them only through
``presence_count``). The store's atomic sweep hands each
departure to exactly one node, so each is announced once; a departure is already gone from
the store when it is announced, so each announce stands on its own: one that fails is
logged, and the others are still sent.
"""

from __future__ import annotations

import logging
from typing import Any

import socketio as python_socketio

from playwire.errors import ServiceUnavailable
from playwire.forwarding import room_channel
from playwire.identity import Member
from playwire.presence import PresenceStore
from playwire.socketio.base import announce

log = logging.getLogger(__name__)


def start_presence_keeper(
    server: python_socketio.Server, presence: PresenceStore, queue: Any = None
) -> None:
    """Run :func:`keep_presence` in the background when the store needs it."""
    if presence.interval is not None:
        server.start_background_task(keep_presence, server, presence, queue)


def keep_presence(
    server: python_socketio.Server, presence: PresenceStore, queue: Any = None
) -> None:
    """Refresh and expire forever; a Redis outage is logged once and waited out.

    While ``queue`` (the message queue's manager) is not subscribed, this node's sessions
    cannot receive what other nodes send them, so they are not refreshed: after a Redis
    restart they count as online again only once they are reachable.
    """
    healthy = True
    while True:
        server.sleep(presence.interval)
        try:
            keep_presence_once(server, presence, getattr(queue, "subscribed", True))
        except ServiceUnavailable as exc:
            if healthy:
                log.warning("presence keeper paused: %s", exc.message)
            healthy = False
            continue
        except Exception:
            log.exception("presence keeper failed; trying again")
            continue
        if not healthy:
            log.info("presence keeper resumed")
        healthy = True


def keep_presence_once(
    server: python_socketio.Server, presence: PresenceStore, reachable: bool
) -> None:
    """One renewal and one sweep, each change announced on its own.

    A store failure (Redis away) raises :class:`ServiceUnavailable` before anything is
    announced; a failed announce loses that announce only.
    """
    news: dict[str, list[tuple[str, Member]]] = {}
    back_in_rooms = []  # announced after the namespaces' arrivals, as a join would be
    for arrival in presence.refresh() if reachable else []:
        if arrival.room is None:
            news.setdefault(arrival.namespace, []).append(("user_joined", arrival.member))
        else:
            back_in_rooms.append(arrival)
    for gone in presence.expire():
        if gone.room is None:
            news.setdefault(gone.namespace, []).append(("user_left", gone.member))
            continue
        _announce_in_room(server, gone.namespace, "user_left", gone.member, gone.room)
    for namespace, events in news.items():
        _announce_namespace(server, presence, namespace, events)
    for arrival in back_in_rooms:
        _announce_in_room(server, arrival.namespace, "user_joined", arrival.member, arrival.room)


def _announce_namespace(
    server: python_socketio.Server, presence: PresenceStore, namespace: str, events: list
) -> None:
    """Announce arrivals and departures, or the switch across the limit they brought."""
    census = presence.census(namespace)
    handler = server.namespace_handlers.get(namespace)
    if census.switched and hasattr(handler, "announce_switch"):
        handler.announce_switch(census)
    elif not census.limited:
        for event, member in events:
            _announce_alone(server, namespace, event, member.to_json())


def _announce_in_room(
    server: python_socketio.Server, namespace: str, event: str, member: Member, room: str
) -> None:
    data = {**member.to_json(), "room": room}
    _announce_alone(server, namespace, event, data, to=room_channel(room))


def _announce_alone(
    server: python_socketio.Server, namespace: str, event: str, data: dict, to: Any = None
) -> None:
    try:
        announce(server, namespace, event, data, to=to)
    except Exception:  # the sweep removed it already: the next changes must still go out
        log.exception("announcing %s of user %s in %s failed", event, data.get("id"), namespace)
