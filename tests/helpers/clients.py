"""Real python-socketio clients that queue what they receive, and waits on their events."""

from __future__ import annotations

import queue
import threading
import time
from typing import Any, Callable, Optional

import requests
import socketio
from engineio.payload import Payload

# The python-engineio client drops a long-polling response of more than 16 packets, and the
# server sends a burst of events in one response; raise the client's cap (see README).
Payload.max_decode_packets = 10_000

EVENT_TIMEOUT = 10.0


def is_news_of_a_stranger(event: str, data: Any, users: Optional[set[int]]) -> bool:
    """Whether ``event`` is ``user_joined``/``user_left`` about someone not in ``users``:
    on a server that other tests share, their users come and go in the background.
    ``users`` None: nobody is a stranger."""
    return (
        users is not None
        and event in ("user_joined", "user_left")
        and isinstance(data, dict)
        and data.get("id") not in users
    )


class Refused(Exception):
    """The server refused the connection; ``message`` is connect_error's message."""

    def __init__(self, message: Any) -> None:
        super().__init__(message)
        self.message = message


class EventClient:
    """A python-socketio client on one namespace that queues every event it receives."""

    def __init__(
        self,
        url: str,
        namespace: str,
        transport: str | list[str],
        users: Optional[set[int]] = None,
    ) -> None:
        """``transport``: one, or a list to start with the first and upgrade (as browsers do).
        ``users``: if given, ``user_joined``/``user_left`` about anyone else are ignored."""
        self.url = url
        self.users = users
        self.namespace = namespace
        self.transport = transport
        self.events: queue.Queue = queue.Queue()
        # An HTTP session of our own, so that close() can release its sockets even when the
        # connection was refused (the client drops its own without closing it).
        self.http = requests.Session()
        # The client's threads would read proxy settings by iterating os.environ while
        # pytest rewrites PYTEST_CURRENT_TEST in it; on PyPy that raised KeyError in them.
        self.http.trust_env = False
        self.sio = socketio.Client(reconnection=False, http_session=self.http)
        self.sio.on("*", self._on_event, namespace=namespace)
        self.disconnect_reason: Optional[str] = None
        #: The offset of the last event received that carried one.
        self.last_offset: Optional[str] = None
        self._disconnected = threading.Event()
        self.sio.on("disconnect", self._on_disconnect, namespace=namespace)
        self._handle_messages_in_order()

    def _handle_messages_in_order(self) -> None:
        """python-engineio's client hands each message to a new thread, so events can
        overtake each other (on PyPy they do). The server's order is what tests check.
        And a DISCONNECT that comes at once after the CONNECT must not be lost (below)."""
        trigger = self.sio.eio._trigger_event

        def trigger_in_order(event: str, *args: Any, **kwargs: Any) -> Any:
            kwargs["run_async"] = False
            if event == "connect":
                # python-socketio's client sets ``connected`` only when connect() returns,
                # and ignores a DISCONNECT read before then: a session refused just after
                # it was accepted (told ``unavailable``) would stay open forever. The
                # Engine.IO connection is up now, before its reader starts.
                self.sio.connected = True
            return trigger(event, *args, **kwargs)

        self.sio.eio._trigger_event = trigger_in_order

    def _on_event(self, event: str, *args: Any) -> None:
        if len(args) == 2 and isinstance(args[0], dict) and isinstance(args[1], str):
            # A recovery offset (docs/protocol.md, "Reconnecting without losing a message"):
            # python-socketio hands it to the handler as one more argument.
            self.last_offset = args[1]
            args = args[:1]
        data = args[0] if len(args) == 1 else list(args)
        if is_news_of_a_stranger(event, data, self.users):
            return
        self.events.put((event, data))

    def _on_disconnect(self, reason: Any = None) -> None:
        self.disconnect_reason = str(reason)
        self._disconnected.set()

    def wait_until_disconnected(self, timeout: float = EVENT_TIMEOUT) -> str:
        """Return once this client's session has ended, with python-socketio's reason (e.g.
        "server disconnect", "transport close"); fail if it is still open after ``timeout``."""
        if not self._disconnected.wait(timeout):
            raise AssertionError(f"still connected to {self.namespace} after {timeout}s")
        return self.disconnect_reason

    def connect(
        self, auth: Any = None, headers: Optional[dict] = None, recovery: bool = False
    ) -> EventClient:
        """Connect, or raise Refused with the server's reason.

        python-socketio's client cannot recover a session (docs/protocol.md, "Reconnecting
        without losing a message"): so unless ``recovery``, a dict (or no) ``auth`` says
        ``"recovery": false`` and the session leaves at once when it drops.

        The client's own wait is skipped: on a refusal it disconnects by waiting for the
        pending long-poll to end, a whole ping interval; aborting is enough for a test.
        """
        if not recovery and (auth is None or isinstance(auth, dict)):
            auth = {"recovery": False, **(auth or {})}
        outcome: queue.Queue = queue.Queue()
        self.sio.on("connect", lambda: outcome.put(None), namespace=self.namespace)
        self.sio.on("connect_error", outcome.put, namespace=self.namespace)
        try:
            self.sio.connect(
                self.url,
                namespaces=[self.namespace],
                transports=self.transport if isinstance(self.transport, list) else [self.transport],
                auth=auth,
                headers=headers or {},
                wait=False,
            )
            refusal = outcome.get(timeout=EVENT_TIMEOUT)
        except (socketio.exceptions.ConnectionError, queue.Empty) as exc:
            self._abort()
            raise Refused(str(exc) or "no answer") from exc
        if refusal is not None:
            self._abort()
            raise Refused(refusal.get("message") if isinstance(refusal, dict) else refusal)
        return self

    def next(self, timeout: float = EVENT_TIMEOUT) -> tuple[str, Any]:
        """The next event received, as ``(name, data)``."""
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no event within {timeout}s on {self.namespace}") from None

    def expect(self, event: str, timeout: float = EVENT_TIMEOUT) -> Any:
        """The data of the next event, which must be ``event``."""
        name, data = self.next(timeout)
        assert name == event, f"expected {event!r}, got {name!r}: {data!r}"
        return data

    def call(self, event: str, *args: Any, timeout: float = EVENT_TIMEOUT) -> Any:
        """Emit with an acknowledgement and return the ack."""
        data = args[0] if len(args) == 1 else (tuple(args) if args else None)
        return self.sio.call(event, data, namespace=self.namespace, timeout=timeout)

    def emit(self, event: str, *args: Any) -> None:
        """Emit without an acknowledgement."""
        data = args[0] if len(args) == 1 else (tuple(args) if args else None)
        self.sio.emit(event, data, namespace=self.namespace)

    def pending(self) -> list[tuple[str, Any]]:
        """Everything received and not yet read, without waiting."""
        items = []
        while not self.events.empty():
            items.append(self.events.get_nowait())
        return items

    def close(self) -> None:
        """Disconnect cleanly, without waiting out a pending long-poll.

        A clean disconnect returns once the client's read loop ends, which on long-polling is
        when the server next answers the pending GET: up to a ping interval. The server has
        seen the disconnect long before, so the rest happens in the background.
        """
        if not self.sio.connected:
            self._abort()
            return
        closer = threading.Thread(target=self._disconnect, daemon=True)
        closer.start()
        closer.join(timeout=1)

    def _disconnect(self) -> None:
        """python-engineio's client loses what ``disconnect()`` queues (the DISCONNECT and
        the CLOSE) when its write loop is still finishing the previous POST at that moment:
        the loop then sees the state "disconnecting" and ends unsent. Over long-polling the
        server would hear nothing until the ping timeout. So the DISCONNECT is sent first and
        waited for (the write loop marks a packet done once its POST has been answered), and
        only then does ``disconnect()`` end the connection."""
        leaving = socketio.packet.Packet(socketio.packet.DISCONNECT, namespace=self.namespace)
        self.sio.eio.send(leaving.encode())
        sending = self.sio.eio.queue
        with sending.all_tasks_done:  # Queue.join(), with a timeout
            sending.all_tasks_done.wait_for(lambda: not sending.unfinished_tasks, EVENT_TIMEOUT)
        self.sio.disconnect()
        self.http.close()

    def _abort(self) -> None:
        """Drop the Engine.IO connection without waiting for a pending long-poll."""
        self.sio.connected = False
        self.sio.eio.disconnect(abort=True)
        self.http.close()


