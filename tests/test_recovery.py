"""Connection state recovery (docs/protocol.md, "Reconnecting without losing a message"),
with the official socket.io-client (Node) as the session that drops, over both transports.

The client drops by closing its transport (``socket.io.engine.close()``), as socket.io's
own tests do. Until the server has seen the drop, what is sent to the session goes to the
dying connection: the tests send until an ack says ``held``, and everything sent, before
and after, must be replayed exactly once, in order.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import websocket

from helpers.clients import EventClient, quiet, wait_for
from helpers.node import ForwardsRead, NodeClient, connected
from helpers.raw import RawSession

FAST = ("--rate-limit", "100000", "--rate-burst", "100000")
#: Most forwards a test sends before the server holds the dropped session.
UNTIL_HELD = 200
#: socket.io-client's transports when none are given: long-polling, then WebSocket.
DEFAULT_TRANSPORTS = ["polling", "websocket"]


@dataclass
class Pair:
    """Bob, on the official client, who will drop; Alice, on python-socketio's, watching."""

    bob: dict
    watcher: EventClient
    bob_client: NodeClient
    #: Bob's first connect line (its ``id`` is the session's sid).
    first: dict


@pytest.fixture
def pair(transport, connect) -> Iterator[Callable[..., Pair]]:
    """Connect Alice, then Bob, once Alice heard of him; Bob's client ends after the test."""
    clients: list[NodeClient] = []

    def open_pair(
        server, namespace: str = "/forward", reconnection: bool = False, pings: bool = False
    ) -> Pair:
        alice, bob = server.register(), server.register()
        watcher = connect(server, namespace, alice["token"])
        watcher.expect("presence")
        if namespace == "/chat":
            watcher.expect("history")
        auth = {"token": bob["token"]}
        bob_client = NodeClient(server.url, namespace, auth, transport, reconnection, pings)
        clients.append(bob_client)
        first = connected(bob_client)
        assert watcher.expect("user_joined")["id"] == bob["id"]
        return Pair(bob, watcher, bob_client, first)

    yield open_pair
    for client in clients:
        client.close()


def send_until_held(sender: EventClient, event: str, make: Any) -> list:
    """Send ``make(n)`` for n = 0, 1, ... until an ack says a recipient is held; the data sent."""
    sent = []
    for n in range(UNTIL_HELD):
        sent.append(make(n))
        ack = sender.call(event, sent[-1])
        assert ack["ok"] is True, ack
        if ack.get("held") == 1:
            return sent
    raise AssertionError(f"no ack said held after {UNTIL_HELD} events")


def replayed(client: NodeClient) -> tuple[list[dict], dict]:
    """The events replayed to a reconnecting client, and its connect line."""
    before, connect = client.until("connect")
    return [line for line in before if line["type"] == "event"], connect


def presence_news(client: EventClient) -> list:
    """What ``client`` heard of anyone's arrival or departure and did not read yet."""
    news = ("user_joined", "user_left", "presence", "presence_count")
    return [(name, data) for name, data in quiet(client, None) if name in news]


def drop_until_held(p: Pair) -> list:
    """Bob drops; Alice forwards to him until he is held: the forwards sent."""
    p.bob_client.send("drop")
    p.bob_client.expect("disconnect")
    return send_until_held(p.watcher, "forward", lambda n: {"target": p.bob["id"], "n": n})


def test_a_dropped_session_gets_its_forwards_and_nobody_sees_it_go(start_server, pair):
    server = start_server()
    p = pair(server)
    bob, watcher, bob_client = p.bob, p.watcher, p.bob_client

    sent = drop_until_held(p)
    for n in range(len(sent), len(sent) + 3):
        assert watcher.call("forward", {"target": bob["id"], "n": n}) == {"ok": True, "held": 1}
    bob_client.send("connect")
    events, connect_line = replayed(bob_client)

    assert connect_line == {"type": "connect", "id": p.first["id"], "recovered": True}
    assert [line["event"] for line in events] == ["forwarded"] * (len(sent) + 3)
    assert [line["data"]["n"] for line in events] == list(range(len(sent) + 3))
    assert all(line["offset"] for line in events)
    # Connected again: a forward reaches it at once; nobody heard of a leave or a join.
    assert watcher.call("forward", {"target": bob["id"], "n": "after"}) == {"ok": True}
    assert bob_client.expect_event("forwarded")["n"] == "after"
    assert presence_news(watcher) == []


