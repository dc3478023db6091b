"""/forward over real connections (docs/protocol.md, "`/forward`"), on both transports."""

from __future__ import annotations

import pytest

from helpers.clients import drain_until_marker
from helpers.server import ServerProcess


@pytest.fixture
def players(server, connect):
    return open_players(server, connect)


def open_players(server, connect):
    """Alice with two sessions and Bob with two, all in /forward, initial events read."""
    alice, bob = server.register(), server.register()
    sessions = {}
    for name, account in (("alice", alice), ("bob", bob)):
        for tab in (1, 2):
            client = connect(server, "/forward", account["token"])
            client.expect("presence")
            sessions[f"{name}{tab}"] = client
    # Bob's first session announced him to both of Alice's; his second announced nothing.
    for name in ("alice1", "alice2"):
        assert sessions[name].expect("user_joined")["id"] == bob["id"]
    return alice, bob, sessions


def test_forward_reaches_every_target_session_and_other_sender_sessions(players):
    alice, bob, s = players
    ack = s["alice1"].call("forward", {"target": bob["id"], "move": [1, 2], "sender": 999})
    assert ack == {"ok": True}
    expected = {"target": bob["id"], "move": [1, 2], "sender": alice["id"]}
    for name in ("bob1", "bob2", "alice2"):
        assert s[name].expect("forwarded") == expected
    # The sending session never gets its own message back: the next thing it sees is
    # the reply to a later forward it sends from its other tab.
    s["alice2"].call("forward", {"target": bob["id"], "marker": "after"})
    assert s["alice1"].expect("forwarded")["marker"] == "after"


def test_forward_to_self_reaches_each_other_session_once(players):
    alice, bob, s = players
    assert s["alice1"].call("forward", {"target": alice["id"], "n": 1}) == {"ok": True}
    assert s["alice1"].call("forward", {"target": alice["id"], "marker": "end"}) == {"ok": True}
    assert drain_until_marker(s["alice2"], "forwarded", "end") == [
        {"target": alice["id"], "n": 1, "sender": alice["id"]},
        {"target": alice["id"], "marker": "end", "sender": alice["id"]},
    ]
    # Nothing reached the sending session or bob's: the next thing each sees is a marker
    # sent afterwards (from alice's other session, and to bob).
    assert s["alice2"].call("forward", {"target": alice["id"], "marker": "alice"}) == {"ok": True}
    assert drain_until_marker(s["alice1"], "forwarded", "alice") == [
        {"target": alice["id"], "marker": "alice", "sender": alice["id"]}
    ]
    assert s["alice1"].call("forward", {"target": bob["id"], "marker": "bob"}) == {"ok": True}
    for name in ("bob1", "bob2"):
        assert drain_until_marker(s[name], "forwarded", "bob") == [
            {"target": bob["id"], "marker": "bob", "sender": alice["id"]}
        ]


@pytest.fixture(scope="module")
def unthrottled_server(tmp_path_factory):
    """A server whose rate limit lets a burst of 500 events through."""
    process = ServerProcess(
        tmp_path_factory.mktemp("unthrottled"), "--rate-limit", "10000", "--rate-burst", "1000"
    ).start()
    yield process
    process.stop()


def test_exactly_once_and_in_order(unthrottled_server, connect):
    _, bob, s = open_players(unthrottled_server, connect)
    count = 500
    for n in range(count):
        s["alice1"].emit("forward", {"target": bob["id"], "n": n})
    s["alice1"].call("forward", {"target": bob["id"], "marker": "end"})
    for name in ("bob1", "bob2", "alice2"):
        numbers = [m["n"] for m in drain_until_marker(s[name], "forwarded", "end") if "n" in m]
        assert numbers == list(range(count)), name


def test_offline_target_gets_target_offline_and_nothing_is_delivered(server, players):
    alice, bob, s = players
    stranger = server.register()
    ack = s["alice1"].call("forward", {"target": stranger["id"], "x": 1})
    assert ack["ok"] is False and ack["error"] == "target_offline" and ack["message"]
    ack = s["alice1"].call("forward", {"target": 10**12, "x": 1})
    assert ack["error"] == "target_offline"
    s["alice1"].call("forward", {"target": bob["id"], "marker": "end"})
    assert drain_until_marker(s["alice2"], "forwarded", "end") == [
        {"target": bob["id"], "marker": "end", "sender": alice["id"]}
    ]


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"target": None},
        {"target": True},
        {"target": False},
        {"target": 1.0},
        {"target": 1.5},
        {"target": "1"},
        {"target": [1]},
        {"target": {"id": 1}},
    ],
    ids=["missing", "null", "true", "false", "float-int", "float", "string", "list", "object"],
)
def test_invalid_targets(players, payload):
    alice, bob, s = players
    ack = s["alice1"].call("forward", payload)
    assert ack["ok"] is False and ack["error"] == "invalid_target"
    s["alice1"].emit("forward", payload)
    assert s["alice1"].expect("error") == {
        "event": "forward",
        "error": "invalid_target",
        "message": ack["message"],
    }
    s["alice1"].call("forward", {"target": bob["id"], "marker": "end"})
    assert drain_until_marker(s["bob1"], "forwarded", "end") == [
        {"target": bob["id"], "marker": "end", "sender": alice["id"]}
    ]


def test_target_leaving_makes_it_offline(server, connect):
    alice, bob = server.register(), server.register()
    sender = connect(server, "/forward", alice["token"])
    sender.expect("presence")
    receiver = connect(server, "/forward", bob["token"])
    receiver.expect("presence")
    assert sender.expect("user_joined")["id"] == bob["id"]
    assert sender.call("forward", {"target": bob["id"]}) == {"ok": True}
    receiver.close()
    assert sender.expect("user_left")["id"] == bob["id"]
    assert sender.call("forward", {"target": bob["id"]})["error"] == "target_offline"
