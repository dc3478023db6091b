"""The message queue of a cluster: python-socketio's Redis manager, made to tell failures.

python-socketio's :class:`~socketio.RedisManager` delivers an emit to this node's clients,
then publishes it for the other nodes, and when Redis is away it logs and carries on, so a
handler cannot know that its emit reached no other node. This manager

- publishes first and raises :class:`~playwire.errors.ServiceUnavailable` when it cannot,
  before delivering anything: the event is answered ``unavailable`` and reached no one;
- publishes and listens on separate connections, so a failed publish does not tear down
  the subscription, and the listener retries every few seconds at most, not up to a minute.

Delivery stays at most once: what other nodes publish while this node's subscription is
down is lost for this node's clients.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import socketio as python_socketio
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from playwire.errors import ServiceUnavailable
from playwire.presence.redis import connect
from playwire.socketio.manager import AcceptedParticipants

log = logging.getLogger(__name__)

LISTEN_RETRY_MAX = 2.0


class PlaywireRedisManager(AcceptedParticipants, python_socketio.RedisManager):
    def __init__(self, url: str, channel: str = "flask-socketio") -> None:
        super().__init__(url, channel=channel)
        self._publisher = connect(url, socket_timeout=5)
        #: Whether this node is subscribed, i.e. receives what other nodes publish.
        self.subscribed = False

    def emit(
        self,
        event,
        data,
        namespace=None,
        room=None,
        skip_sid=None,
        callback=None,
        to=None,
        **kwargs,
    ):
        """Publish, then deliver here; raise ServiceUnavailable if it cannot be published."""
        room = to or room
        if kwargs.get("ignore_queue") or callback is not None:
            return super().emit(
                event,
                data,
                namespace=namespace,
                room=room,
                skip_sid=skip_sid,
                callback=callback,
                **kwargs,
            )
        message = {
            "method": "emit",
            "event": event,
            "data": list(data) if isinstance(data, tuple) else [data],
            "binary": False,
            "namespace": namespace or "/",
            "room": room,
            "skip_sid": skip_sid,
            "callback": None,
            "host_id": self.host_id,
        }
        self._publish(message)
        self._handle_emit(message)
        return None

    def _publish(self, data: Any) -> Any:
        try:
            return self._publisher.publish(self.channel, self.json.dumps(data))
        except RedisError as exc:
            raise ServiceUnavailable(
                "the message queue (Redis) cannot be reached; try again"
            ) from exc

    def _redis_listen_with_retries(self):
        delay = 0.25
        while True:
            # Bytes, as python-socketio's _listen() compares channel names as bytes. No retry
            # inside redis-py: its reconnect-and-resubscribe can end up subscribed to nothing
            # (seen when Redis restarts), so every failure comes here for a fresh start.
            client = connect(
                self.redis_url,
                socket_keepalive=True,
                decode_responses=False,
                retry=Retry(NoBackoff(), 0),
            )
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self.channel)
                self.pubsub = pubsub
                self.subscribed = True
                log.info("subscribed to the message queue")
                delay = 0.25
                yield from pubsub.listen()
            except RedisError as exc:
                self.subscribed = False  # at once: the presence keeper reads it meanwhile
                pubsub.close()
                client.close()
                log.warning("message queue unreachable (%s); retrying in %.2fs", exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, LISTEN_RETRY_MAX)