def test_chat_and_room_messages_are_kept_and_the_rooms_too(start_server, pair):
    server = start_server()
    p = pair(server, "/chat")
    watcher, bob_client = p.watcher, p.bob_client
    bob_client.expect_event("history")
    assert bob_client.call("join", {"room": "table"})["ok"] is True
    assert watcher.call("join", {"room": "table"})["ok"] is True
    assert bob_client.expect_event("user_joined")["room"] == "table"

    bob_client.send("drop")
    bob_client.expect("disconnect")
    global_sent = send_until_held(watcher, "message", lambda n: {"message": f"all {n}"})
    room_ack = watcher.call("message", {"message": "room only", "room": "table"})
    assert room_ack["ok"] is True and room_ack["held"] == 1
    bob_client.send("connect")
    events, connect_line = replayed(bob_client)

    assert connect_line == {"type": "connect", "id": p.first["id"], "recovered": True}
    texts = [line["data"]["message"] for line in events]
    assert texts == [message["message"] for message in global_sent] + ["room only"]
    # Still in the room (nobody saw it leave): its message reaches the watcher.
    assert bob_client.call("message", {"message": "back", "room": "table"})["ok"] is True
    wait_for(watcher, lambda name, data: name == "message" and data["message"] == "back")
    assert presence_news(watcher) == []


def test_after_the_window_the_user_leaves_and_connects_afresh(start_server, pair):
    server = start_server("--recovery-window", "1")
    p = pair(server)
    bob, watcher, bob_client = p.bob, p.watcher, p.bob_client

    drop_until_held(p)
    assert watcher.expect("user_left")["id"] == bob["id"]  # the window's end
    assert watcher.call("forward", {"target": bob["id"]})["error"] == "target_offline"
    bob_client.send("connect")
    events, connect_line = replayed(bob_client)

    assert events == []
    assert connect_line["recovered"] is False and connect_line["id"] != p.first["id"]
    bob_client.expect_event("presence")
    assert watcher.expect("user_joined")["id"] == bob["id"]


def test_past_the_event_cap_the_session_ends_and_nothing_is_replayed(start_server, pair):
    server = start_server("--recovery-max-events", "5")
    p = pair(server)
    bob, watcher, bob_client = p.bob, p.watcher, p.bob_client

    drop_until_held(p)
    for n in range(5):  # the sixth held one is one too many
        assert watcher.call("forward", {"target": bob["id"], "n": n}) == {"ok": True, "held": 1}
    assert watcher.expect("user_left")["id"] == bob["id"]
    bob_client.send("connect")
    events, connect_line = replayed(bob_client)

    assert events == [] and connect_line["recovered"] is False
    bob_client.expect_event("presence")


def test_what_a_pong_confirmed_is_let_go_and_recovery_still_works(start_server, pair):
    # Each pong lets the server drop what the client has read (but the last of it), so
    # recovery depends on that being right: three rounds of events and pings, then a drop.
    server = start_server("--ping-interval", "0.5", "--ping-timeout", "5")
    p = pair(server, pings=True)
    bob, watcher, bob_client = p.bob, p.watcher, p.bob_client
    for round_ in range(3):
        assert watcher.call("forward", {"target": bob["id"], "n": round_}) == {"ok": True}
        assert bob_client.expect_event("forwarded")["n"] == round_
        # The server sends a ping an interval after the last pong came back: after the
        # second, the first one's pong (which followed the forward) has been handled.
        bob_client.expect_new_pings(2)
    sent = drop_until_held(p)
    bob_client.send("connect")
    events, connect_line = replayed(bob_client)

    assert connect_line["recovered"] is True
    assert [line["data"]["n"] for line in events] == list(range(len(sent)))


