"""/chat over real connections (docs/protocol.md, "`/chat`"), on both transports."""

from __future__ import annotations

import time

import pytest

from helpers.server import unique_name


def join_chat(server, connect, account):
    client = connect(server, "/chat", account["token"])
    client.expect("presence")
    client.expect("history")
    return client


def test_message_is_stamped_stored_and_broadcast_to_all_including_sender(server, connect):
    alice, bob = server.register(), server.register()
    sender = join_chat(server, connect, alice)
    listener = join_chat(server, connect, bob)
    assert sender.expect("user_joined")["id"] == bob["id"]
    before = int(time.time() * 1000)
    ack = sender.call(
        "message",
        {"message": "hello", "username": "mallory", "user_id": 999, "timestamp": 1, "extra": 1},
    )
    after = int(time.time() * 1000)
    assert ack["ok"] is True and isinstance(ack["id"], int)
    assert before - 1000 <= ack["timestamp"] <= after + 1000
    expected = {
        "id": ack["id"],
        "user_id": alice["id"],
        "username": alice["username"],
        "message": "hello",
        "timestamp": ack["timestamp"],
    }
    assert sender.expect("message") == expected
    assert listener.expect("message") == expected
    # Stored: a session that joins later finds it, as broadcast, at the end of the history.
    late = connect(server, "/chat", bob["token"])
    late.expect("presence")
    assert late.expect("history")["messages"][-1] == expected


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"message": ""},
        {"message": None},
        {"message": 5},
        {"message": ["hi"]},
        {"message": "x" * 2001},
    ],
    ids=["missing", "empty", "null", "number", "list", "too-long"],
)
def test_invalid_messages(server, connect, payload):
    alice, bob = server.register(), server.register()
    sender = join_chat(server, connect, alice)
    listener = join_chat(server, connect, bob)
    ack = sender.call("message", payload)
    assert ack["ok"] is False and ack["error"] == "invalid_message" and ack["message"]
    sender.emit("message", payload)
    assert sender.expect("user_joined")["id"] == bob["id"]
    assert sender.expect("error") == {
        "event": "message",
        "error": "invalid_message",
        "message": ack["message"],
    }
    # Nothing reached the listener: the next message it sees is a valid one.
    sender.call("message", {"message": "valid"})
    assert listener.expect("message")["message"] == "valid"


def test_longest_message_is_accepted(server, connect):
    client = join_chat(server, connect, server.register())
    assert client.call("message", {"message": "é" * 2000})["ok"] is True
    assert client.expect("message")["message"] == "é" * 2000


def test_history_last_n_oldest_first_and_survives_restart(start_server, connect):
    server = start_server("--history-size", "5")
    account = server.register()
    client = join_chat(server, connect, account)
    texts = [unique_name("m") for _ in range(7)]
    for text in texts:
        assert client.call("message", {"message": text})["ok"] is True
    late = connect(server, "/chat", account["token"])
    late.expect("presence")
    history = late.expect("history")["messages"]
    assert [m["message"] for m in history] == texts[-5:]
    assert [m["id"] for m in history] == sorted(m["id"] for m in history)
    assert all(m["user_id"] == account["id"] for m in history)
    client.close()
    late.close()

    server.restart()
    again = connect(server, "/chat", account["token"])  # the token survives the restart too
    again.expect("presence")
    assert again.expect("history")["messages"] == history
