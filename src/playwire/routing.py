"""Which channel of the message queue an emit travels on, and which channels this node
holds (docs/cluster.md, "What travels where").

A cluster node receives only what its own sessions need:

- ``<queue>:{<namespace>}``: the namespace's broadcasts (chat without a room, presence
  events), emits to one session id (only the node holding it delivers), python-socketio's
  own requests between nodes and a session handover's messages. Every node holds it for as
  long as it runs;
- ``<queue>:{<namespace>}:user:<id>``: what is sent to a user's sessions (forwards), held
  while a session of that user is on this node, subscribed before the session is announced;
- ``<queue>:{<namespace>}:room:<name>``: a room's messages and presence, held while a session
  of this node is in the room, and ``--unsubscribe-delay`` seconds after the last one left,
  so that leaving and joining again does not churn;
- ``<queue>`` itself (python-socketio's ``flask-socketio``): the emits of namespaces that are
  not Playwire's (the Admin UI's).

The ``{<namespace>}`` hash tag keeps every channel of a namespace on one shard of a Redis
Cluster, with the namespace's presence keys. One subscriber connection reads them all, in the
order Redis ran the publishes: a session handover's ``release``, published on the
namespace's channel, reaches its holder after every event published before it on any
channel of that session.
"""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any, Callable, Optional

from playwire.forwarding import room_channel, user_room
from playwire.redis_client import REDIS_ERRORS, Subscription

log = logging.getLogger(__name__)

#: The python-socketio rooms whose emits travel on a channel of their own.
USER_ROOMS = user_room(0)[:-1]
GAME_ROOMS = room_channel("")
ROUTED_ROOMS = (USER_ROOMS, GAME_ROOMS)
#: The kinds of channel, as counted in ``playwire_queue_received_total{channel}``.
KINDS = ("user", "room", "namespace", "other")


def namespace_channel(queue: str, namespace: str) -> str:
    """The channel of ``namespace``'s broadcasts, and the prefix of its other channels."""
    return f"{queue}:{{{namespace}}}"


def is_routed(room: Any) -> bool:
    """Whether emits to ``room`` travel on a channel of the room's own."""
    return isinstance(room, str) and room.startswith(ROUTED_ROOMS)


def kind_of(channel: bytes) -> str:
    """Which kind of channel ``channel`` (as Redis names it) is."""
    tag_end = channel.find(b"}:")  # namespaces have no braces; a room's name may
    if tag_end < 0:
        return "namespace" if channel.endswith(b"}") else "other"
    return "user" if channel.startswith(USER_ROOMS.encode(), tag_end + 2) else "room"


class Route:
    """One namespace's channels on this node, and the subscription that reads them.

    Its own channel always; a user's or a room's while :meth:`hold` says a session of this
    node needs it. The subscription is Redis's: it is replaced when the connection is lost
    (:meth:`attach` subscribes the new one to every channel held meanwhile).
    """

    def __init__(
        self, channel: str, unsubscribe_delay: float, later: Callable[[float, Callable], Any]
    ) -> None:
        self.channel = channel
        self.unsubscribe_delay = unsubscribe_delay
        self._later = later
        #: Channels held for local sessions (and those whose release is pending).
        self.held: set[str] = set()
        #: The pending release of each channel left by its last session, by channel.
        self._releases: dict[str, object] = {}
        self.subscription: Optional[Subscription] = None
        #: None until the subscription is first lost; then when publishing may resume.
        self.settled_at: Optional[float] = None

    def channels(self) -> list[str]:
        """Every channel the subscription must have."""
        return [self.channel, *self.held]

    def attach(self, subscription: Subscription) -> None:
        """Read through ``subscription`` from now on (made with :meth:`channels`); what was
        held while it was being made is subscribed too."""
        self.subscription = subscription
        for channel in list(self.held):
            self._subscribe(channel)

    def detach(self) -> None:
        self.subscription = None

    def ready(self) -> bool:
        """Subscribed, and past the settling time that follows a lost subscription."""
        settled_at = self.settled_at
        return self.subscription is not None and (
            settled_at is None or time.monotonic() >= settled_at
        )

    def hold(self, channel: str) -> None:
        """A local session needs ``channel``: subscribe, unless it is held (or its release
        is pending, then cancelled: no UNSUBSCRIBE and SUBSCRIBE again)."""
        self._releases.pop(channel, None)
        if channel not in self.held:
            self.held.add(channel)
            self._subscribe(channel)

    def release(self, channel: str, delay: float) -> None:
        """The last local session left ``channel``: unsubscribe after ``delay`` seconds (and
        what this node published before, see ``later``), unless it is held again meanwhile."""
        token = self._releases[channel] = object()
        self._later(delay, lambda: self._releases.get(channel) is token and self._drop(channel))

    def holds(self, channel: str) -> bool:
        """Whether Redis counts this node among ``channel``'s subscribers now: held, and
        its SUBSCRIBE confirmed. It goes on counting it until the release, which waits for
        this node's publishes made meanwhile (see the manager's ``later``)."""
        subscription = self.subscription
        if subscription is None or channel not in self.held or channel in self._releases:
            return False  # a channel being let go counts as not held: a publish is then spare
        return subscription.confirmed(channel)

    def confirmation(self, channel: str) -> Any:
        """The event set once Redis confirmed ``channel`` (None: not subscribed now)."""
        if self.subscription is None or channel not in self.held:
            return None
        try:
            return self.subscription.add(channel)
        except REDIS_ERRORS:
            return None

    def _drop(self, channel: str) -> None:
        self._releases.pop(channel, None)
        self.held.discard(channel)
        subscription = self.subscription
        if subscription is not None:
            # Redis away: the connection is lost, and the next one will not have it.
            with contextlib.suppress(*REDIS_ERRORS):
                subscription.remove(channel)

    def _subscribe(self, channel: str) -> None:
        subscription = self.subscription
        if subscription is not None:
            try:
                subscription.add(channel)
            except REDIS_ERRORS:  # the connection is lost: the next one subscribes it
                log.warning("cannot subscribe to %s now (Redis)", channel)
