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
- :class:`PlaywireRedisManager`: the message queue of a cluster, made to tell failures; an
  event is published with its offset (one on every node), and the messages of a session
  handover (:mod:`playwire.socketio.handover`) are read in their place among the events.
- :class:`JsonPacket`: no scan for binary attachments; keep-latest forwards tagged.
- ``PlaywireServer._handle_eio_message``: a Socket.IO packet that cannot be decoded closes
  its sender's connection.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from time import perf_counter
from typing import Any, Callable, Optional

import socketio as python_socketio
from engineio import packet as eio_packet
from socketio import packet

from playwire.errors import ServiceUnavailable
from playwire.forwarding import latest_tag
from playwire.jsonlib import dumpb
from playwire.keep_latest import Tagged
from playwire.later import Later
from playwire.recovery import HOLDING_REASONS, Offsets, SessionLog
from playwire.redis_client import REDIS_ERRORS, Publisher, Subscription, connect
from playwire.routing import (
    HOLDERS_PREFIX,
    USER_ROOMS,
    Holders,
    Route,
    is_routed,
    kind_of,
    namespace_channel,
)
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
    "socketio.server:Server._handle_eio_disconnect": "b4f3ed35325ab9b9",
    "socketio.server:Server._handle_disconnect": "ebd6720194bfb3b4",
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
}

LISTEN_RETRY_MAX = 2.0
#: How a session handover's messages begin on the message queue (not JSON: a node that does
#: not know them, and upstream's dispatch, ignore them).
HANDOVER_PREFIX = b"playwire-handover:"
#: After this node's subscription was lost and came back, seconds during which its
#: publishes are still answered ``unavailable``: the time every other node's listener takes,
#: at most, to subscribe again (one retry delay, plus a margin for the connect).
RESUBSCRIBE_SETTLE = LISTEN_RETRY_MAX + 0.5
#: Seconds a session waits for Redis to confirm the channel of a room it enters.
SUBSCRIBE_TIMEOUT = 5.0


QUEUE_UNREACHABLE = "the message queue (Redis) cannot be reached; try again"


