"""Chat in a room and forwards to a room (docs/protocol.md, "Rooms"), both transports."""

from __future__ import annotations

import pytest

from helpers.server import ServerProcess, unique_name
from test_rooms import join, member, open_session


def test_a_room_message_reaches_the_room_only_and_has_its_own_history(start_server, connect):
    server = start_server("--history-size", "3")
    alice, bob, carol = server.register(), server.register(), server.register()
    a1 = open_session(server, connect, "/chat", alice)
    b1 = open_session(server, connect, "/chat", bob)
    outsider = open_session(server, connect, "/chat", carol)
    assert b1.expect("user_joined") == member(carol)
    assert join(a1, "match:1")["history"] == []
    join(b1, "match:1")
    texts = [unique_name("m") for _ in range(4)]
    for text in texts:
        ack = a1.call("message", {"room": "match:1", "message": text, "user_id": 999})
        assert ack["ok"] is True and isinstance(ack["id"], int)
    expected = {
        "id": ack["id"],
        "user_id": alice["id"],
        "username": alice["username"],
        "message": texts[-1],
        "timestamp": ack["timestamp"],
        "room": "match:1",
    }
    received = [b1.expect("message") for _ in texts]
    assert [m["message"] for m in received] == texts and received[-1] == expected
    # Global chat goes on beside it, and its history holds no room message.
    assert a1.call("message", {"message": "hello all"})["ok"] is True
    # The first message the outsider sees is the global one, sent after the room's.
    assert outsider.expect("message")["message"] == "hello all"
    late = open_session_history(server, connect, carol)
    assert [m["message"] for m in late] == ["hello all"] and "room" not in late[0]
    # A session joining the room later gets its last --history-size messages, oldest first.
    history = join(outsider, "match:1")["history"]
    assert [m["message"] for m in history] == texts[-3:]
    assert history[-1] == expected


def open_session_history(server, connect, account):
    client = connect(server, "/chat", account["token"])
    client.expect("presence")
    return client.expect("history")["messages"]


def test_a_message_to_a_room_not_joined_is_not_in_room(server, connect):
    alice, bob = server.register(), server.register()
    a1 = open_session(server, connect, "/chat", alice)
    b1 = open_session(server, connect, "/chat", bob)
    join(b1, "secret")
    ack = a1.call("message", {"room": "secret", "message": "let me in"})
    assert ack["ok"] is False and ack["error"] == "not_in_room" and ack["message"]
    ack = a1.call("message", {"room": "no such room!", "message": "x"})
    assert ack["error"] == "invalid_room"
    join(a1, "secret")
    assert a1.call("leave", {"room": "secret"}) == {"ok": True}
    assert a1.call("message", {"room": "secret", "message": "x"})["error"] == "not_in_room"
    assert b1.call("message", {"room": "secret", "message": "marker"})["ok"] is True
    assert [m["message"] for m in only_messages_until(b1, "marker")] == ["marker"]


def only_messages_until(client, text):
    received = []
    while True:
        event, data = client.next()
        if event == "message":
            received.append(data)
            if data["message"] == text:
                return received


@pytest.fixture(scope="module")
def unthrottled_server(tmp_path_factory):
    process = ServerProcess(
        tmp_path_factory.mktemp("rooms-unthrottled"),
        *("--rate-limit", "10000", "--rate-burst", "1000"),
    ).start()
    yield process
    process.stop()


def forward_room(server, connect):
    """Alice (tabs 1 and 2) and Bob (tab 1) in room "party"; Alice's tab 3 and Carol outside."""
    alice, bob, carol = server.register(), server.register(), server.register()
    tabs = {
        name: open_session(server, connect, "/forward", account)
        for name, account in (
            ("alice1", alice),
            ("alice2", alice),
            ("alice3", alice),
            ("bob1", bob),
            ("carol1", carol),
        )
    }
    for name in ("alice1", "alice2", "bob1"):
        join(tabs[name], "party")
    for client in tabs.values():
        client.pending()  # presence news of each other, read and dropped
    return alice, bob, carol, tabs


def forwarded_until(client, marker):
    received = []
    while True:
        event, data = client.next()
        if event == "forwarded":
            received.append(data)
            if data.get("marker") == marker:
                return received


def test_forward_to_a_room_reaches_every_other_session_once_in_order(unthrottled_server, connect):
    alice, bob, _, tabs = forward_room(unthrottled_server, connect)
    count = 300
    for n in range(count):
        tabs["alice1"].emit("forward", {"room": "party", "n": n, "sender": 999})
    assert tabs["alice1"].call("forward", {"room": "party", "marker": "end"}) == {"ok": True}
    for name in ("alice2", "bob1"):
        received = forwarded_until(tabs[name], "end")
        assert [m["n"] for m in received[:-1]] == list(range(count)), name
        assert received[0] == {"room": "party", "n": 0, "sender": alice["id"]}
    # Not back to the sender, nor to sessions outside the room (Alice's own third tab too).
    tabs["bob1"].call("forward", {"room": "party", "marker": "bob"})
    assert forwarded_until(tabs["alice1"], "bob") == [
        {"room": "party", "marker": "bob", "sender": bob["id"]}
    ]
    for name in ("alice3", "carol1"):
        assert [e for e, _ in tabs[name].pending() if e == "forwarded"] == [], name


def test_forward_to_a_room_not_joined_and_target_with_room(server, connect):
    alice, bob, _, tabs = forward_room(server, connect)
    ack = tabs["carol1"].call("forward", {"room": "party", "x": 1})
    assert ack["ok"] is False and ack["error"] == "not_in_room" and ack["message"]
    ack = tabs["alice1"].call("forward", {"room": "party", "target": bob["id"]})
    assert ack["ok"] is False and ack["error"] == "invalid_target"
    assert tabs["alice1"].call("forward", {"room": "bad room"})["error"] == "invalid_room"
    tabs["alice1"].call("forward", {"room": "party", "marker": "end"})
    assert forwarded_until(tabs["bob1"], "end") == [
        {"room": "party", "marker": "end", "sender": alice["id"]}
    ]


def test_a_room_named_like_a_user_room_does_not_reach_that_user(server, connect):
    alice, bob = server.register(), server.register()
    sender = open_session(server, connect, "/forward", alice)
    target = open_session(server, connect, "/forward", bob)
    room = f"user:{bob['id']}"
    assert join(sender, room)["users"] == [member(alice)]
    assert sender.call("forward", {"room": room, "x": 1}) == {"ok": True}
    assert sender.call("forward", {"target": bob["id"], "marker": "direct"}) == {"ok": True}
    assert forwarded_until(target, "direct") == [
        {"target": bob["id"], "marker": "direct", "sender": alice["id"]}
    ]
