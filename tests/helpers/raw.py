"""Clients below python-socketio: a raw WebSocket that speaks Engine.IO/Socket.IO by hand,
for the slow-reader and fuzzing tests, and the server's resident memory."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any, Optional

import requests
import websocket

from helpers.clients import EVENT_TIMEOUT


class RawSession:
    """Engine.IO and Socket.IO over a WebSocket, by hand: the test decides when to read and
    whether to answer pings."""

    def __init__(self, server, receive_buffer: Optional[int] = None) -> None:
        options = {}
        if receive_buffer:
            options["sockopt"] = ((socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer),)
        url = f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket"
        self.ws = websocket.create_connection(url, timeout=EVENT_TIMEOUT, **options)
        opening = self.ws.recv()
        assert opening.startswith("0"), opening
        self.handshake = json.loads(opening[1:])

    def join(self, namespace: str, token: str) -> None:
        """Connect to ``namespace``; returns once its ``presence`` arrived."""
        self.ws.send(f"40{namespace},{json.dumps({'token': token})}")
        assert self.ws.recv().startswith(f"40{namespace},")
        assert self.next_event(namespace)[0] == "presence"

    def next_event(self, namespace: str) -> tuple[str, Any]:
        """The next Socket.IO event on ``namespace``, answering pings on the way."""
        prefix = f"42{namespace},"
        while True:
            packet = self.ws.recv()
            if packet == "2":
                self.ws.send("3")
            elif packet.startswith(prefix):
                name, *args = json.loads(packet[len(prefix) :])
                return name, args[0] if args else None

    def close(self) -> None:
        self.ws.close(timeout=1)


def rss_bytes(pid: int) -> int:
    """The resident memory of a process (``VmRSS`` of ``/proc/PID/status``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")


RECORD_SEPARATOR = "\x1e"  # between the packets of one long-polling body


class RawPolling:
    """A long-polling Engine.IO client by hand: it reads only when told to (``get``)."""

    def __init__(self, server: Any) -> None:
        self.base = f"{server.url}/socket.io/?EIO=4&transport=polling"
        self.http = requests.Session()
        self.http.trust_env = False
        opening = self.http.get(self.base, timeout=EVENT_TIMEOUT).text
        assert opening.startswith("0{"), opening
        self.url = f"{self.base}&sid={json.loads(opening[1:])['sid']}"

    def post(self, body: str) -> requests.Response:
        return self.http.post(self.url, data=body.encode(), timeout=EVENT_TIMEOUT)

    def get(self) -> list[str]:
        """One poll: the packets the server had waiting (or the next one, if none)."""
        return self.http.get(self.url, timeout=EVENT_TIMEOUT * 3).text.split(RECORD_SEPARATOR)

    def join(self, namespace: str, token: str) -> str:
        self.post(f"40{namespace},{json.dumps({'token': token})}")
        while True:
            for reply in self.get():
                if reply.startswith(f"40{namespace},"):
                    return json.loads(reply.split(",", 1)[1])["sid"]
                if reply.startswith(f"44{namespace},"):
                    raise AssertionError(f"refused: {reply}")

    def close(self) -> None:
        self.http.close()


def events_in(packets: list[str], namespace: str) -> list[tuple[str, Any]]:
    """The Socket.IO events among raw Engine.IO packets, as ``(name, data)``: a recovery
    offset after the data is left out."""
    prefix = f"42{namespace},"
    events = [json.loads(p[len(prefix) :]) for p in packets if p.startswith(prefix)]
    return [(name, args[0] if args else None) for name, *args in events]