def _unreachable(exc: BaseException) -> Any:
    """What a publish that Redis failed raises: ServiceUnavailable."""
    if isinstance(exc, REDIS_ERRORS):
        raise ServiceUnavailable(QUEUE_UNREACHABLE) from exc
    raise exc


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
    # namespaces: they are given the ack to send, if one is expected (now or once Redis has
    # run the event's publish), and skip Flask's request context.
    def _handle_event_internal(self, server, sid, eio_sid, data, namespace, id):
        handler = self._playwire_namespace(namespace)
        if handler is None:
            return super()._handle_event_internal(server, sid, eio_sid, data, namespace, id)
        answer = None
        if id is not None:

            def answer(reply: dict) -> None:
                if eio_sid in server.eio.sockets:  # else gone meanwhile: nobody to answer
                    ack = self.packet_class(packet.ACK, namespace=namespace, id=id, data=[reply])
                    server._send_packet(eio_sid, ack)

        handler.dispatch(sid, data[0], data[1:], answer)
        return None

    # Extends Server._handle_connect of python-socketio 5.18.1: once the CONNECT packet is
    # sent, the namespace is called back, so what it sends arrives after the CONNECT. And a
    # CONNECT asking to recover a held session (python-socketio has no recovery) is answered
    # here when the namespace can recover it.
    def _handle_connect(self, eio_sid, namespace, data):
        handler = self._playwire_namespace(namespace)
        if handler is not None and handler.recovers and self._recover(handler, eio_sid, data):
            return
        super()._handle_connect(eio_sid, namespace, data)
        if handler is not None:
            sid = self.manager.sid_from_eio_sid(eio_sid, namespace or "/")
            if sid is not None and self.manager.is_connected(sid, namespace or "/"):
                handler.accepted(sid)

    def _recover(self, handler: Any, eio_sid: str, auth: Any) -> bool:
        """Recover the held session ``auth`` names onto connection ``eio_sid``: what it
        missed, in order, then its CONNECT with the same sid and pid (socket.io-client
        buffers events until CONNECT, then sets ``recovered``). False: connect afresh."""
        namespace = handler.namespace
        try:
            recovered = handler.recover(self.environ[eio_sid], auth, eio_sid)
        except python_socketio.exceptions.ConnectionRefusedError as exc:
            refusal = packet.CONNECT_ERROR
            self._send_packet(eio_sid, self.packet_class(refusal, exc.error_args, namespace))
            return True
        if recovered is None:
            return False
        sid, pid, missed = recovered
        old_eio_sid = self.manager.eio_sid_from_sid(sid, namespace)
        self.manager.rebind(sid, namespace, eio_sid)
        for eio_packets in missed:
            for pkt in eio_packets:
                self._send_eio_packet(eio_sid, pkt)
        connect = {"sid": sid, "pid": pid}
        self._send_packet(eio_sid, self.packet_class(packet.CONNECT, connect, namespace))
        old = self.eio.sockets.get(old_eio_sid) if old_eio_sid != eio_sid else None
        if old is not None:  # the client saw the drop before the server did
            old.close(wait=False, abort=True, reason=self.reason.TRANSPORT_CLOSE)
        return True

    # Extends Server._send_packet of python-socketio 5.18.1: the CONNECT packet of a session
    # that can recover carries its pid beside its sid (Socket.IO's recovery handshake).
    def _send_packet(self, eio_sid, pkt):
        data = pkt.data
        if pkt.packet_type == packet.CONNECT and isinstance(data, dict) and "pid" not in data:
            handler = self._playwire_namespace(pkt.namespace)
            pid = handler.pid_for_connect(data.get("sid")) if handler is not None else None
            if pid is not None:
                pkt.data = {**data, "pid": pid}
        return super()._send_packet(eio_sid, pkt)

    # Replaces Server._handle_eio_disconnect of python-socketio 5.18.1 (copied): a session
    # whose connection dropped, rather than left, is held for recovery instead of
    # disconnected (python-socketio has no recovery).
    def _handle_eio_disconnect(self, eio_sid, reason):
        for namespace in list(self.manager.get_namespaces()):
            if not self._hold(eio_sid, namespace, reason):
                self._handle_disconnect(eio_sid, namespace, reason)
        if eio_sid in self.environ:
            del self.environ[eio_sid]

    def trim_logs(self, eio_sid: str, answered: bool) -> None:
        """A ping was sent on connection ``eio_sid`` (mark its sessions' logs), or its pong
        came back (drop what the client has surely read): a connected session's log then
        holds about one ping interval of events, not --recovery-max-events."""
        for namespace, logs in self.manager._recovery_logs().items():
            sid = self.manager.sid_from_eio_sid(eio_sid, namespace) if logs else None
            session_log = logs.get(sid) if sid is not None else None
            if session_log is None or session_log.held:
                continue
            if answered:
                session_log.pong_received()
            else:
                session_log.ping_sent()

    def _hold(self, eio_sid: str, namespace: str, reason: Any) -> bool:
        handler = self._playwire_namespace(namespace)
        if handler is None or not handler.recovers or reason not in HOLDING_REASONS:
            return False
        sid = self.manager.sid_from_eio_sid(eio_sid, namespace)
        return sid is not None and handler.hold(sid, reason)


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
    ``deliveries[namespace]`` (metrics on), and storing what it sends to sessions that can
    recover.

    The count costs one addition per recipient and one dict update per emit, where a
    prometheus-client counter would take a lock per recipient. Each recipient's packet goes
    straight to its Engine.IO socket: upstream's path per recipient is three calls deep
    (Server._send_eio_packet, engineio's Server.send_packet and _get_socket), and a
    broadcast to the first thousand users of a namespace runs it for every one of them.

    A session with a log in ``recovery_logs[namespace]`` (:mod:`playwire.socketio.recovery`)
    gets the event with an offset as its last argument, stored in its log, and sent only if
    it is not held; the offset is the same for every recipient, so the stamped packet is
    built once too. ``held_by_last_emit`` counts the held recipients of the last emit.
    """

    deliveries: Optional[dict[str, int]] = None
    #: Held sessions the last emit reached (read by PlaywireNamespace.emit_to for its ack).
    held_by_last_emit = 0
    #: The offset the next emit stamps, given by the node that published it (cluster-wide).
    message_offset: Optional[str] = None
    #: The room whose sessions the next emit skips, given by the node that published it.
    message_except_room: Optional[str] = None

    def _recovery_logs(self) -> dict[str, dict[str, SessionLog]]:
        logs = self.__dict__.get("recovery_logs")
        if logs is None:
            logs = self.__dict__["recovery_logs"] = {}
        return logs

    def keep_logs(self, namespace: str, logs: dict[str, SessionLog]) -> None:
        """Store the events of the sessions in ``logs`` (a namespace's, kept up to date)."""
        self._recovery_logs()[namespace] = logs
        self.__dict__.setdefault("offsets", Offsets())

    # Replaces Manager.emit of python-socketio 5.18.1 for emits without a callback: the same
    # packet built once and the same loop; each packet handed to the recipient's socket as
    # engineio's Server.send_packet and _get_socket would (a closed one is skipped), a count
    # of the sessions reached, and the recovery log of each session that has one. And
    # ``except_room``: the sessions in that room are skipped (Socket.IO's ``except()``, which
    # python-socketio lacks), on every node.
    def emit(self, event, data, namespace, room=None, skip_sid=None, callback=None, to=None, **kw):
        except_room = kw.pop("except_room", None) or self.message_except_room
        self.message_except_room = None
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
        excluded = self.rooms[namespace].get(except_room) if except_room is not None else None
        logs = self._recovery_logs().get(namespace)
        given, self.message_offset = self.message_offset, None
        plain, stamped, entry = None, None, None
        sockets = self.server.eio.sockets
        delivered = held = 0
        for sid, eio_sid in self.get_participants(namespace, room):
            if sid in skip_sid or (excluded and sid in excluded):
                continue
            session_log = logs.get(sid) if logs else None
            if session_log is not None:
                if stamped is None:
                    offset = given or self.offsets.next()
                    stamped = self._eio_packets(namespace, [event, *data, offset])
                    entry = (offset, stamped)
                if not session_log.add(entry):
                    held += 1  # kept for it: reached, once it recovers
                    delivered += 1
                    continue
            socket = sockets.get(eio_sid)
            if socket is None or socket.closed:
                continue
            delivered += 1
            if session_log is None:
                if plain is None:
                    plain = self._eio_packets(namespace, [event, *data])
                packets = plain
            else:
                packets = stamped
            for pkt in packets:
                socket.send(pkt)
        counts = self.deliveries
        if counts is not None:
            counts[namespace] = counts.get(namespace, 0) + delivered
        self.held_by_last_emit += held
        return None

    def enter_room_and_subscribe(self, sid: str, namespace: str, room: str) -> None:
        """Put session ``sid`` in ``room`` (a cluster node also waits until what other nodes
        send to the room reaches it: PlaywireRedisManager)."""
        self.basic_enter_room(sid, namespace, room)

    def wait_subscribed(self, namespace: str, rooms: Iterable[Any]) -> None:
        """Return once what other nodes send to ``rooms`` reaches this node: at once here."""

    def emit_to_user(self, event, data, namespace, rooms, skip_sid=None) -> Later[Optional[int]]:
        """As :meth:`emit` to ``rooms`` (a user's, then others), only if a session is in the
        first. Later (known at once here): the held sessions reached, or None, nothing
        sent, if no session is in the first."""
        if not self.rooms.get(namespace, {}).get(rooms[0]):
            return Later.of(None)
        return Later.of(self._emit_here(event, data, namespace, rooms, skip_sid))

    def _emit_here(self, event, data, namespace, rooms, skip_sid) -> int:
        """Deliver to this node's sessions in ``rooms``; how many of them were held."""
        self.held_by_last_emit = 0
        CountingManager.emit(self, event, data, namespace, room=rooms, skip_sid=skip_sid)
        return self.held_by_last_emit

    def _eio_packets(self, namespace: str, data: list) -> list[eio_packet.Packet]:
        encoded = self.server.packet_class(packet.EVENT, namespace=namespace, data=data).encode()
        if not isinstance(encoded, list):
            encoded = [encoded]
        return [eio_packet.Packet(eio_packet.MESSAGE, p) for p in encoded]

    def rebind(self, sid: str, namespace: str, eio_sid: str) -> None:
        """Session ``sid`` (held) now lives on the Engine.IO connection ``eio_sid``: in each
        of its rooms (python-socketio maps sid to eio_sid in every room)."""
        rooms = self.rooms[namespace]
        for room in [None, *self.get_rooms(sid, namespace)]:
            rooms[room][sid] = eio_sid


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


class PlaywireRedisManager(
    AcceptedParticipants, RoomsBySession, python_socketio.RedisManager, CountingManager
):
    """The message queue of a cluster: python-socketio's Redis manager, made to tell failures.

    python-socketio's manager delivers an emit to this node's clients, then publishes it for
    the other nodes, and when Redis is away it logs and carries on, so a handler cannot know
    that its emit reached no other node. This manager publishes first and raises
    :class:`~playwire.errors.ServiceUnavailable` when it cannot, before delivering anything:
    the event is answered ``unavailable`` and reached no one. It publishes and listens on
    separate connections, so a failed publish does not tear down the subscription, and the
    listener retries every few seconds at most, not up to a minute.

    Where upstream puts every emit on one channel that every node reads, each namespace of
    Playwire's has its channels (:mod:`playwire.routing`): the namespace's, a user's and a
    room's, read on one subscription per namespace (a *route*), so that a node reads only
    what its own sessions need. A forward's ``target_offline`` is the count of nodes that
    received the target user's channel.

    Delivery stays at most once: what other nodes publish while this node's subscription is
    down is lost for this node's clients. So that nothing is acknowledged ``ok`` that a node
    missed, a route that lost its subscription answers ``unavailable`` until it has been
    subscribed again for :data:`RESUBSCRIBE_SETTLE`: when Redis (or the route's shard)
    restarts, or Sentinel promotes a replica, every node loses that subscription at once,
    and each is back within that time of the next. CountingManager comes after
    PubSubManager in the MRO, so it counts what is delivered here, from this node's emits
    and the other nodes'.
    """

    # Extends RedisManager.__init__ of python-socketio 5.18.1: a publishing connection of
    # its own (upstream publishes and listens on one), and a channel per namespace, user
    # and room (playwire.routing) where upstream has one for everything.
    def __init__(
        self,
        url: str,
        channel: str = "flask-socketio",
        time_publish: Optional[Callable[[float], None]] = None,
        unsubscribe_delay: float = 5.0,
    ) -> None:
        super().__init__(url, channel=channel)
        self._publisher = Publisher(connect(url, socket_timeout=5))
        self.unsubscribe_delay = unsubscribe_delay
        #: The queue's own channel (other namespaces' emits), then one route per namespace
        #: of Playwire's (:meth:`route`).
        self._routes: dict[Optional[str], Route] = {None: self._new_route(self.channel)}
        #: Called with ``perf_counter()`` of each publish's start, once it is done.
        self.time_publish = time_publish
        #: Moves held sessions between nodes (playwire.socketio.handover), when recovery is on.
        self.handover: Any = None
        #: Messages read from the queue by kind of channel (metrics on; playwire.routing).
        self.queue_received: Optional[dict[str, int]] = None
        #: What the last forward that was published delivers here, once Redis has run it:
        #: a forward delivered at once waits for it, in order (emit_to_user).
        self._last_published: Optional[Later] = None

    def _new_route(self, channel: str, holders: Optional[Holders] = None) -> Route:
        def later(delay: float, then: Callable) -> None:
            # A channel is let go once what this node published while it held it has run
            # (playwire.redis_client.Publisher.barrier): a forward's count relies on it.
            def release() -> None:
                self.server.sleep(delay)
                self._publisher.barrier()
                then()

            self.server.start_background_task(release)

        return Route(channel, self.unsubscribe_delay, later, holders)

    def route(self, namespaces: Iterable[str]) -> None:
        """Give each of ``namespaces`` its channels (before :meth:`initialize`)."""
        for namespace in namespaces:
            holders = Holders(self.host_id, self._publisher.publish, self._spawn)
            channel = namespace_channel(self.channel, namespace)
            self._routes[namespace] = self._new_route(channel, holders)

    def _spawn(self, target: Callable, *args: Any) -> None:
        self.server.start_background_task(target, *args)

    def _route_of(self, namespace: Optional[str]) -> Route:
        return self._routes.get(namespace) or self._routes[None]

    def channel_of(self, namespace: Optional[str], room: Any = None) -> str:
        """The channel an emit to ``room`` of ``namespace`` travels on (None: all of it)."""
        route = self._route_of(namespace)
        if is_routed(room) and route.channel != self.channel:
            return f"{route.channel}:{room}"
        return route.channel

    @property
    def subscribed(self) -> bool:
        """Whether this node is subscribed, i.e. receives what other nodes publish."""
        return all(route.subscription is not None for route in self._routes.values())

    # Extends BaseManager.basic_enter_room of python-socketio 5.18.1: the first local
    # session in a user's or room's room subscribes its channel.
    def basic_enter_room(self, sid, namespace, room, eio_sid=None):
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        if is_routed(room) and len(self.rooms[namespace][room]) == 1:
            route = self._routes.get(namespace)
            if route is not None:
                route.hold(self.channel_of(namespace, room))

    # Extends BaseManager.basic_leave_room of python-socketio 5.18.1: the last one leaving
    # unsubscribes it (a room's after --unsubscribe-delay; a user's at once, so that
    # PUBLISH's count says who is online).
    def basic_leave_room(self, sid, namespace, room):
        super().basic_leave_room(sid, namespace, room)
        if is_routed(room) and room not in self.rooms.get(namespace, {}):
            route = self._routes.get(namespace)
            if route is not None:
                delay = 0.0 if room.startswith(USER_ROOMS) else route.unsubscribe_delay
                route.release(self.channel_of(namespace, room), delay)

    def enter_room_and_subscribe(
        self, sid: str, namespace: str, room: str, timeout: float = SUBSCRIBE_TIMEOUT
    ) -> None:
        """Put session ``sid`` in ``room`` and return once what other nodes send to the
        room reaches this node; ServiceUnavailable (still in the room) if Redis did not
        confirm within ``timeout``."""
        self.basic_enter_room(sid, namespace, room)
        self.wait_subscribed(namespace, [room], timeout)

    def wait_subscribed(
        self, namespace: str, rooms: Iterable[Any], timeout: float = SUBSCRIBE_TIMEOUT
    ) -> None:
        """Return once Redis confirmed the channels of ``rooms`` (entered by local
        sessions); ServiceUnavailable if it did not within ``timeout``."""
        route = self._routes.get(namespace)
        if route is None:
            return
        deadline = time.monotonic() + timeout
        for room in rooms:
            if not is_routed(room):
                continue
            channel = self.channel_of(namespace, room)
            confirmed = route.confirmation(channel)
            if confirmed is None or not confirmed.wait(max(0.0, deadline - time.monotonic())):
                raise ServiceUnavailable(QUEUE_UNREACHABLE)
            # The user's other holders hear of this node before the session is announced.
            if room.startswith(USER_ROOMS) and not route.holders.announce(channel):
                raise ServiceUnavailable(QUEUE_UNREACHABLE)

    # Replaces PubSubManager.emit of python-socketio 5.18.1 (its message rebuilt, binary and
    # callbacks left out): publish first, on the room's channel, and deliver here only what
    # was published.
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
            except_room = kwargs.pop("except_room", None)
            if kwargs.get("ignore_queue"):  # delivered here at once: CountingManager.emit reads it
                self.message_except_room = except_room
            return super().emit(
                event,
                data,
                namespace=namespace,
                room=room,
                skip_sid=skip_sid,
                callback=callback,
                **kwargs,
            )
        message = self._emit_message(event, data, namespace, room, skip_sid, kwargs)
        if isinstance(room, list):  # each room on its channel, each session reached once
            for one in room:
                self._publish({**message, "room": one})
        else:
            self._publish(message)
        self._handle_emit(message)
        return None

    def emit_to_user(self, event, data, namespace, rooms, skip_sid=None) -> Later[Optional[int]]:
        """As :meth:`emit` to ``rooms`` (a user's, then the sender's), only if some node
        holds a session of that user. Later: the held sessions reached here, or None,
        nothing sent, if no node holds one. One publish (playwire.redis_client's
        PUBLISH_TO_USERS), which publishes the message on each room's channel only if
        another node holds the room: PUBLISH's subscribers, counted before it publishes,
        are the nodes holding a session of the user. It is delivered here once Redis has
        run it, without holding up the caller meanwhile (playwire.later).

        The forward's hot path, so leaner than :meth:`emit`: a Playwire namespace's route,
        whose users' rooms are routed (playwire.routing), and one text for both channels,
        each read as addressed to its own room (:meth:`_read`).

        When no other node holds either user (playwire.routing.Holders) nothing is
        published: delivered here at once, as on a single node, or once the forwards
        published before it are, if any is still on its way."""
        route = self._routes[namespace]
        self._check_settled(route)
        target, sender = f"{route.channel}:{rooms[0]}", f"{route.channel}:{rooms[-1]}"
        if route.alone(target) and (sender == target or route.alone(sender)):
            return self._deliver_here(event, data, namespace, rooms, skip_sid)
        message = self._emit_message(event, data, namespace, None, skip_sid, {})
        here = route.holds(target)
        started = perf_counter()
        published = self._publisher.publish_to_user(
            target, dumpb(message), here, sender, here if sender == target else route.holds(sender)
        )

        def deliver(reached: int) -> Optional[int]:
            self._timed(started)
            if not reached:
                return None
            # As _handle_emit would, without unpacking the message again.
            self.message_offset = message.get("offset")
            return self._emit_here(event, data, namespace, rooms, skip_sid)

        def failed(exc: BaseException) -> Any:
            self._timed(started)
            return _unreachable(exc)

        self._last_published = delivered = published.then(deliver, failed)
        return delivered

    def _deliver_here(self, event, data, namespace, rooms, skip_sid) -> Later[Optional[int]]:
        """A forward for sessions of this node alone: delivered now, or right after the
        forwards still on their way to Redis (a user just left alone here keeps the order
        of what it is sent). Later: the held sessions reached."""

        def deliver(_: Any = None) -> int:
            return self._emit_here(event, data, namespace, rooms, skip_sid)

        last = self._last_published
        if last is None or last.done:
            return Later.of(deliver())
        self._last_published = delivered = last.then(deliver, deliver)
        return delivered

    def _emit_message(self, event, data, namespace, room, skip_sid, kwargs) -> dict:
        message = {
            "method": "emit",
            "host_id": self.host_id,  # second, for _listen's check of its own emits
            "event": event,
            "data": list(data) if isinstance(data, tuple) else [data],
            "binary": False,
            "namespace": namespace or "/",
            "room": room,
            "skip_sid": skip_sid,
            "callback": None,
        }
        if kwargs.get("except_room") is not None:
            message["except_room"] = kwargs["except_room"]
        offsets = self.__dict__.get("offsets")
        if offsets is not None:  # every node stamps this event with the same offset
            message["offset"] = offsets.next()
        return message

    # Extends PubSubManager._handle_emit of python-socketio 5.18.1: the emit it makes stamps
    # the offset the event was published with, and skips the sessions of its except_room
    # (CountingManager.emit reads both first thing).
    def _handle_emit(self, message):
        self.message_offset = message.get("offset")
        self.message_except_room = message.get("except_room")
        try:
            return super()._handle_emit(message)
        finally:
            self.message_offset = self.message_except_room = None

    # Replaces RedisManager._listen of python-socketio 5.18.1 (its body): every route's
    # subscription is read by a task of its own (each in order), into one inbox that
    # upstream's dispatch reads; what comes on a user's or room's channel is addressed to
    # that room, whatever its text says (a forward publishes one text on two channels). A
    # session handover's message (playwire.socketio.handover) goes to the handover, in its
    # place among its namespace's events, and not to upstream's dispatch. And this node's
    # own emits, which come back on every channel it holds and which upstream's dispatch
    # parses only to skip them by their host_id, are dropped unparsed.
    def _listen(self):
        inbox = self.server.eio.create_queue()
        for route in self._routes.values():
            self.server.start_background_task(self._read, route, inbox)
        while True:
            data = inbox.get()
            if (
                self.handover is not None
                and type(data) is bytes
                and data.startswith(HANDOVER_PREFIX)
            ):
                self.handover.received(data)
                continue
            yield data

    def _read(self, route: Route, inbox: Any) -> None:
        own_emit = self._own_emit_prefix()
        received = self.queue_received
        rooms_from = len(route.channel) + 1  # where a user's or room's channel names it
        for message in self._redis_listen_with_retries(route):
            data, channel = message.get("data"), message["channel"]
            if received is not None:
                kind = kind_of(channel)
                received[kind] = received.get(kind, 0) + 1
            if data is None or data.startswith(own_emit):
                continue
            if data.startswith(HOLDERS_PREFIX):
                route.heard(channel, data)
                continue
            if len(channel) > rooms_from:  # addressed to the room its channel names
                data = self._addressed(data, channel[rooms_from:].decode("utf-8"))
                if data is None:
                    continue
            inbox.put(data)

    def _addressed(self, data: bytes, room: str) -> Optional[dict]:
        """The message ``data`` (JSON) as an emit to ``room``; None, logged, if it is none:
        what upstream's dispatch would have dropped must not end this route's reader."""
        try:
            message = self.json.loads(data)
            message["room"] = room
        except (ValueError, TypeError):
            log.warning("dropped a message on the queue that is not an emit: %.80r", data)
            return None
        return message

    def _own_emit_prefix(self) -> bytes:
        """How the text of each of this node's emits begins, and no other node's (nor a
        callback for this node: upstream's other methods put other keys first)."""
        probe = self.json.dumps({"method": "emit", "host_id": self.host_id, "": 0})
        return probe[: probe.index(self.host_id) + len(self.host_id) + 1].encode("utf-8")

    # Replaces RedisManager._publish of python-socketio 5.18.1, which logs a failure and
    # carries on: here it raises, on a connection that is not the subscriber's, pipelined
    # with the other greenlets' publishes (playwire.redis_client.Publisher; SPUBLISH on a
    # Redis Cluster), on the channel of the message's namespace (and room, for an emit).
    def _publish(self, data: Any) -> Any:
        namespace = data.get("namespace")
        room = data.get("room") if data.get("method") == "emit" else None
        route, text = self._route_of(namespace), self.json.dumps(data)
        return self._send_publish(
            route, self._publisher.publish, self.channel_of(namespace, room), text
        )

    @property
    def ready(self) -> bool:
        """Whether publishes are accepted on every route: subscribed, and past the settling
        time that follows a lost subscription (GET /readyz reads it)."""
        return all(route.ready() for route in self._routes.values())

    def wait_for_publishes(self) -> None:
        """Return once this node's publishes made so far have run, and the emits that
        waited for them have been delivered here (playwire.redis_client.Publisher.barrier:
        their greenlets resume first)."""
        self._publisher.barrier()

    def publish_text(self, namespace: str, text: str) -> int:
        """Publish ``text`` as it is, on ``namespace``'s channel; how many nodes (this one
        too) received it."""
        route = self._route_of(namespace)
        return self._send_publish(route, self._publisher.publish, route.channel, text)

    def _send_publish(self, route: Route, publish: Callable[..., Any], *args: Any) -> Any:
        """``publish(*args)`` on ``route``'s channels, unless the route is not settled. What
        it returns; a Redis error comes out as ServiceUnavailable."""
        self._check_settled(route)
        started = perf_counter()
        try:
            return publish(*args)
        except REDIS_ERRORS as exc:
            raise ServiceUnavailable(QUEUE_UNREACHABLE) from exc
        finally:
            self._timed(started)

    def _check_settled(self, route: Route) -> None:
        """ServiceUnavailable while ``route`` settles after its subscription came back."""
        if route.settled_at is not None and time.monotonic() < route.settled_at:
            raise ServiceUnavailable("the message queue (Redis) is coming back; try again")

    def _timed(self, started: float) -> None:
        if self.time_publish is not None:
            self.time_publish(started)

    def _announce_again(self, route: Route, subscription: Subscription) -> None:
        """Once every node has subscribed again (the settling time), tell the other holders
        of each user held here, as when the first session came: this node's subscription
        was lost, and with it what they said meanwhile (playwire.routing.Holders)."""
        self.server.sleep(RESUBSCRIBE_SETTLE)
        if route.subscription is subscription and route.holders is not None:
            route.holders.announce_all(route.users_held())

    # Replaces RedisManager._redis_listen_with_retries of python-socketio 5.18.1: a fresh
    # subscription per attempt, to every channel of the route (SSUBSCRIBE on a Redis
    # Cluster: playwire.redis_client's Subscription), retried within 2 s (upstream: up to
    # 60). While any route is not subscribed, ``subscribed`` is False; a route that lost
    # its subscription refuses publishes until it has settled (see the class).
    def _redis_listen_with_retries(self, route: Route):
        delay = 0.25
        while True:
            subscription = None
            try:
                subscription = Subscription(self.redis_url, *route.channels())
                route.attach(subscription)
                if route.settled_at is not None:
                    route.settled_at = time.monotonic() + RESUBSCRIBE_SETTLE
                    self.server.start_background_task(self._announce_again, route, subscription)
                log.info("subscribed to %s", route.channel)
                delay = 0.25
                yield from subscription.listen()
            except REDIS_ERRORS as exc:
                route.detach()  # at once: the presence keeper reads `subscribed` meanwhile
                route.settled_at = float("inf")
                if subscription is not None:
                    subscription.close()
                log.warning("message queue unreachable (%s); retrying in %.2fs", exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, LISTEN_RETRY_MAX)
