"""Rooms in every namespace (docs/protocol.md, "Rooms"): join, leave, room presence, limits,
errors, and hooks that are not events; real servers, both transports."""

from __future__ import annotations

import json
import subprocess

import pytest

from helpers.node import node_binary
from helpers.server import REPO_ROOT

NAMESPACES = ["/chat", "/forward", "/ping"]


def member(account, room=None):
    found = {"id": account["id"], "username": account["username"]}
    return found if room is None else {**found, "room": room}


# The shared server's --ping-interval + --ping-timeout (the defaults), with a margin.
PING_TIMEOUT_BOUND = 60.0


def open_session(server, connect, namespace, account):
    """A session with its initial events read."""
    client = connect(server, namespace, account["token"])
    client.expect("presence")
    if namespace == "/chat":
        client.expect("history")
    return client


def skip_until(client, event, data):
    """Read events until ``event`` with ``data`` arrives (what comes before is dropped)."""
    while client.next() != (event, data):
        pass


def join(client, room):
    ack = client.call("join", {"room": room})
    assert ack["ok"] is True, ack
    return ack


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_room_presence_is_per_user(server, connect, namespace):
    alice, bob, carol = server.register(), server.register(), server.register()
    a1 = open_session(server, connect, namespace, alice)
    ack = join(a1, "lobby")
    assert (ack["room"], ack["users"], ack["count"]) == ("lobby", [member(alice)], 1)

    b1 = open_session(server, connect, namespace, bob)
    assert a1.expect("user_joined") == member(bob)  # namespace-wide presence, as ever
    ack = join(b1, "lobby")
    assert sorted(ack["users"], key=lambda u: u["id"]) == [member(alice), member(bob)]
    assert ack["count"] == 2
    assert a1.expect("user_joined") == member(bob, "lobby")

    # Bob's second tab: its namespace and room arrivals are silent, as is a second join.
    b2 = open_session(server, connect, namespace, bob)
    assert join(b2, "lobby")["count"] == 2
    assert join(b2, "lobby")["count"] == 2
    assert b1.call("leave", {"room": "lobby"}) == {"ok": True}  # Bob is still in it (b2)
    c1 = open_session(server, connect, namespace, carol)
    assert a1.expect("user_joined") == member(carol)  # the next thing Alice hears

    join(c1, "lobby")
    assert a1.expect("user_joined") == member(carol, "lobby")
    assert b2.expect("user_joined") == member(carol)
    assert b2.expect("user_joined") == member(carol, "lobby")
    assert b1.expect("user_joined") == member(carol)
    assert b1.pending() == []  # it left the room: no news of the room

    # Bob's last session in the room leaves it: everyone still there hears it once.
    assert b2.call("leave", {"room": "lobby"}) == {"ok": True}
    assert a1.expect("user_left") == member(bob, "lobby")
    assert c1.expect("user_left") == member(bob, "lobby")
    assert a1.pending() == [] and b2.pending() == []


@pytest.mark.parametrize("namespace", NAMESPACES)
def test_a_disconnect_leaves_every_room(server, connect, namespace):
    alice, bob = server.register(), server.register()
    a1 = open_session(server, connect, namespace, alice)
    join(a1, "room-a")
    join(a1, "room-b")
    b1 = open_session(server, connect, namespace, bob)
    assert a1.expect("user_joined") == member(bob)
    join(b1, "room-a")
    join(b1, "room-b")
    assert a1.expect("user_joined") == member(bob, "room-a")
    assert a1.expect("user_joined") == member(bob, "room-b")
    b1.close()
    # Over long-polling the first user_left was once in 8 runs later than 10 s (cause not
    # found yet: a DISCONNECT lost by the client would make the server see the session go
    # at the ping timeout, 25 + 20 s); the rooms must be left either way.
    left = [a1.expect("user_left", timeout=PING_TIMEOUT_BOUND if n == 0 else 10) for n in range(3)]
    assert member(bob, "room-a") in left and member(bob, "room-b") in left
    assert member(bob) in left
    # A newcomer to the room finds only Alice there.
    carol = server.register()
    c1 = open_session(server, connect, namespace, carol)
    assert [user["id"] for user in join(c1, "room-a")["users"]] == [alice["id"], carol["id"]]


def test_leaving_a_room_not_joined_is_not_in_room(server, connect, transport):
    client = open_session(server, connect, "/ping", server.register())
    ack = client.call("leave", {"room": "nowhere"})
    assert ack["ok"] is False and ack["error"] == "not_in_room" and ack["message"]
    client.emit("leave", {"room": "nowhere"})
    assert client.expect("error")["error"] == "not_in_room"


