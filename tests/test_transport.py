"""The WebSocket transport (``playwire.websocket`` and ``playwire.upstream.engineio``): pings,
closing, slow clients and the upgrade from long-polling, spoken by hand where a client
library would hide them."""

from __future__ import annotations

import json
import time

import pytest
import websocket

from helpers.clients import EVENT_TIMEOUT
from helpers.raw import RawSession


@pytest.fixture
def transport() -> str:
    """The python-socketio clients of these tests use WebSocket (one test upgrades to it)."""
    return "websocket"


def test_pings_keep_an_idle_websocket_open(start_server):
    server = start_server("--ping-interval", "1", "--ping-timeout", "2")
    account = server.register()
    session = RawSession(server)
    assert session.handshake["pingInterval"] == 1000
    for _ in range(3):
        assert session.ws.recv() == "2"
        session.ws.send("3")
    session.join("/forward", account["token"])
    session.close()


def test_a_client_that_stops_answering_pings_is_closed_and_announced(start_server, connect):
    # Held for recovery after the ping timeout (docs/protocol.md, "Reconnecting without
    # losing a message"), then announced once the window has passed.
    server = start_server("--ping-interval", "1", "--ping-timeout", "1", "--recovery-window", "1")
    watcher_account, silent_account = server.register(), server.register()
    watcher = connect(server, "/forward", watcher_account["token"])
    watcher.expect("presence")
    silent = RawSession(server)
    silent.ws.send(f"40/forward,{json.dumps({'token': silent_account['token']})}")
    assert watcher.expect("user_joined")["id"] == silent_account["id"]
    started = time.monotonic()
    received = []
    try:
        while True:  # never answering the ping; the server's CLOSE packet ends the session
            received.append(silent.ws.recv())
            if received[-1] in ("1", ""):
                break
    except websocket.WebSocketConnectionClosedException:
        pass
    assert "2" in received
    assert time.monotonic() - started < 1 + 1 + EVENT_TIMEOUT / 2
    assert watcher.expect("user_left")["id"] == silent_account["id"]
    silent.close()


def test_a_client_that_does_not_read_holds_up_nobody_and_loses_nothing(start_server, connect):
    # A cap above the backlog: past it the session is dropped (tests/test_slow_readers.py).
    server = start_server(
        "--rate-limit", "10000", "--rate-burst", "10000", "--max-outbox", "16000000"
    )
    alice, bob = server.register(), server.register()
    reader = RawSession(server, receive_buffer=4096)
    reader.join("/forward", bob["token"])
    sender = connect(server, "/forward", alice["token"])
    sender.expect("presence")
    # About 11 MB for a client that reads nothing meanwhile: more than the kernel's
    # buffers hold, so the server keeps a backlog for it. The sender's acks are not held up.
    pad = "x" * 15_000
    count = 700
    for n in range(count):
        assert sender.call("forward", {"target": bob["id"], "n": n, "pad": pad}) == {"ok": True}
    # Nor are others: while the reader's backlog waits, someone else's message goes through.
    carol = server.register()
    bystander = connect(server, "/forward", carol["token"])
    bystander.expect("presence")
    assert sender.call("forward", {"target": carol["id"], "n": "now"}) == {"ok": True}
    assert bystander.expect("forwarded")["n"] == "now"
    numbers = []
    while len(numbers) < count:
        name, data = reader.next_event("/forward")
        if name == "forwarded":
            assert data["pad"] == pad and data["sender"] == alice["id"]
            numbers.append(data["n"])
    assert numbers == list(range(count))
    reader.close()


def test_messages_around_the_upgrade_from_long_polling_arrive_once_in_order(start_server, connect):
    server = start_server("--rate-limit", "10000", "--rate-burst", "10000")
    alice, bob = server.register(), server.register()
    sender = connect(server, "/forward", alice["token"])
    sender.expect("presence")
    upgrading = connect(server, "/forward", bob["token"], transport=["polling", "websocket"])
    upgrading.expect("presence")
    # Sent while the client upgrades: some leave by long-polling, the rest by WebSocket.
    for n in range(300):
        sender.emit("forward", {"target": bob["id"], "n": n})
    assert [upgrading.expect("forwarded")["n"] for _ in range(300)] == list(range(300))
    deadline = time.monotonic() + EVENT_TIMEOUT
    while upgrading.sio.transport() != "websocket":
        assert time.monotonic() < deadline, "no upgrade to WebSocket"
        time.sleep(0.01)  # polling a state the client exposes no event for
    for n in range(300, 400):
        sender.emit("forward", {"target": bob["id"], "n": n})
    assert [upgrading.expect("forwarded")["n"] for _ in range(100)] == list(range(300, 400))
    assert upgrading.call("forward", {"target": alice["id"], "back": 1}) == {"ok": True}
    assert sender.expect("user_joined")["id"] == bob["id"]
    assert sender.expect("forwarded")["back"] == 1
