"""Moving a session between the nodes of a cluster (docs/cluster.md, "Recovery on a
cluster"; docs/protocol.md, "Reconnecting without losing a message").

A client may reconnect to any node: nginx sends it elsewhere when its node is gone, and
long-polling requests follow the proxy's pinning, not the session. A node asked to recover
a ``pid`` it does not hold *claims* it from the node that does, over the message queue that
carries every event (Redis pub/sub), on which the nodes talk in messages of their own
(:data:`~playwire.upstream.socketio.HANDOVER_PREFIX`), on the channel of the session's
namespace (:mod:`playwire.routing`), which every node reads:

1. ``claim`` (to every node): the new node asks for ``pid`` of user ``member``, after
   ``offset``. PUBLISH says how many nodes heard it; each answers ``none``, ``busy`` (the
   session is moving already: ask again shortly) or, the holder, ``state``: the session's
   sid, user and rooms, and the events after ``offset``. The holder holds the session if it
   was not held yet (its client saw the drop before the server did) and goes on keeping
   what is sent to it.
2. The new node enters the session in its rooms, so it keeps what reaches it from then on
   (without sending it), waits until Redis confirmed their channels, then publishes
   ``release``. One connection reads every channel of a namespace, in the order Redis ran
   the publishes, so the holder reads ``release`` after every event published before it.
3. The holder, reading ``release`` in its place among the events, forgets the session
   without a word to anyone (no leave: presence in Redis does not change, only which node
   renews it) and answers ``delta``: what it kept since ``state``. Every event published
   before ``release`` reached the holder; every one after it reaches the new node, which
   may have some of the holder's too. An event carries one offset on every node
   (:mod:`playwire.recovery`), so the new node drops those it has twice: ``state``, then
   ``delta``, then what only it kept, is every event once, each sender's in its order.

At SIGTERM (:meth:`Handover.shut_down`) a node stops listening, holds every session it
serves, waits ``--shutdown-grace`` seconds for their clients to recover them elsewhere
(each through a claim), then asks the other nodes to ``adopt`` those still held: each
adopter claims them as above, with no client yet, and holds them for the rest of their
window. A node killed without warning loses its sessions: presence sweeps them.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import time
from typing import Any, Optional

import gevent
from engineio import packet as eio_packet
from gevent.queue import Empty, Queue

from playwire import jsonlib
from playwire.errors import ServiceUnavailable
from playwire.keep_latest import Tagged
from playwire.upstream.socketio import HANDOVER_PREFIX

log = logging.getLogger(__name__)

#: Seconds a claiming node waits for every node's answer to its claim.
ANSWER_TIMEOUT = 2.0
#: Seconds a holder waits for the ``release`` of a session it sent; then it keeps it.
MOVE_TIMEOUT = 5.0
#: Seconds the claiming node waits for ``delta``: past the holder's own timeout, so that
#: the holder has either handed the session over or kept it.
DELTA_TIMEOUT = MOVE_TIMEOUT + 1.0
#: A session that is moving already is asked for again this often, this many times.
BUSY_DELAY = 0.1
BUSY_TRIES = 40
#: Seconds a stopping node waits for the other nodes to adopt its held sessions.
ADOPT_TIMEOUT = 3.0
#: The disconnect reason of the sessions of a node that is stopping (they are held).
SHUTTING_DOWN = "server shutting down"


def entries_to_wire(entries: list[tuple[str, Any]]) -> list:
    """Log entries ``(offset, [Engine.IO packets])`` as JSON: each packet's text, with its
    keep-latest tag."""
    return [
        [offset, [[pkt.data, getattr(pkt.data, "latest", None)] for pkt in packets]]
        for offset, packets in entries
    ]


def entries_from_wire(wire: list) -> list[tuple[str, list[eio_packet.Packet]]]:
    """The inverse of :func:`entries_to_wire`."""
    entries = []
    for offset, packets in wire:
        built = []
        for text, latest in packets:
            data = text if latest is None else Tagged(text, tuple(latest))
            built.append(eio_packet.Packet(eio_packet.MESSAGE, data))
        entries.append((offset, built))
    return entries


class Handover:
    """This node's side of every move: the claims it makes and those it answers."""

    def __init__(self, server: Any, queue: Any) -> None:
        self.server = server
        self.queue = queue
        self.host: str = queue.host_id
        #: The answers awaited by this node's claims, by request id.
        self._answers: dict[str, Queue] = {}
        self._requests = itertools.count(1)
        self._prefix = secrets.token_hex(4)

    def handlers(self) -> list[Any]:
        """The namespaces whose sessions can move."""
        return [h for h in self.server.namespace_handlers.values() if hasattr(h, "export_held")]

    def _handler(self, namespace: Any) -> Any:
        handler = self.server.namespace_handlers.get(namespace)
        return handler if hasattr(handler, "export_held") else None

    # -- the wire -------------------------------------------------------------------------

    def _send(self, kind: str, namespace: str, /, **fields: Any) -> int:
        """Publish a message of the handover on the channel of ``namespace`` (its ``ns``),
        where it is read in its place among the namespace's events; how many nodes (this
        one too) heard it."""
        message = {"kind": kind, "from": self.host, **fields, "ns": namespace}
        text = HANDOVER_PREFIX.decode() + jsonlib.dumps(message)
        return self.queue.publish_text(namespace, text)

    def _answer(self, claim: dict, kind: str, **fields: Any) -> None:
        try:
            self._send(kind, claim["ns"], to=claim["from"], req=claim["req"], **fields)
        except ServiceUnavailable:
            log.warning("cannot answer %s's claim (Redis); it will connect afresh", claim["from"])

    def received(self, data: bytes) -> None:
        """A message of the handover, read by the message queue's listener in its place
        among the events. Never raises: the listener must go on."""
        try:
            message = jsonlib.loads(data[len(HANDOVER_PREFIX) :])
            if message.get("from") == self.host or message.get("to") not in (None, self.host):
                return
            self._dispatch(message)
        except Exception:
            log.exception("a session handover message failed")

    def _dispatch(self, message: dict) -> None:
        kind = message["kind"]
        if kind == "claim":
            self._on_claim(message)
        elif kind == "release":
            self._on_release(message)
        elif kind == "adopt":
            for namespace, pid in message["sessions"]:
                handler = self._handler(namespace)
                if handler is not None:
                    gevent.spawn(handler.adopt, pid)
        else:  # an answer to one of this node's claims
            answers = self._answers.get(message.get("req"))
            if answers is not None:
                answers.put(message)

    # -- the holder's side ----------------------------------------------------------------

    def _on_claim(self, claim: dict) -> None:
        handler = self._handler(claim["ns"])
        state = None
        if handler is not None:
            state = handler.export_held(claim["pid"], claim.get("member"), claim.get("offset"))
        if state is None:
            self._answer(claim, "none")
        elif state == "busy":
            self._answer(claim, "busy")
        else:
            state["entries"] = entries_to_wire(state["entries"])
            self._answer(claim, "state", **state)

    def _on_release(self, release: dict) -> None:
        # What this node sent the session before the release may not be in its log yet: a
        # forward that reached it alone was not published, and is delivered here once its
        # batch of publishes returns. Those deliveries first.
        self.queue.wait_for_publishes()
        handler = self._handler(release["ns"])
        delta = handler.hand_over(release["pid"]) if handler is not None else None
        wire = None if delta is None else entries_to_wire(delta)
        self._answer(release, "delta", entries=wire)

    # -- the claiming side ----------------------------------------------------------------

    def ask(
        self, namespace: str, pid: str, member: Optional[int], offset: Optional[str]
    ) -> tuple[str, Optional[dict]]:
        """Claim ``pid``: ``("state", answer)`` from its holder (then :meth:`release` it),
        ``("busy", None)`` if it is moving, ``("none", None)`` if no node has it."""
        req = f"{self._prefix}.{next(self._requests)}"
        answers = self._answers[req] = Queue()
        fields = {"req": req, "pid": pid, "member": member, "offset": offset}
        try:
            pending = self._send("claim", namespace, **fields) - 1  # every other node answers
        except ServiceUnavailable:
            pending = 0
        busy = False
        deadline = time.monotonic() + ANSWER_TIMEOUT
        try:
            while pending > 0:
                answer = answers.get(timeout=max(0.0, deadline - time.monotonic()))
                if answer["kind"] == "state":
                    answer["entries"] = entries_from_wire(answer["entries"])
                    return "state", answer
                busy = busy or answer["kind"] == "busy"
                pending -= 1
        except Empty:
            log.warning("no answer from %d node(s) to a claim of %s", pending, namespace)
        self._answers.pop(req, None)
        return ("busy" if busy else "none"), None

    def release(self, state: dict) -> Optional[tuple[bool, list]]:
        """Tell the holder to let the session of ``state`` go; ``(True, delta)`` once it
        has, ``(False, [])`` if it lost some of what it kept (the session cannot recover),
        None if it never answered (it kept the session, or died)."""
        req = state["req"]
        answers = self._answers.get(req)
        try:
            if answers is None:
                return None
            self._send("release", state["ns"], to=state["from"], req=req, pid=state["pid"])
            deadline = time.monotonic() + DELTA_TIMEOUT
            while True:
                answer = answers.get(timeout=max(0.0, deadline - time.monotonic()))
                if answer["kind"] == "delta":
                    if answer["entries"] is None:
                        return False, []
                    return True, entries_from_wire(answer["entries"])
        except (Empty, ServiceUnavailable):
            log.warning("no delta from %s for %s", state["from"], state["sid"])
            return None
        finally:
            self._answers.pop(req, None)

    def abandon(self, state: dict) -> None:
        """The claim of ``state`` goes no further: its holder, never released, keeps it."""
        self._answers.pop(state["req"], None)

    # -- stopping -------------------------------------------------------------------------

    def shut_down(self, grace: float) -> None:
        """Hand every session of this node over before it exits (SIGTERM): hold them all,
        give their clients ``grace`` seconds to recover them on other nodes, then ask the
        other nodes to adopt what is still held; what nobody took leaves as at the end of
        its window."""
        closing = set()
        for handler in self.handlers():
            manager = self.server.manager
            for sid in list(handler.sessions):
                eio_sid = manager.eio_sid_from_sid(sid, handler.namespace)
                if eio_sid is not None:
                    closing.add(eio_sid)
        log.info("shutting down: handing %d connection(s) over", len(closing))
        for eio_sid in closing:
            socket = self.server.eio.sockets.get(eio_sid)
            if socket is not None and not socket.closed:
                socket.close(wait=False, abort=True, reason=SHUTTING_DOWN)
        self._wait_until_moved(grace)
        asked = False
        for handler in self.handlers():
            held = [[handler.namespace, pid] for pid in handler.held_pids()]
            if not held:
                continue
            log.info("asking the other nodes to adopt %d held session(s)", len(held))
            try:
                self._send("adopt", handler.namespace, sessions=held)
                asked = True
            except ServiceUnavailable:
                log.warning("cannot ask for adoption (Redis): %d session(s) lost", len(held))
        if asked:
            self._wait_until_moved(ADOPT_TIMEOUT)
        for handler in self.handlers():
            handler.end_all_held(SHUTTING_DOWN)

    def _wait_until_moved(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and any(h.logs for h in self.handlers()):
            gevent.sleep(0.05)  # a stopping node polls its own state: nothing else to wait on
