"""Overrides of python-socketio 5.18.1 (pinned): the server, the managers, the packet class.

- :class:`PlaywireServer`: python-socketio hides from an event handler whether its client
  asked for an acknowledgement, yet a failure is answered as an ack when one was asked for
  and as an ``error`` event otherwise (docs/protocol.md, "Rules for every event"). And
  events emitted from a connect handler would reach the client before its CONNECT packet.
  So for namespaces with a ``dispatch`` method (:class:`~playwire.socketio.base.PlaywireNamespace`)
  this server dispatches events itself, telling the namespace whether an ack is expected
  (and skipping Flask's per-event request context), and calls the namespace back once a
  connection is accepted, to send ``presence`` and the like.
- :class:`AcceptedParticipants`: who a broadcast reaches (sessions whose connection was
  accepted).
- :class:`CountingManager`: emits by a shorter path, counting the sessions reached
  (deliveries metric).
- :class:`RoomsBySession`: the rooms of each session, indexed (a disconnect was O(rooms)).
- :class:`PlaywireRedisManager`: the message queue of a cluster, in place of python-socketio's
  RedisManager: each emit on its room's channel, publishes pipelined, failures told.
- :class:`JsonPacket`: no scan for binary attachments; keep-latest forwards tagged.
- ``PlaywireServer._handle_eio_message``: a Socket.IO packet that cannot be decoded closes
  its sender's connection.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from time import perf_counter
from typing import Any, Callable, Optional

import socketio as python_socketio
from engineio import packet as eio_packet
from socketio import packet

from playwire import jsonlib
from playwire.channels import CONTROL_CHANNEL, KINDS, channel_of, kind_of
from playwire.errors import ServiceUnavailable
from playwire.forwarding import latest_tag, room_channel, user_room
from playwire.keep_latest import Tagged
from playwire.pubsub import Publisher, Subscriber
from playwire.upstream.engineio import EngineServer

log = logging.getLogger(__name__)

#: The upstream code these overrides copy or depend on, and its fingerprint (see
#: :func:`playwire.upstream.changed`).
UPSTREAM = {
    "socketio.base_server:BaseServer.__init__": "9fc899ce449365bf",
    "socketio.server:Server._engineio_server_class": "6472f8f4d03fa2b7",
    "socketio.server:Server._handle_event_internal": "915368374cbd50cb",
    "socketio.server:Server._handle_connect": "cf14174af23010de",
    "socketio.server:Server._send_packet": "3b96d77d90f42cc9",
    "socketio.packet:Packet.__init__": "156b2e4ab52d5991",
    "socketio.packet:Packet.encode": "36e1c163ae5e3170",
    "socketio.server:Server._handle_eio_message": "b9a79d2e0431c08c",
    "socketio.base_manager:BaseManager.get_participants": "776a87f004d59458",
    "socketio.manager:Manager.emit": "2489ccd82098f96d",
    "socketio.server:Server._send_eio_packet": "43cad76600843b2a",
    "engineio.server:Server.send_packet": "877479033668fc7e",
    "engineio.base_server:BaseServer._get_socket": "17b86295c8503e31",
    "socketio.base_manager:BaseManager.pre_connect": "82f01f4d18bec153",
    "socketio.base_manager:BaseManager.connect": "4413deaec40bf671",
    "socketio.base_manager:BaseManager.basic_enter_room": "fa8da34ee5ac5a9f",
    "socketio.base_manager:BaseManager.basic_leave_room": "b46dc3ede458d842",
    "socketio.base_manager:BaseManager.basic_disconnect": "9f87e7efa609a6d8",
    "socketio.base_manager:BaseManager.get_rooms": "89e5eb41db521e4b",
    "socketio.pubsub_manager:PubSubManager.emit": "6ad9ca74f66eb8c8",
    "socketio.pubsub_manager:PubSubManager._handle_emit": "7bd5e9446c351bfe",
    "socketio.redis_manager:RedisManager.__init__": "17a1030c0aa4ea56",
    "socketio.redis_manager:RedisManager._publish": "9cd5fe11bd7bb670",
    "socketio.redis_manager:RedisManager._redis_listen_with_retries": "0ac88439246ae822",
    "socketio.redis_manager:RedisManager._listen": "4ad0b88b40258856",
    "socketio.pubsub_manager:PubSubManager.__init__": "aa8a7cee8a3674b0",
    "socketio.pubsub_manager:PubSubManager._thread": "ed30746a99724669",
    "socketio.pubsub_manager:PubSubManager._publish": "b02e0f1615dbbf0e",
    "socketio.pubsub_manager:PubSubManager._handle_callback": "ba88a586975fef7b",
    "socketio.pubsub_manager:PubSubManager._handle_disconnect": "f3fae3806bc17a34",
    "socketio.pubsub_manager:PubSubManager._handle_enter_room": "04c23329aced0f9b",
    "socketio.pubsub_manager:PubSubManager._handle_leave_room": "802dd2b2636b24c0",
    "socketio.pubsub_manager:PubSubManager._handle_close_room": "a1996a37ebdf8326",
}


class JsonPacket(packet.Packet):
    """A Socket.IO packet that never carries binary attachments.

    Event data is JSON by contract (binary data from a client is refused as
    ``invalid_payload``), so the scan python-socketio makes of every outgoing payload, looking
    for bytes to send as attachments, is wasted work on the relay's hot path. Incoming binary
    packets are still decoded, so that they can be refused properly.
    """

    # Replaces Packet.uses_binary_events (True), read by Packet.__init__ of python-socketio
    # 5.18.1: the scan of every payload for bytes is wasted on JSON-only events.
    uses_binary_events = False

    # Extends Packet.encode of python-socketio 5.18.1: a forward with "latest" comes out as a
    # Tagged str, which Engine.IO wraps unchanged, so each recipient's queue can replace it.
    def encode(self):
        encoded = super().encode()
        latest = latest_tag(self.namespace, self.data) if self.packet_type == packet.EVENT else None
        return encoded if latest is None else Tagged(encoded, latest)


class PlaywireServer(python_socketio.Server):
    """python-socketio's server, with the dispatch and connect hooks of Playwire's namespaces.

    It runs under gevent only: its Engine.IO server writes WebSockets from the event loop.
    """

    # Replaces Server._engineio_server_class of python-socketio 5.18.1 (the seam meant for
    # it): Engine.IO's WebSocket writes go through an outbox (playwire.upstream.engineio).
    def _engineio_server_class(self):
        return EngineServer

    # Extends Server._handle_eio_message of python-socketio 5.18.1, whose decoding errors
    # python-engineio logs as its own and which leaves the connection open: here they
    # close the sender's connection (without waiting: a long-polling client may never
    # fetch the CLOSE packet), logged as a warning.
    def _handle_eio_message(self, eio_sid, data):
        try:
            return super()._handle_eio_message(eio_sid, data)
        except Exception as exc:  # what the packet's sender did wrong, not this server
            log.warning("closing %s: bad Socket.IO packet (%r)", eio_sid, exc)
            socket = self.eio.sockets.get(eio_sid)
            if socket is not None:
                socket.close(wait=False, reason=self.reason.SERVER_DISCONNECT)
            return None

    def _playwire_namespace(self, namespace: str | None) -> Any:
        handler = self.namespace_handlers.get(namespace or "/")
        return handler if hasattr(handler, "dispatch") else None

    # Replaces Server._handle_event_internal of python-socketio 5.18.1 for Playwire's
    # namespaces: they are told whether an ack is expected, and skip Flask's request context.
    def _handle_event_internal(self, server, sid, eio_sid, data, namespace, id):
        handler = self._playwire_namespace(namespace)
        if handler is None:
            return super()._handle_event_internal(server, sid, eio_sid, data, namespace, id)
        reply = handler.dispatch(sid, data[0], data[1:], wants_ack=id is not None)
        if id is not None:
            ack = self.packet_class(packet.ACK, namespace=namespace, id=id, data=[reply])
            server._send_packet(eio_sid, ack)
        return None

    # Extends Server._handle_connect of python-socketio 5.18.1: once the CONNECT packet is
    # sent, the namespace is called back, so what it sends arrives after the CONNECT.
    def _handle_connect(self, eio_sid, namespace, data):
        super()._handle_connect(eio_sid, namespace, data)
        handler = self._playwire_namespace(namespace)
        if handler is not None:
            sid = self.manager.sid_from_eio_sid(eio_sid, namespace or "/")
            if sid is not None and self.manager.is_connected(sid, namespace or "/"):
                handler.accepted(sid)


class AcceptedParticipants:
    """A mixin for python-socketio managers: broadcasts skip sessions still being connected.

    python-socketio counts a session as a member of its namespace's rooms from the moment its
    connect handler starts. Playwire's connect handler waits on presence (Redis, on a cluster
    node), and a broadcast arriving meanwhile would reach the client ahead of its CONNECT and
    its ``presence``: a user's second tab would hear of the user's own arrival first. What
    such a session needs to know it gets in ``presence`` and ``history`` once accepted.
    """

    # Extends BaseManager.get_participants of python-socketio 5.18.1, reading the
    # pending_connect its pre_connect/connect keep: emits skip sessions still connecting.
    def get_participants(self, namespace: str, room: Any) -> Iterator[tuple[str, str]]:
        participants = super().get_participants(namespace, room)
        connecting = self.pending_connect.get(namespace)
        if not connecting:  # the usual case: no filter on a broadcast's hot loop
            return participants
        return ((sid, eio_sid) for sid, eio_sid in participants if sid not in connecting)


class CountingManager(python_socketio.Manager):
    """Emits by a shorter path, adding each emit's number of local recipients to
    ``deliveries[namespace]`` (metrics on).

    The count costs one addition per recipient and one dict update per emit, where a
    prometheus-client counter would take a lock per recipient. Each recipient's packet goes
    straight to its Engine.IO socket: upstream's path per recipient is three calls deep
    (Server._send_eio_packet, engineio's Server.send_packet and _get_socket), and a
    broadcast to the first thousand users of a namespace runs it for every one of them.
    """

    deliveries: Optional[dict[str, int]] = None

    # Replaces Manager.emit of python-socketio 5.18.1 for emits without a callback: the same
    # packet built once and the same loop; each packet handed to the recipient's socket as
    # engineio's Server.send_packet and _get_socket would (a closed one is skipped), and a
    # count of the sessions reached.
    def emit(self, event, data, namespace, room=None, skip_sid=None, callback=None, to=None, **kw):
        if callback or namespace not in self.rooms:
            return super().emit(
                event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, to=to, **kw
            )
        room = to or room
        if isinstance(data, tuple):
            data = list(data)
        elif data is not None:
            data = [data]
        else:
            data = []
        if not isinstance(skip_sid, list):
            skip_sid = [skip_sid]
        encoded = self.server.packet_class(
            packet.EVENT, namespace=namespace, data=[event, *data]
        ).encode()
        if not isinstance(encoded, list):
            encoded = [encoded]
        eio_packets = [eio_packet.Packet(eio_packet.MESSAGE, p) for p in encoded]
        sockets = self.server.eio.sockets
        delivered = 0
        for sid, eio_sid in self.get_participants(namespace, room):
            if sid not in skip_sid:
                socket = sockets.get(eio_sid)
                if socket is None or socket.closed:
                    continue
                delivered += 1
                for pkt in eio_packets:
                    socket.send(pkt)
        counts = self.deliveries
        if counts is not None:
            counts[namespace] = counts.get(namespace, 0) + delivered
        return None


class RoomsBySession:
    """A mixin for python-socketio managers: an index from each session to its rooms.

    python-socketio's ``basic_disconnect`` and ``get_rooms`` scan every room of the
    namespace: O(rooms) per disconnect. Every session is in two rooms of its own (its sid,
    its user), so N sessions closing cost O(N²): 2,000 at once held the event loop for over
    ten seconds. The index is kept beside python-socketio's ``rooms`` on entering and leaving.
    """

    def _rooms_of(self) -> dict[tuple[str, str], set[Any]]:
        index = self.__dict__.get("_playwire_rooms_of")
        if index is None:
            index = self.__dict__["_playwire_rooms_of"] = {}
        return index

    # Extends BaseManager.basic_enter_room of python-socketio 5.18.1: records the room.
    def basic_enter_room(self, sid, namespace, room, eio_sid=None):
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        self._rooms_of().setdefault((namespace, sid), set()).add(room)

    # Extends BaseManager.basic_leave_room of python-socketio 5.18.1: forgets the room.
    def basic_leave_room(self, sid, namespace, room):
        super().basic_leave_room(sid, namespace, room)
        rooms = self._rooms_of().get((namespace, sid))
        if rooms is not None:
            rooms.discard(room)
            if not rooms:
                del self._rooms_of()[(namespace, sid)]

    # Replaces BaseManager.basic_disconnect of python-socketio 5.18.1 (copied): leaves the
    # session's own rooms from the index instead of scanning every room.
    def basic_disconnect(self, sid, namespace, **kwargs):
        if namespace not in self.rooms:
            return
        for room in list(self._rooms_of().get((namespace, sid), ())):
            self.basic_leave_room(sid, namespace, room)
        self.callbacks.pop(sid, None)
        for pending in (self.pending_connect, self.pending_disconnect):
            sids = pending.get(namespace)
            if sids is not None and sid in sids:
                sids.remove(sid)
                if not sids:
                    del pending[namespace]

    # Replaces BaseManager.get_rooms of python-socketio 5.18.1: read from the index.
    def get_rooms(self, sid, namespace):
        return [room for room in self._rooms_of().get((namespace, sid), ()) if room is not None]


class PlaywireManager(AcceptedParticipants, RoomsBySession, CountingManager):
    """The manager of a single node."""

    #: Whether :meth:`emit_if_received` knows if anyone received an emit (a cluster node).
    counts_receivers = False

    def subscribe_user(self, namespace: str, user_id: int) -> None:
        """A single node has no channels to subscribe to."""

    def unsubscribe_user(self, namespace: str, user_id: int) -> None:
        """A single node has no channels to unsubscribe from."""


class PlaywireRedisManager(
    AcceptedParticipants, RoomsBySession, python_socketio.PubSubManager, CountingManager
):
    """The message queue of a cluster: python-socketio's pub/sub manager, routed by channel.

    python-socketio's Redis manager puts every emit of every node on one channel, which
    every node reads and parses, and publishes with one blocking round trip per emit. This
    one keeps python-socketio's message format and its handling of each message, but sends
    each emit on the channel of its room (:func:`playwire.channels.channel_of`), to which a
    node subscribes only while it holds a session in that room
    (:class:`playwire.pubsub.Subscriber`), and pipelines the publishes of all greenlets
    (:class:`playwire.pubsub.Publisher`). The handling of each message received is
    PubSubManager's (``_handle_emit``, ``_handle_disconnect``, ...).

    An emit is published first and delivered here only once Redis confirmed it; if it cannot
    be published it raises :class:`~playwire.errors.ServiceUnavailable` and reached no one.
    Delivery stays at most once: what other nodes publish while this node's subscription is
    down is lost for this node's clients. CountingManager comes after PubSubManager in the
    MRO, so it counts what is delivered here, from this node's emits and the other nodes'.
    """

    counts_receivers = True

    # Replaces RedisManager.__init__ of python-socketio 5.18.1 (this class derives from
    # PubSubManager directly, extending its __init__): a pipelined publisher and a
    # subscriber of held channels instead of one redis-py client on one channel.
    def __init__(
        self,
        url: str,
        channel: str = "flask-socketio",
        time_publish: Optional[Callable[[float], None]] = None,
        linger: float = 5.0,
    ) -> None:
        super().__init__(channel=channel)
        self.redis_url = url
        self._prefix = self.host_id.encode()
        self.publisher = Publisher(url)
        self.subscriber = Subscriber(url, self._prefix, self._received)
        self.subscriber.keep(CONTROL_CHANNEL)
        #: Called with ``perf_counter()`` of each publish's start, once it is done.
        self.time_publish = time_publish
        #: Seconds a room's or namespace's channel stays subscribed after its last session.
        self.linger = linger
        #: Messages received from other nodes, by kind of channel
        #: (playwire_queue_received_total).
        self.received = dict.fromkeys(KINDS, 0)

    @property
    def subscribed(self) -> bool:
        """Whether this node receives what other nodes publish (read by the presence keeper)."""
        return self.subscriber.subscribed

    # Replaces PubSubManager._thread of python-socketio 5.18.1, which reads one channel
    # through _listen(): here the subscriber reads the held channels and hands each message
    # from another node to _received.
    def _thread(self) -> None:
        self.subscriber.run()

    # -- publishing ------------------------------------------------------------------------

    # Replaces PubSubManager.emit of python-socketio 5.18.1 (its message rebuilt, binary and
    # callbacks left out): publish on the rooms' channels first, deliver here only what was
    # published.
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
        message = self._message(event, data, namespace or "/", room, skip_sid)
        payload = self._encode(message)
        self._publish_on([(channel, payload) for channel in self._channels(message)])
        self._handle_emit(message)
        return None

    def emit_if_received(
        self, event: str, data: Any, namespace: str, rooms: list[str], skip_sid: Any = None
    ) -> bool:
        """Emit to ``rooms`` unless nobody holds the first one: then send nothing, return
        False. Exact because a node subscribes to a user's channel before the session joins
        presence and unsubscribes after it left; this node's own sessions count too."""
        message = self._message(event, data, namespace, rooms, skip_sid)
        payload = self._encode(message)
        channels = self._channels(message)
        if self.rooms.get(namespace, {}).get(rooms[0]):  # held here: no need to ask first
            self._publish_on([(channel, payload) for channel in channels])
        else:
            if self._publish_on([(channels[0], payload)])[0] == 0:
                return False
            self._publish_on([(channel, payload) for channel in channels[1:]])
        self._handle_emit(message)
        return True

    def _message(self, event: str, data: Any, namespace: str, room: Any, skip_sid: Any) -> dict:
        return {
            "method": "emit",
            "event": event,
            "data": list(data) if isinstance(data, tuple) else [data],
            "binary": False,
            "namespace": namespace,
            "room": room,
            "skip_sid": skip_sid,
            "callback": None,
            "host_id": self.host_id,
        }

    def _encode(self, message: dict) -> bytes:
        """What goes on the wire: the sending node's id, so it skips its own, then JSON."""
        return self._prefix + jsonlib.dumps(message).encode()

    def _channels(self, message: dict) -> list[bytes]:
        """The channels of an emit's rooms, each once, in the order of its rooms."""
        rooms = message["room"]
        namespace = message["namespace"]
        if not isinstance(rooms, list):
            return [channel_of(namespace, rooms).encode()]
        return list(dict.fromkeys(channel_of(namespace, room).encode() for room in rooms))

    def _publish_on(self, messages: list[tuple[bytes, bytes]]) -> list[int]:
        if not messages:
            return []
        started = perf_counter()
        try:
            return self.publisher.publish(messages)
        finally:
            if self.time_publish is not None:
                self.time_publish(started)

    # Replaces PubSubManager._publish (RedisManager._publish) of python-socketio 5.18.1,
    # which logs a failure and carries on: python-socketio's requests between nodes
    # (disconnect, rooms of another node's session, acknowledgements) go on the control
    # channel, and a failure raises.
    def _publish(self, data: Any) -> Any:
        return self._publish_on([(CONTROL_CHANNEL.encode(), self._encode(data))])[0]

    # -- receiving -------------------------------------------------------------------------

    def _received(self, channel: bytes, data: bytes) -> None:
        """A message another node published on a channel this node holds; dispatched as
        python-socketio's _thread does."""
        self.received[kind_of(channel)] += 1
        message = jsonlib.loads(data[len(self._prefix) :])
        method = message.get("method")
        if method == "emit":
            self._deliver(channel, message)
        elif method == "callback":
            self._handle_callback(message)
        elif method == "disconnect":
            self._handle_disconnect(message)
        elif method == "enter_room":
            self._handle_enter_room(message)
        elif method == "leave_room":
            self._handle_leave_room(message)
        elif method == "close_room":
            self._handle_close_room(message)

    def _deliver(self, channel: bytes, message: dict) -> None:
        """Deliver an emit to the rooms that travel on ``channel``. An emit to several rooms
        arrives once per channel: a session in several of them gets it from the channel of
        the first, as python-socketio delivers an emit to a list of rooms once per session."""
        rooms = message["room"]
        if isinstance(rooms, list) and len(rooms) > 1:
            namespace = message["namespace"]
            here = [room for room in rooms if channel_of(namespace, room).encode() == channel]
            if not here:
                return
            skip = message["skip_sid"]
            skip = [] if skip is None else list(skip) if isinstance(skip, list) else [skip]
            members = self.rooms.get(namespace, {})
            for earlier in rooms[: rooms.index(here[0])]:
                skip.extend(members.get(earlier, ()))
            message = {**message, "room": here, "skip_sid": skip}
        self._handle_emit(message)

    # -- holding channels ------------------------------------------------------------------

    def subscribe_user(self, namespace: str, user_id: int) -> None:
        """Hold the user's channel for one of its sessions; return once Redis confirmed it,
        and the namespace's channel (call it before the session joins presence)."""
        self.subscriber.hold(channel_of(namespace, user_room(user_id)))  # first: released
        self.subscriber.confirm(channel_of(namespace))

    def unsubscribe_user(self, namespace: str, user_id: int) -> None:
        """Let go of one session's hold; the last one unsubscribes at once (after the session
        left presence), so that a publish counting no receiver means the user is offline."""
        self.subscriber.release(channel_of(namespace, user_room(user_id)))

    # Extends BaseManager.basic_enter_room of python-socketio 5.18.1: a session entering a
    # room holds its channel, subscribed before this returns; entering its namespace (room
    # None, within BaseManager.connect, before the session counts as connecting), without
    # yielding, which would let a broadcast reach it ahead of its CONNECT (subscribe_user
    # waits for that subscription).
    def basic_enter_room(self, sid, namespace, room, eio_sid=None):
        entering = room not in self._rooms_of().get((namespace, sid), ())
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        if entering and _lingers(room):
            try:
                self.subscriber.hold(channel_of(namespace, room), wait=room is not None)
            except ServiceUnavailable:
                log.warning("cannot subscribe to %s now; will after reconnecting", room)

    # Extends BaseManager.basic_leave_room of python-socketio 5.18.1: lets go of the hold,
    # unsubscribed ``linger`` seconds after the last one, so that a reconnect does not churn.
    def basic_leave_room(self, sid, namespace, room):
        leaving = room in self._rooms_of().get((namespace, sid), ())
        super().basic_leave_room(sid, namespace, room)
        if leaving and _lingers(room):
            self.subscriber.release(channel_of(namespace, room), self.linger)


def _lingers(room: Any) -> bool:
    """Rooms whose channel a node holds through python-socketio's rooms, with a delay before
    unsubscribing (a user's channel is held explicitly: it decides ``target_offline``)."""
    return room is None or (isinstance(room, str) and room.startswith(room_channel("")))
