"""Test helpers: a real Playwire process and real Socket.IO clients that queue what they get."""

from __future__ import annotations

import os
import queue
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Optional

import requests
import socketio
from engineio.payload import Payload

# The python-engineio client drops a long-polling response of more than 16 packets, and the
# server sends a burst of events in one response; raise the client's cap (see README).
Payload.max_decode_packets = 10_000

REPO_ROOT = Path(__file__).resolve().parents[1]
EVENT_TIMEOUT = 10.0
PASSWORD = "correct-horse"
# The suite registers hundreds of accounts from one address; a test of the registration
# limit passes --register-limit itself (a later flag wins).
UNLIMITED_REGISTRATIONS = ["--register-limit", "off"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def unique_name(prefix: str = "u") -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


def _checkout_env() -> dict[str, str]:
    """The environment for a ``playwire`` process: this checkout's package first, whatever is
    installed in the environment."""
    path = os.pathsep.join(filter(None, [str(REPO_ROOT / "src"), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": path}


def run_playwire(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run ``python -m playwire ARGS`` to its end; its output as text."""
    return subprocess.run(
        [sys.executable, "-m", "playwire", *args],
        cwd=REPO_ROOT,
        env=_checkout_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class ServerProcess:
    """``python -m playwire serve`` on a free port with its own instance dir."""

    def __init__(self, instance_dir: Path, *flags: str, port: Optional[int] = None) -> None:
        self.instance_dir = instance_dir
        self.flags = [*UNLIMITED_REGISTRATIONS, *flags]
        self.port = port or free_port()
        self.process: Optional[subprocess.Popen] = None
        self.log_path = instance_dir / "server.log"
        # Ids registered by the current test (conftest clears it between tests): on a server
        # ``shared`` by many tests, presence events about anyone else come from other tests.
        self.accounts: set[int] = set()
        self.shared = False

    @property
    def host(self) -> str:
        """``--host`` if among the flags (any of 127/8 is this machine), else 127.0.0.1."""
        if "--host" in self.flags:
            return self.flags[self.flags.index("--host") + 1]
        return "127.0.0.1"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> ServerProcess:
        """Start the process and wait until it answers ``/healthz`` (``timeout`` seconds)."""
        self.instance_dir.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "playwire", "serve", "--port", str(self.port)]
        command += ["--instance-dir", str(self.instance_dir), *self.flags]
        with open(self.log_path, "a") as log:
            self.process = subprocess.Popen(
                command, cwd=REPO_ROOT, env=_checkout_env(), stdout=log, stderr=subprocess.STDOUT
            )
        self._wait_until_ready(timeout)
        return self

    def _wait_until_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log()}")
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                time.sleep(0.05)  # polling for readiness, not synchronising on an event
        raise RuntimeError(f"server not ready after {timeout}s:\n{self.log()}")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def restart(self) -> ServerProcess:
        self.stop()
        return self.start()

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def register(self, username: Optional[str] = None) -> dict:
        """A new account: ``{"id", "username", "token"}``."""
        account = register_account(self.url, username)
        self.accounts.add(account["id"])
        return account


def is_news_of_a_stranger(event: str, data: Any, users: set[int]) -> bool:
    """Whether ``event`` is ``user_joined``/``user_left`` about someone not in ``users``:
    on a server that other tests share, their users come and go in the background."""
    return (
        event in ("user_joined", "user_left")
        and isinstance(data, dict)
        and data.get("id") not in users
    )


def register_account(url: str, username: Optional[str] = None) -> dict:
    """A new account on the server at ``url``: ``{"id", "username", "token"}``."""
    response = requests.post(
        url + "/api/register",
        json={"username": username or unique_name(), "password": PASSWORD},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return response.json()


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
        self._handle_messages_in_order()

    def _handle_messages_in_order(self) -> None:
        """python-engineio's client hands each message to a new thread, so events can
        overtake each other (on PyPy they do). The server's order is what tests check."""
        trigger = self.sio.eio._trigger_event

        def trigger_in_order(event: str, *args: Any, **kwargs: Any) -> Any:
            kwargs["run_async"] = False
            return trigger(event, *args, **kwargs)

        self.sio.eio._trigger_event = trigger_in_order

    def _on_event(self, event: str, *args: Any) -> None:
        data = args[0] if len(args) == 1 else list(args)
        if self.users is not None and is_news_of_a_stranger(event, data, self.users):
            return
        self.events.put((event, data))

    def connect(self, auth: Any = None, headers: Optional[dict] = None) -> EventClient:
        """Connect, or raise Refused with the server's reason.

        The client's own wait is skipped: on a refusal it disconnects by waiting for the
        pending long-poll to end, a whole ping interval; aborting is enough for a test.
        """
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
        self.sio.disconnect()
        self.http.close()

    def _abort(self) -> None:
        """Drop the Engine.IO connection without waiting for a pending long-poll."""
        self.sio.connected = False
        self.sio.eio.disconnect(abort=True)
        self.http.close()