# -- waiting on events where other tests' users come and go ------------------------------


def expect(
    client: EventClient, event: str, known: Optional[set[int]], timeout: float = EVENT_TIMEOUT
) -> Any:
    """The next event of ``client``, which must be ``event``; presence news about users
    other than ``known`` (those of earlier tests, leaving late) are skipped."""
    while True:
        name, data = client.next(timeout)
        if is_news_of_a_stranger(name, data, known):
            continue
        assert name == event, f"expected {event!r}, got {name!r}: {data!r}"
        return data


def quiet(client: EventClient, known: Optional[set[int]]) -> list:
    """What ``client`` received and nobody read, strangers' presence news left out."""
    return [
        (name, data)
        for name, data in client.pending()
        if not is_news_of_a_stranger(name, data, known)
    ]


def wait_for(
    client: EventClient, matches: Callable[[str, Any], bool], timeout: float = EVENT_TIMEOUT
) -> tuple[str, Any]:
    """The first event that ``matches``; every event before it is dropped."""
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no matching event within {timeout}s")
        name, data = client.next(remaining)
        if matches(name, data):
            return name, data


def drain_until_marker(
    client: EventClient, event: str, marker: Any, known: Optional[set[int]] = None
) -> list:
    """Every ``event`` received up to and including the one whose ``marker`` matches; any
    other event (but strangers' presence news) fails."""
    received = []
    while True:
        data = expect(client, event, known)
        received.append(data)
        if data.get("marker") == marker:
            return received