def test_the_replay_keeps_only_the_latest_of_each_keep_latest_key(start_server, pair):
    server = start_server()
    p = pair(server)
    bob, watcher, bob_client = p.bob, p.watcher, p.bob_client

    sent = drop_until_held(p)
    for x in range(5):
        move = {"target": bob["id"], "latest": "position", "x": x}
        assert watcher.call("forward", move) == {"ok": True, "held": 1}
    assert watcher.call("forward", {"target": bob["id"], "n": "plain"})["held"] == 1
    bob_client.send("connect")
    events, connect_line = replayed(bob_client)

    assert connect_line["recovered"] is True
    replay = [line["data"] for line in events]
    assert [m["n"] for m in replay if "n" in m] == [*range(len(sent)), "plain"]
    assert [m["x"] for m in replay if "x" in m] == [4]  # the others were never written


def test_a_clean_disconnect_leaves_at_once(start_server, pair):
    server = start_server()  # a window of 30 s: leaving sooner means it was not held
    p = pair(server)
    bob, watcher, bob_client = p.bob, p.watcher, p.bob_client

    bob_client.send("disconnect")
    assert watcher.expect("user_left", timeout=5)["id"] == bob["id"]
    assert watcher.call("forward", {"target": bob["id"]})["error"] == "target_offline"


