"""What a cluster node runs besides its handlers: the presence keeper.

Every ``presence.interval`` seconds each node renews the expiry of its own sessions and
sweeps the sessions of nodes that stopped renewing theirs (killed, frozen, cut off from
Redis), then announces the users who left with them. The store's atomic sweep hands each
departure to exactly one node, so each is announced once.
"""

from __future__ import annotations

import logging
from typing import Any

from flask_socketio import SocketIO

from playwire.errors import ServiceUnavailable
from playwire.presence import PresenceStore

log = logging.getLogger(__name__)


def start_presence_keeper(socketio: SocketIO, presence: PresenceStore, queue: Any = None) -> None:
    """Run :func:`keep_presence` in the background when the store needs it."""
    if presence.interval is not None:
        socketio.start_background_task(keep_presence, socketio, presence, queue)


def keep_presence(socketio: SocketIO, presence: PresenceStore, queue: Any = None) -> None:
    """Refresh and expire forever; a Redis outage is logged once and waited out.

    While ``queue`` (the message queue's manager) is not subscribed, this node's sessions
    cannot receive what other nodes send them, so they are not refreshed: after a Redis
    restart they count as online again only once they are reachable.
    """
    healthy = True
    while True:
        socketio.sleep(presence.interval)
        try:
            keep_presence_once(socketio, presence, getattr(queue, "subscribed", True))
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


def keep_presence_once(socketio: SocketIO, presence: PresenceStore, reachable: bool) -> None:
    for arrival in presence.refresh() if reachable else []:
        socketio.server.emit("user_joined", arrival.member.to_json(), namespace=arrival.namespace)
    for departure in presence.expire():
        member = departure.member.to_json()
        socketio.server.emit("user_left", member, namespace=departure.namespace)
