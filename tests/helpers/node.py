"""The official socket.io-client (Node) as a test's client, one session per process
(tests/recovering_client.js), for what python-socketio's client cannot do: recover."""

from __future__ import annotations

import itertools
import json
import os
import queue
import shutil
import subprocess
import threading
from typing import Any, Callable, Optional

import pytest

from helpers.clients import EVENT_TIMEOUT
from helpers.server import REPO_ROOT

SCRIPT = REPO_ROOT / "tests" / "recovering_client.js"


def node_binary() -> str:
    """Node, which the suite needs (make setup installs it): a failure under CI, else a skip."""
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI") == "true":
            pytest.fail("node is not installed (make setup installs it)")
        pytest.skip("node is not installed (make setup installs it)")
    return node


class NodeClient:
    """One socket.io-client socket in a Node process; what it prints is queued here."""

    def __init__(
        self,
        url: str,
        namespace: str,
        auth: dict,
        transport: str | list[str],
        reconnection: bool = True,
        report_pings: bool = False,
    ) -> None:
        """``transport``: one, or a list to start with the first and upgrade (the official
        client's default is ``["polling", "websocket"]``)."""
        options = {
            "auth": auth,
            "transports": transport if isinstance(transport, list) else [transport],
            "reconnection": reconnection,
            "reportPings": report_pings,
        }
        self.process = subprocess.Popen(
            [node_binary(), str(SCRIPT), url, namespace, json.dumps(options)],
            cwd=REPO_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue = queue.Queue()
        #: The Engine.IO pings received (with ``report_pings``), apart from the lines.
        self.pings: queue.Queue = queue.Queue()
        #: The connections' upgrades from long-polling to WebSocket, apart from the lines too.
        self.upgrades: queue.Queue = queue.Queue()
        self._ids = itertools.count(1)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            message = json.loads(line)
            apart = {"ping": self.pings, "upgrade": self.upgrades}
            apart.get(message["type"], self.lines).put(message)

    def send(self, cmd: str, **fields: Any) -> None:
        self.process.stdin.write(json.dumps({"cmd": cmd, **fields}) + "\n")
        self.process.stdin.flush()

    def next(self, timeout: float = EVENT_TIMEOUT) -> dict:
        """The next thing the client printed (connect, event, disconnect, ack, ...)."""
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"the Node client printed nothing within {timeout}s") from None

    def expect_new_pings(self, count: int, timeout: float = EVENT_TIMEOUT) -> None:
        """Wait for ``count`` Engine.IO pings from now on (each one's pong follows it)."""
        with self.pings.mutex:
            self.pings.queue.clear()
        for _ in range(count):
            try:
                self.pings.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no ping within {timeout}s") from None

    def expect_upgrade(self, timeout: float = EVENT_TIMEOUT) -> None:
        """Wait for the connection's upgrade from long-polling to WebSocket."""
        try:
            self.upgrades.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no upgrade within {timeout}s") from None

    def expect(self, kind: str, timeout: float = EVENT_TIMEOUT) -> dict:
        line = self.next(timeout)
        assert line["type"] == kind, f"expected {kind}, got {line}"
        return line

    def expect_event(self, event: str, timeout: float = EVENT_TIMEOUT) -> Any:
        line = self.expect("event", timeout)
        assert line["event"] == event, f"expected {event}, got {line}"
        return line["data"]

    def until(self, kind: str, timeout: float = EVENT_TIMEOUT) -> tuple[list[dict], dict]:
        """Everything printed before the next ``kind``, and that ``kind`` line."""
        before = []
        while True:
            line = self.next(timeout)
            if line["type"] == kind:
                return before, line
            before.append(line)

    def drain(self) -> list[dict]:
        """What the client printed and nobody read yet."""
        lines = []
        while not self.lines.empty():
            lines.append(self.lines.get_nowait())
        return lines

    def call(self, event: str, data: Any, timeout: float = EVENT_TIMEOUT) -> Any:
        """Emit with an ack; the ack's data (events received meanwhile are kept)."""
        ack_id = next(self._ids)
        self.send("emit", event=event, data=data, id=ack_id)
        skipped = []
        try:
            while True:
                line = self.next(timeout)
                if line["type"] == "ack" and line["id"] == ack_id:
                    return line["data"]
                skipped.append(line)
        finally:
            for line in reversed(skipped):  # back in front, in order
                self.lines.queue.appendleft(line)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process.stdout.close()


def connected(client: NodeClient, first_event: Optional[str] = "presence") -> dict:
    """Wait for the client's connect (and its first event): the connect line."""
    line = client.expect("connect")
    if first_event is not None:
        client.expect_event(first_event)
    return line


class ForwardsRead:
    """What a Node client printed across its drops, read on demand: the ``n`` of each
    ``forwarded`` event, and its connect and disconnect lines, in the order they came."""

    def __init__(self, client: NodeClient) -> None:
        self.client = client
        self.received: list[Any] = []
        self.connects: list[dict] = []

    def until(self, done: Callable[[], bool]) -> None:
        """Read until ``done()``."""
        while not done():
            line = self.client.next()
            if line["type"] == "event" and line["event"] == "forwarded":
                self.received.append(line["data"]["n"])
            elif line["type"] in ("connect", "disconnect"):
                self.connects.append(line)