def test_a_drop_during_a_burst_loses_doubles_and_reorders_nothing(start_server, pair):
    burst = 1000
    server = start_server(*FAST, "--recovery-max-events", str(burst * 2))
    p = pair(server, reconnection=True)
    bob, watcher, bob_client = p.bob, p.watcher, p.bob_client
    bob_client.send("dropAfter", event="forwarded", count=burst // 3)
    assert bob_client.call("join", {"room": "sync"})["ok"] is True  # the command is read

    read = ForwardsRead(bob_client)
    received, connects = read.received, read.connects
    send_burst(watcher, bob["id"], range(burst // 2))
    read.until(lambda: connects)  # the drop; what follows goes to the dying connection,
    send_burst(watcher, bob["id"], range(burst // 2, burst))  # or is held, or not
    # The replay comes before the connect (socket.io-client emits it on connecting).
    read.until(lambda: len(connects) == 2 and received[-1] == burst - 1)

    assert [line["type"] for line in connects] == ["disconnect", "connect"]
    assert connects[1] == {"type": "connect", "id": p.first["id"], "recovered": True}
    assert received == list(range(burst))
    assert presence_news(watcher) == []


def send_burst(sender: EventClient, target: int, numbers: range) -> None:
    """Forwards without acks, but every 100th (one long-polling POST carries at most
    --max-poll-packets) and the last."""
    for n in numbers:
        message = {"target": target, "n": n}
        if n % 100 == 99 or n == numbers[-1]:
            assert sender.call("forward", message)["ok"] is True
        else:
            sender.emit("forward", message)


def test_a_client_that_saw_the_drop_first_takes_its_session_over(start_server, connect):
    """The client reconnects while the server still thinks the old connection alive (its
    ping timeout has not passed): the session moves to the new connection, the old one is
    closed, and nobody hears of it. Raw Socket.IO, to hold the old connection open."""
    server = start_server()
    alice, bob = server.register(), server.register()
    watcher = connect(server, "/forward", alice["token"])
    watcher.expect("presence")
    old = RawSession(server)
    old.ws.send(f"40/forward,{json.dumps({'token': bob['token']})}")
    opened = json.loads(old.ws.recv().split(",", 1)[1])
    presence = json.loads(old.ws.recv().split(",", 1)[1])
    assert presence[0] == "presence" and isinstance(presence[2], str)
    assert watcher.expect("user_joined")["id"] == bob["id"]
    assert watcher.call("forward", {"target": bob["id"], "n": 1}) == {"ok": True}

    new = RawSession(server)
    recover = {"token": bob["token"], "pid": opened["pid"], "offset": presence[2]}
    new.ws.send(f"40/forward,{json.dumps(recover)}")
    replay = json.loads(new.ws.recv().split(",", 1)[1])
    assert replay[:2] == ["forwarded", {"target": bob["id"], "n": 1, "sender": alice["id"]}]
    assert json.loads(new.ws.recv().split(",", 1)[1]) == opened
    with contextlib.suppress(websocket.WebSocketConnectionClosedException):
        while old.ws.recv():  # what was in flight (the forward), then the close
            pass
    assert watcher.call("forward", {"target": bob["id"], "n": 2}) == {"ok": True}
    assert new.next_event("/forward")[1]["n"] == 2
    assert presence_news(watcher) == []
    new.close()


def test_the_default_transports_recover_across_the_upgrade(start_server):
    """socket.io-client's default: long-polling, then the upgrade to WebSocket; the drop
    comes on the upgraded connection, the replay on the new one's long-polling."""
    server = start_server()
    alice, bob = server.register(), server.register()
    watcher = EventClient(server.url, "/forward", "websocket")
    auth = {"token": bob["token"]}
    bob_client = NodeClient(server.url, "/forward", auth, DEFAULT_TRANSPORTS, reconnection=False)
    try:
        watcher.connect(auth={"token": alice["token"]}).expect("presence")
        first = connected(bob_client)
        bob_client.expect_upgrade()
        assert watcher.expect("user_joined")["id"] == bob["id"]
        sent = drop_until_held(Pair(bob, watcher, bob_client, first))
        bob_client.send("connect")
        events, connect_line = replayed(bob_client)

        assert connect_line == {"type": "connect", "id": first["id"], "recovered": True}
        assert [line["data"]["n"] for line in events] == list(range(len(sent)))
        bob_client.expect_upgrade()
        assert watcher.call("forward", {"target": bob["id"], "n": "after"}) == {"ok": True}
        assert bob_client.expect_event("forwarded")["n"] == "after"
        assert presence_news(watcher) == []
    finally:
        bob_client.close()
        watcher.close()


def test_a_token_revoked_meanwhile_does_not_recover_the_session(start_server, pair):
    server = start_server("--recovery-window", "1")
    p = pair(server)
    bob, watcher, bob_client = p.bob, p.watcher, p.bob_client
    bearer = {"Authorization": f"Bearer {bob['token']}"}
    assert requests.post(server.url + "/api/logout", headers=bearer, timeout=10).status_code == 204

    drop_until_held(p)  # connected with it, the session stayed (docs/protocol.md)
    bob_client.send("connect")
    before, refusal = bob_client.until("connect_error")

    assert [line for line in before if line["type"] == "event"] == []
    assert refusal["message"] == "invalid token"
    assert watcher.expect("user_left")["id"] == bob["id"]  # the window's end
    assert watcher.call("forward", {"target": bob["id"]})["error"] == "target_offline"


def test_with_recovery_off_nothing_is_held_nor_stamped(start_server, pair):
    server = start_server("--recovery-window", "0")
    p = pair(server)
    bob, watcher, bob_client = p.bob, p.watcher, p.bob_client
    assert watcher.call("forward", {"target": bob["id"], "n": 0}) == {"ok": True}
    assert bob_client.expect("event")["offset"] is None

    bob_client.send("drop")
    bob_client.expect("disconnect")
    assert watcher.expect("user_left", timeout=5)["id"] == bob["id"]
    assert watcher.call("forward", {"target": bob["id"]})["error"] == "target_offline"
    bob_client.send("connect")
    events, connect_line = replayed(bob_client)

    assert events == [] and connect_line["id"] != p.first["id"]
    assert connect_line.get("recovered") is not True  # no pid: socket.io-client leaves it unset
    bob_client.expect_event("presence")
    assert watcher.expect("user_joined")["id"] == bob["id"]
