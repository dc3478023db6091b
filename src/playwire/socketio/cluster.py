"""What a cluster node runs besides its handlers: the presence keeper.

Every ``presence.interval`` seconds each node renews the expiry of its own sessions and
sweeps the sessions of nodes that stopped renewing theirs (killed, frozen, cut off from
Redis), then announces the users who left with them. The store's atomic sweep hands each
departure to exactly one node, so each is announced once.
"""

from __future__ import annotations

import logging

from flask_socketio import SocketIO

from playwire.errors import ServiceUnavailable
from playwire.presence import PresenceStore

log = logging.getLogger(__name__)


def start_presence_keeper(socketio: SocketIO, presence: PresenceStore) -> None:
    """Run :func:`keep_presence` in the background when the store needs it."""
    if presence.interval is not None:
        socketio.start_background_task(keep_presence, socketio, presence)


def keep_presence(socketio: SocketIO, presence: PresenceStore) -> None:
    """Refresh and expire forever; a Redis outage is logged once and waited out."""
    healthy = True
    while True:
        socketio.sleep(presence.interval)
        try:
            keep_presence_once(socketio, presence)
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


def keep_presence_once(socketio: SocketIO, presence: PresenceStore) -> None:
    for arrival in presence.refresh():
        socketio.server.emit("user_joined", arrival.member.to_json(), namespace=arrival.namespace)
    for departure in presence.expire():
        member = departure.member.to_json()
        socketio.server.emit("user_left", member, namespace=departure.namespace)