INVALID_ROOMS = [
    {},
    {"room": ""},
    {"room": "x" * 65},
    {"room": "a b"},
    {"room": "a/b"},
    {"room": "café"},
    {"room": "lobby\n"},
    {"room": None},
    {"room": 5},
    {"room": True},
    {"room": ["lobby"]},
    {"room": {"name": "lobby"}},
]


@pytest.mark.parametrize("event", ["join", "leave"])
def test_invalid_room_names(server, connect, event):
    client = open_session(server, connect, "/forward", server.register())
    for payload in INVALID_ROOMS:
        ack = client.call(event, payload)
        assert ack["ok"] is False and ack["error"] == "invalid_room" and ack["message"], payload
    client.emit(event, {"room": "x" * 65})
    assert client.expect("error")["error"] == "invalid_room"


def test_room_names_use_every_allowed_character(server, connect):
    client = open_session(server, connect, "/ping", server.register())
    for room in ("x" * 64, "A-Za-z0-9_-:.", "match:42.blue"):
        assert join(client, room)["room"] == room


def test_too_many_rooms(start_server, connect):
    server = start_server("--max-rooms-per-session", "2")
    account = server.register()
    tab1 = open_session(server, connect, "/ping", account)
    join(tab1, "r1")
    join(tab1, "r2")
    assert join(tab1, "r2")["count"] == 1  # joining a room it is in is not one more
    ack = tab1.call("join", {"room": "r3"})
    assert ack["ok"] is False and ack["error"] == "too_many_rooms" and ack["message"]
    tab2 = open_session(server, connect, "/ping", account)
    join(tab2, "r3")  # the limit is per session
    assert tab1.call("leave", {"room": "r1"}) == {"ok": True}
    join(tab1, "r3")


def test_room_full_but_not_for_a_second_tab(start_server, connect):
    server = start_server("--max-room-users", "2")
    alice, bob, carol = server.register(), server.register(), server.register()
    alice1 = open_session(server, connect, "/forward", alice)
    join(alice1, "duel")
    bob1 = open_session(server, connect, "/forward", bob)
    join(bob1, "duel")
    carol1 = open_session(server, connect, "/forward", carol)
    ack = carol1.call("join", {"room": "duel"})
    assert ack["ok"] is False and ack["error"] == "room_full" and ack["message"]
    bob2 = open_session(server, connect, "/forward", bob)
    assert join(bob2, "duel")["count"] == 2
    bob1.close()
    assert join(bob2, "duel")["count"] == 2  # Bob still holds his place with bob2
    bob2.close()
    skip_until(alice1, "user_left", member(bob, "duel"))
    assert join(carol1, "duel")["count"] == 2


HOOKS_AND_METHODS = [
    "connect",
    "disconnect",
    "after_connect",
    "after_join",
    "accepted",
    "dispatch",
    "on_join",
    "on_connect",
    "open_session",
    "close_session",
    "trigger_event",
    "emit_to",
    "broadcast",
    "announce",
    "send_presence_count",
    "leave_all_rooms",
    "require_room",
]


@pytest.mark.parametrize("namespace", ["/chat", "/ping"])
def test_hooks_and_methods_are_not_events(server, connect, namespace):
    client = open_session(server, connect, namespace, server.register())
    for event in HOOKS_AND_METHODS:
        ack = client.call(event, {"room": "lobby"})
        assert ack["ok"] is False and ack["error"] == "unknown_event", (event, ack)
    # The client is still served normally, and nothing else reached it.
    assert join(client, "lobby")["room"] == "lobby"
    assert client.pending() == []


def readme_match_snippet() -> str:
    """The code of the README's "Rooms: a four-player match"."""
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme[readme.index("### Rooms: a four-player match") :]
    start = section.index("```js\n") + len("```js\n")
    return section[start : section.index("```\n", start)]


def test_the_readme_four_player_match_works_as_written(start_server):
    server = start_server()
    players = [server.register() for _ in range(4)]
    config = {
        "url": server.url,
        "snippet": readme_match_snippet(),
        "players": [player["token"] for player in players],
        "outsider": server.register()["token"],
    }
    result = subprocess.run(
        [node_binary(), str(REPO_ROOT / "tests" / "readme_match.js")],
        input=json.dumps(config),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    seen = json.loads(result.stdout)["players"]
    ids = [player["id"] for player in players]
    for n, player in enumerate(seen):
        # Each player hears once of each who joins after it (and of their move and message,
        # sent as they join), and of nobody outside the match.
        assert player["added"] == ids[n + 1 :], n
        assert player["removed"] == ([ids[-1]] if n < 3 else []), n
        assert [move["sender"] for move in player["applied"]] == ids[n + 1 :], n
        assert all(move["move"] == [2, 1] and "room" in move for move in player["applied"]), n
        assert player["shown"] == ["gg"] * (4 - n), n
