"""Clients below python-socketio: a raw WebSocket that speaks Engine.IO/Socket.IO by hand,
for the slow-reader and fuzzing tests, and the server's resident memory."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any, Optional

import requests
import websocket

from support import EVENT_TIMEOUT


def websocket_url(server: Any) -> str:
    return f"ws://127.0.0.1:{server.port}/socket.io/?EIO=4&transport=websocket"


def open_raw(server: Any, receive_buffer: Optional[int] = None) -> websocket.WebSocket:
    """A WebSocket with Engine.IO's OPEN packet read; nothing else done."""
    options = [(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)] if receive_buffer else []
    ws = websocket.create_connection(
        websocket_url(server), timeout=EVENT_TIMEOUT, sockopt=options, enable_multithread=True
    )
    opening = ws.recv()
    assert opening.startswith("0{"), opening
    return ws


def join_raw(ws: websocket.WebSocket, namespace: str, token: str) -> str:
    """Socket.IO's CONNECT to ``namespace``; returns the session id."""
    ws.send(f"40{namespace},{json.dumps({'token': token})}")
    while True:
        reply = ws.recv()
        if reply.startswith(f"40{namespace},"):
            return json.loads(reply.split(",", 1)[1])["sid"]
        if reply.startswith(f"44{namespace},"):
            raise AssertionError(f"refused: {reply}")


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
    """The Socket.IO events among raw Engine.IO packets, as ``(name, data)``."""
    prefix = f"42{namespace},"
    return [tuple(json.loads(p[len(prefix) :])) for p in packets if p.startswith(prefix)]
