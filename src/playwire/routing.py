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

A forward between users whose every session is on this node asks Redis nothing: each node
knows which other nodes hold the user channels it holds (:class:`Holders`), told on those
channels themselves.

The ``{<namespace>}`` hash tag keeps every channel of a namespace on one shard of a Redis
Cluster, with the namespace's presence keys. One subscriber connection reads them all, in the
order Redis ran the publishes: a session handover's ``release``, published on the
namespace's channel, reaches its holder after every event published before it on any
channel of that session.
"""

from __future__ import annotations

import contextlib
import logging
import threading
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
#: How the nodes' messages about who holds a user's channel begin (:class:`Holders`); not
#: JSON, so that upstream's dispatch would ignore them.
HOLDERS_PREFIX = b"playwire-holders:"
#: Seconds a node waits for the other holders of a user's channel to hear that it holds it.
HOLD_TIMEOUT = 2.0


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


class _Exchange:
    """One ``hold`` told on a channel, and the answers of the nodes that heard it."""

    __slots__ = ("answered", "done", "expected", "valid")

    def __init__(self) -> None:
        #: How many other nodes heard the ``hold`` (None until PUBLISH says).
        self.expected: Optional[int] = None
        self.answered: set[bytes] = set()
        self.done = threading.Event()
        #: Whether the exchange ended as itself, not cancelled by a lost subscription.
        self.valid = False

    def check(self) -> None:
        if self.expected is not None and len(self.answered) >= self.expected:
            self.done.set()


class Holders:
    """Which other nodes hold each user's channel this node holds, so that a forward
    between users held only here is delivered at once, as a single node does, with no
    publish and no round trip (docs/cluster.md, "Forwards that stay on a node").

    The nodes tell each other on the user's channel itself, in messages that begin with
    :data:`HOLDERS_PREFIX`:

    - ``hold H``: node H holds the channel now, its SUBSCRIBE confirmed. PUBLISH counts who
      heard it; each of them notes H as a holder and answers;
    - ``holding A H`` or ``gone A H``: node A answers H's ``hold``, holding the channel or
      letting it go;
    - ``release H``: H let the channel go.

    A session is announced only once every node that heard its node's ``hold`` answered
    (:meth:`announce`): none of them delivers a forward for that user alone from then on,
    and what they publish on the channel reaches the new session. A node that is unsure (an
    announce that timed out, a subscription lost and not announced again since) counts the
    channel as held elsewhere too, and publishes, as it did before it knew.
    """

    def __init__(
        self, host: str, tell: Callable[[str, bytes], int], spawn: Callable[..., Any]
    ) -> None:
        self.host = host.encode()
        #: Publishes a message on a channel; how many subscribers received it (blocking).
        self._tell = tell
        self._spawn = spawn
        #: The other nodes known to hold each channel this node holds.
        self.others: dict[str, set[bytes]] = {}
        #: The channels whose other holders are known: announced on this subscription.
        self.known: set[str] = set()
        self._exchanges: dict[str, _Exchange] = {}

    def alone(self, channel: str) -> bool:
        """Whether no other node is known to hold ``channel`` (announced, none answered)."""
        return channel in self.known and not self.others.get(channel)

    def start(self, channel: str) -> None:
        """This node holds ``channel`` from now on (subscribing): nothing known yet."""
        self._cancel(channel)
        self.known.discard(channel)
        self.others[channel] = set()

    def stop(self, channel: str) -> None:
        """This node has let ``channel`` go (unsubscribed): tell its other holders."""
        self._cancel(channel)
        self.known.discard(channel)
        self.others.pop(channel, None)
        with contextlib.suppress(*REDIS_ERRORS):  # away: they go on counting this node
            self._tell(channel, HOLDERS_PREFIX + b"release " + self.host)

    def forget(self) -> None:
        """The subscription is lost: what came on it meanwhile is missing. Unsure of all."""
        for channel in list(self._exchanges):
            self._cancel(channel)
        self.known.clear()
        self.others.clear()

    def announce(self, channel: str, timeout: float = HOLD_TIMEOUT) -> bool:
        """Tell ``channel``'s other holders that this node holds it (subscribed: Redis
        confirmed it) and learn who they are; return once all answered, or after
        ``timeout`` (then unsure of it). False if they could not be told: Redis failed, or
        the subscription was lost meanwhile."""
        if channel in self.known:
            return True
        exchange = self._exchanges.get(channel)
        if exchange is None:
            exchange = self._exchanges[channel] = _Exchange()
            try:
                heard = self._tell(channel, HOLDERS_PREFIX + b"hold " + self.host)
            except REDIS_ERRORS:
                heard = 0
            if heard < 1:  # not even this node heard it: not subscribed after all
                self._cancel(channel)
                return False
            exchange.expected = heard - 1  # this node heard it too
            exchange.check()
        exchange.done.wait(timeout)
        if self._exchanges.get(channel) is exchange:  # the first to wake ends it
            del self._exchanges[channel]
            exchange.valid = True
            if exchange.done.is_set():
                self.known.add(channel)
            else:
                log.warning(
                    "%d of %d other holders of %s answered within %.1fs: its forwards are"
                    " published",
                    len(exchange.answered),
                    exchange.expected,
                    channel,
                    timeout,
                )
        return exchange.valid

    def announce_all(self, channels: list[str]) -> None:
        """:meth:`announce` each of ``channels`` again (after a subscription came back)."""
        for channel in channels:
            self._spawn(self.announce, channel)

    def heard(self, channel: str, data: bytes, holding: bool) -> None:
        """Read ``data``, one of the nodes' messages, that came on ``channel`` (which this
        node holds, if ``holding``). It runs in the subscription's reader, before whatever
        comes after it on any channel: a ``hold`` is noted before anything else is read."""
        kind, _, rest = data[len(HOLDERS_PREFIX) :].partition(b" ")
        sender, _, to = rest.partition(b" ")
        if sender == self.host:
            return
        if holding and kind in (b"hold", b"holding"):
            self.others.setdefault(channel, set()).add(sender)
        if kind == b"hold":
            answer = b"holding " if holding else b"gone "
            self._spawn(self._answer, channel, HOLDERS_PREFIX + answer + self.host + b" " + sender)
        elif kind == b"release":
            others = self.others.get(channel)
            if others:
                others.discard(sender)
        elif to == self.host:
            exchange = self._exchanges.get(channel)
            if exchange is not None:
                exchange.answered.add(sender)
                exchange.check()

    def _answer(self, channel: str, answer: bytes) -> None:
        with contextlib.suppress(*REDIS_ERRORS):  # the asking node then stays unsure
            self._tell(channel, answer)

    def _cancel(self, channel: str) -> None:
        exchange = self._exchanges.pop(channel, None)
        if exchange is not None:
            exchange.done.set()


class Route:
    """One namespace's channels on this node, and the subscription that reads them.

    Its own channel always; a user's or a room's while :meth:`hold` says a session of this
    node needs it. The subscription is Redis's: it is replaced when the connection is lost
    (:meth:`attach` subscribes the new one to every channel held meanwhile).
    """

    def __init__(
        self,
        channel: str,
        unsubscribe_delay: float,
        later: Callable[[float, Callable], Any],
        holders: Optional[Holders] = None,
    ) -> None:
        self.channel = channel
        self.unsubscribe_delay = unsubscribe_delay
        self._later = later
        #: Who else holds the users' channels held here (a namespace of Playwire's).
        self.holders = holders
        self._users = f"{channel}:{USER_ROOMS}"
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
        if self.holders is not None:
            self.holders.forget()

    def users_held(self) -> list[str]:
        """The users' channels held here."""
        return [channel for channel in self.held if channel.startswith(self._users)]

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
            if self._tracks(channel):
                self.holders.start(channel)
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

    def alone(self, channel: str) -> bool:
        """Whether this node holds the user's ``channel`` and knows that no other node does:
        what is sent to that user needs no publish (:class:`Holders`)."""
        holders = self.holders
        return (
            holders is not None
            and holders.alone(channel)
            and channel in self.held
            and channel not in self._releases
        )

    def heard(self, channel: bytes, data: bytes) -> None:
        """One of the nodes' messages about who holds ``channel`` (:class:`Holders`)."""
        if self.holders is not None:
            name = channel.decode("utf-8")
            self.holders.heard(name, data, name in self.held)

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
        if self._tracks(channel):
            self.holders.stop(channel)  # last: it waits for Redis, and it may be held again

    def _tracks(self, channel: str) -> bool:
        """Whether ``channel`` is a user's, whose other holders this route keeps track of."""
        return self.holders is not None and channel.startswith(self._users)

    def _subscribe(self, channel: str) -> None:
        subscription = self.subscription
        if subscription is not None:
            try:
                subscription.add(channel)
            except REDIS_ERRORS:  # the connection is lost: the next one subscribes it
                log.warning("cannot subscribe to %s now (Redis)", channel)
