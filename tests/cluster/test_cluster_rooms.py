"""Rooms across three nodes (docs/protocol.md, "Rooms"): membership and room presence in
Redis, room messages over the message queue, exactly as on one node."""

from __future__ import annotations

import pytest

from cluster.test_cluster_rules import layout
from helpers.clients import expect, wait_for
from helpers.server import unique_name

pytestmark = [pytest.mark.cluster, pytest.mark.every_topology]


def member(account, room=None):
    found = {"id": account["id"], "username": account["username"]}
    return found if room is None else {**found, "room": room}


def test_rooms_across_nodes(cluster, connect):
    p, q, r = layout(cluster)
    alice, bob, carol = (q.register() for _ in range(3))
    known = {alice["id"], bob["id"], carol["id"]}
    tabs = {}
    for name, node, account in (
        ("alice1", p, alice),
        ("bob1", q, bob),
        ("bob2", r, bob),
        ("carol1", r, carol),
    ):
        tabs[name] = connect(node, "/forward", account["token"])
        expect(tabs[name], "presence", known)
    ack = tabs["alice1"].call("join", {"room": "match:7"})
    assert ack["users"] == [member(alice)] and ack["count"] == 1
    # Bob's first tab (node Q) joins: Alice (node P) hears it; his second (node R) is silent.
    assert tabs["bob1"].call("join", {"room": "match:7"})["count"] == 2
    assert tabs["bob2"].call("join", {"room": "match:7"})["count"] == 2
    ack = tabs["carol1"].call("join", {"room": "match:7"})
    assert ack["users"] == sorted(
        [member(alice), member(bob), member(carol)], key=lambda user: user["id"]
    )
    assert next_room_event(tabs["alice1"]) == ("user_joined", member(bob, "match:7"))
    assert next_room_event(tabs["alice1"]) == ("user_joined", member(carol, "match:7"))

    # A forward to the room reaches every other session once, in order, on every node.
    for n in range(50):
        tabs["bob1"].emit("forward", {"room": "match:7", "n": n})
    assert tabs["bob1"].call("forward", {"room": "match:7", "marker": "end"}) == {"ok": True}
    for name in ("alice1", "bob2", "carol1"):
        received = forwarded_until(tabs[name], "end")
        assert [m.get("n") for m in received] == [*range(50), None], name
        assert received[0] == {"room": "match:7", "n": 0, "sender": bob["id"]}

    # Bob leaves on one node, then disconnects his last tab on another: one user_left.
    assert tabs["bob1"].call("leave", {"room": "match:7"}) == {"ok": True}
    tabs["bob2"].close()
    for name in ("alice1", "carol1"):
        assert next_room_event(tabs[name]) == ("user_left", member(bob, "match:7"))
    assert tabs["alice1"].call("leave", {"room": "match:7"}) == {"ok": True}
    assert next_room_event(tabs["carol1"]) == ("user_left", member(alice, "match:7"))


def next_room_event(client):
    """The next event about a room; namespace-wide presence news are skipped."""
    return wait_for(client, lambda name, data: isinstance(data, dict) and "room" in data)


def forwarded_until(client, marker):
    received = []
    while not received or received[-1].get("marker") != marker:
        received.append(wait_for(client, lambda name, _: name == "forwarded")[1])
    return received


def test_chat_in_a_room_across_nodes(cluster, connect):
    p, q, r = layout(cluster)
    alice, bob = q.register(), r.register()
    known = {alice["id"], bob["id"]}
    room = unique_name("guild.")  # the cluster's database outlives each test
    sender = connect(p, "/chat", alice["token"])
    expect(sender, "presence", known)
    expect(sender, "history", known)
    listener = connect(r, "/chat", bob["token"])
    expect(listener, "presence", known)
    expect(listener, "history", known)
    assert sender.call("join", {"room": room})["history"] == []
    listener.call("join", {"room": room})
    ack = sender.call("message", {"room": room, "message": "hi guild"})
    assert ack["ok"] is True
    _, data = wait_for(listener, lambda name, _: name == "message")
    assert data["room"] == room and data["message"] == "hi guild"
    late = connect(q, "/chat", bob["token"])
    expect(late, "presence", known)
    expect(late, "history", known)
    assert [m["message"] for m in late.call("join", {"room": room})["history"]] == ["hi guild"]


def test_room_and_presence_limits_hold_across_nodes(start_cluster, connect):
    cluster = start_cluster(
        *("--max-room-users", "2", "--max-rooms-per-session", "1"),
        *("--presence-limit", "3", "--presence-count-interval", "0.5"),
    )
    p, q, r = layout(cluster)
    alice, bob, carol, dave, erin = (q.register() for _ in range(5))
    known = {user["id"] for user in (alice, bob, carol, dave, erin)}
    tabs = {}
    for name, node, account in (("alice", q, alice), ("bob", r, bob), ("carol", p, carol)):
        tabs[name] = connect(node, "/forward", account["token"])
        expect(tabs[name], "presence", known)

    # The room's limits are counted in Redis, whichever node a session is on.
    assert tabs["alice"].call("join", {"room": "duel"})["count"] == 1
    assert tabs["bob"].call("join", {"room": "duel"})["count"] == 2
    ack = tabs["carol"].call("join", {"room": "duel"})
    assert ack["ok"] is False and ack["error"] == "room_full"
    tabs["bob2"] = connect(q, "/forward", bob["token"])
    expect(tabs["bob2"], "presence", known)
    assert tabs["bob2"].call("join", {"room": "duel"})["count"] == 2  # a second tab fits
    assert tabs["bob2"].call("join", {"room": "other"})["error"] == "too_many_rooms"

    # A fourth user (on R) takes the namespace above the limit on every node.
    tabs["dave"] = connect(r, "/forward", dave["token"])
    limited = {"users": [], "count": 4, "limited": True}
    assert expect(tabs["dave"], "presence", known) == limited
    assert wait_for(tabs["alice"], lambda name, _: name == "presence")[1] == limited
    tabs["erin"] = connect(p, "/forward", erin["token"])
    assert expect(tabs["erin"], "presence", known)["count"] == 5
    name, count = tabs["alice"].next()
    while count != {"count": 5}:  # (a node other than the switch's may repeat 4 first)
        assert (name, count) == ("presence_count", {"count": 4})
        name, count = tabs["alice"].next()
    assert name == "presence_count"
    # target_offline stays exact, across nodes.
    assert tabs["alice"].call("forward", {"target": erin["id"], "x": 1}) == {"ok": True}
    ack = tabs["alice"].call("forward", {"target": max(known) + 1000, "x": 1})
    assert ack["error"] == "target_offline"

    # Down to Alice and Bob (below 0.9 x 3): every node's sessions get a complete presence.
    for name in ("carol", "dave", "erin"):
        tabs[name].close()
    full = {"users": [member(alice), member(bob)], "count": 2}
    for name in ("alice", "bob"):
        complete = wait_for(tabs[name], lambda event, data: event == "presence" and data["users"])
        assert complete[1] == full, name
