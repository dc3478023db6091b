"""docs/protocol.md's rules across nodes (connecting, events, presence, /chat, /forward): one
cluster of three nodes behind nginx, on both transports.

nginx pins this machine's clients to one node (``ip_hash``); call it P. Clients connect
through nginx (landing on P) and directly to the other nodes Q and R, so that senders, their
other tabs and their targets sit on different nodes.
"""

from __future__ import annotations

import json
import time

import pytest
import redis
import requests

from helpers.clients import EVENT_TIMEOUT, drain_until_marker, expect, quiet
from helpers.server import PASSWORD, unique_name

pytestmark = [pytest.mark.cluster, pytest.mark.every_topology]


def layout(cluster):
    """(nginx, Q, R): where to connect for nodes P (through nginx), Q and R."""
    behind = cluster.node_behind_nginx()
    others = [node for n, node in enumerate(cluster.nodes) if n != behind]
    return cluster, others[0], others[1]


def test_accounts_and_tokens_are_shared(cluster, connect):
    p, q, r = layout(cluster)
    name = unique_name()
    account = q.register(name)
    login = requests.post(
        p.url + "/api/login", json={"username": name, "password": PASSWORD}, timeout=10
    )
    assert login.status_code == 200, login.text
    assert login.json()["id"] == account["id"]
    me = requests.get(r.url + "/api/me", cookies=login.cookies, timeout=10)
    assert me.json() == {"id": account["id"], "username": name}
    taken = requests.post(r.url + "/api/register", json={"username": name, "password": PASSWORD})
    assert taken.status_code == 409
    client = connect(r, "/ping", login.json()["token"])
    assert {"id": account["id"], "username": name} in client.expect("presence")["users"]


def test_presence_is_exact_across_nodes(cluster, connect):
    p, q, r = layout(cluster)
    alice, bob, carol = (q.register() for _ in range(3))
    known = {alice["id"], bob["id"], carol["id"]}
    watcher = connect(p, "/chat", alice["token"])
    expect(watcher, "presence", known)
    expect(watcher, "history", known)
    bob1 = connect(q, "/chat", bob["token"])
    users = expect(bob1, "presence", known)["users"]
    assert {"id": alice["id"], "username": alice["username"]} in users
    # Every tab is closed only once its connection is complete (history is its last step).
    expect(bob1, "history", known)
    assert expect(watcher, "user_joined", known) == {"id": bob["id"], "username": bob["username"]}
    # Bob's second tab, on a third node, announces nothing; closing one of two neither.
    bob2 = connect(r, "/chat", bob["token"])
    expect(bob2, "presence", known)
    expect(bob2, "history", known)
    bob1.close()
    carol1 = connect(r, "/chat", carol["token"])
    expect(carol1, "presence", known)
    expect(carol1, "history", known)
    assert expect(watcher, "user_joined", known)["id"] == carol["id"]
    bob2.close()
    assert expect(watcher, "user_left", known) == {"id": bob["id"], "username": bob["username"]}
    assert expect(carol1, "user_left", known)["id"] == bob["id"]
    assert quiet(watcher, known) == []


def forward_players(cluster, connect):
    """Alice: tab 1 through nginx (P), tab 2 on Q. Bob: tab 1 on R, tab 2 on Q."""
    p, q, r = layout(cluster)
    alice, bob = q.register(), r.register()
    known = {alice["id"], bob["id"]}
    tabs = {}
    for name, node, account in (
        ("alice1", p, alice),
        ("alice2", q, alice),
        ("bob1", r, bob),
        ("bob2", q, bob),
    ):
        tabs[name] = connect(node, "/forward", account["token"])
        expect(tabs[name], "presence", known)
    for name in ("alice1", "alice2"):
        assert expect(tabs[name], "user_joined", known)["id"] == bob["id"]
    return alice, bob, tabs, known


#: The channel of /forward's broadcasts (playwire.routing), which every node reads.
CHANNEL = "flask-socketio:{/forward}"


def next_announcement(channel, event: str, user_id: int) -> bytes:
    """The first message on the nodes' channel that announces ``event`` about ``user_id``."""
    deadline = time.monotonic() + EVENT_TIMEOUT
    while True:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"no {event} of {user_id} on the channel"
        message = channel.get_message(timeout=remaining)  # None also for the subscription
        if message is None:
            continue
        parsed = json.loads(message["data"])
        if parsed.get("event") == event and parsed["data"][0].get("id") == user_id:
            return message["data"]


@pytest.mark.topology("redis")
def test_a_late_announcement_reaches_none_of_the_users_own_tabs(cluster, connect):
    """A user's arrival, announced by one node, may reach another node after the user's
    next tab connected there (the channel is late on a loaded node): that tab hears nothing
    of its own user, everyone else hears it as sent. The test makes it late: it replays the
    node's own message on the channel once the second tab is in."""
    _, q, r = layout(cluster)
    alice, bob = q.register(), r.register()
    known = {alice["id"], bob["id"]}
    watcher = connect(q, "/forward", alice["token"])
    expect(watcher, "presence", known)
    redis_client = redis.Redis.from_url(cluster.redis.url)
    channel = redis_client.pubsub(ignore_subscribe_messages=True)
    channel.subscribe(CHANNEL)
    first_tab = connect(r, "/forward", bob["token"])
    expect(first_tab, "presence", known)
    announcement = next_announcement(channel, "user_joined", bob["id"])
    channel.close()
    assert expect(watcher, "user_joined", known)["id"] == bob["id"]
    second_tab = connect(q, "/forward", bob["token"])
    expect(second_tab, "presence", known)

    assert redis_client.publish(CHANNEL, announcement) == len(cluster.nodes)
    assert expect(watcher, "user_joined", known)["id"] == bob["id"]  # node Q read it
    assert watcher.call("forward", {"target": bob["id"], "marker": "end"}) == {"ok": True}
    end = {"target": bob["id"], "marker": "end", "sender": alice["id"]}
    for tab in (first_tab, second_tab):
        assert drain_until_marker(tab, "forwarded", "end", known) == [end]
    redis_client.close()


def test_forward_reaches_target_and_other_sender_tabs_once_across_nodes(cluster, connect):
    alice, bob, s, known = forward_players(cluster, connect)
    ack = s["alice1"].call("forward", {"target": bob["id"], "move": [1, 2], "sender": 999})
    assert ack == {"ok": True}
    expected = {"target": bob["id"], "move": [1, 2], "sender": alice["id"]}
    for name in ("bob1", "bob2", "alice2"):
        assert expect(s[name], "forwarded", known) == expected
    # Exactly once, and never back to the sending tab: the next thing each tab gets is
    # the marker sent afterwards from alice's other tab.
    assert s["alice2"].call("forward", {"target": bob["id"], "marker": "end"}) == {"ok": True}
    for name in ("alice1", "bob1", "bob2"):
        assert drain_until_marker(s[name], "forwarded", "end", known) == [
            {"target": bob["id"], "marker": "end", "sender": alice["id"]}
        ]
    assert quiet(s["alice2"], known) == []


def test_forward_to_self_reaches_each_other_tab_once_across_nodes(cluster, connect):
    alice, bob, s, known = forward_players(cluster, connect)
    assert s["alice1"].call("forward", {"target": alice["id"], "n": 1}) == {"ok": True}
    assert s["alice1"].call("forward", {"target": alice["id"], "marker": "end"}) == {"ok": True}
    assert drain_until_marker(s["alice2"], "forwarded", "end", known) == [
        {"target": alice["id"], "n": 1, "sender": alice["id"]},
        {"target": alice["id"], "marker": "end", "sender": alice["id"]},
    ]
    # A message from bob marks the end of what alice1 and bob's tabs could have received.
    assert s["bob1"].call("forward", {"target": alice["id"], "marker": "bob"}) == {"ok": True}
    for name in ("alice1", "bob2"):
        assert drain_until_marker(s[name], "forwarded", "bob", known) == [
            {"target": alice["id"], "marker": "bob", "sender": bob["id"]}
        ]


def test_forward_order_is_kept_across_nodes(cluster, connect):
    _, bob, s, known = forward_players(cluster, connect)
    count = 150  # within the default burst of 200 events
    for n in range(count):
        s["alice1"].emit("forward", {"target": bob["id"], "n": n})
    assert s["alice1"].call("forward", {"target": bob["id"], "marker": "end"}) == {"ok": True}
    for name in ("bob1", "bob2", "alice2"):
        received = drain_until_marker(s[name], "forwarded", "end", known)
        assert [data.get("n") for data in received[:-1]] == list(range(count))


def test_target_offline_is_decided_cluster_wide(cluster, connect):
    p, q, r = layout(cluster)
    alice, carol = q.register(), r.register()
    known = {alice["id"], carol["id"]}
    sender = connect(p, "/forward", alice["token"])
    expect(sender, "presence", known)
    assert sender.call("forward", {"target": carol["id"]})["error"] == "target_offline"
    target = connect(r, "/forward", carol["token"])
    expect(target, "presence", known)
    expect(sender, "user_joined", known)
    assert sender.call("forward", {"target": carol["id"], "x": 1}) == {"ok": True}
    assert expect(target, "forwarded", known) == {
        "target": carol["id"],
        "x": 1,
        "sender": alice["id"],
    }
    target.close()
    assert expect(sender, "user_left", known)["id"] == carol["id"]
    reply = sender.call("forward", {"target": carol["id"]})
    assert reply["ok"] is False and reply["error"] == "target_offline"
    sender.emit("forward", {"target": carol["id"]})
    report = expect(sender, "error", known)
    assert (report["event"], report["error"]) == ("forward", "target_offline")


def test_errors_reach_only_the_sender_across_nodes(cluster, connect):
    alice, bob, s, known = forward_players(cluster, connect)
    reply = s["alice1"].call("forward", {"target": "bob"})
    assert reply["ok"] is False and reply["error"] == "invalid_target"
    s["alice1"].emit("forward", ["not", "an", "object"])
    report = expect(s["alice1"], "error", known)
    assert (report["event"], report["error"]) == ("forward", "invalid_payload")
    assert s["alice1"].call("forward", {"target": bob["id"], "marker": "end"}) == {"ok": True}
    for name in ("alice2", "bob1", "bob2"):
        assert drain_until_marker(s[name], "forwarded", "end", known) == [
            {"target": bob["id"], "marker": "end", "sender": alice["id"]}
        ]


def test_chat_broadcast_and_history_across_nodes(cluster, connect):
    p, q, r = layout(cluster)
    alice, bob, carol = (p.register() for _ in range(3))
    known = {alice["id"], bob["id"], carol["id"]}
    tabs = {}
    for name, node, account in (
        ("alice", p, alice),
        ("bob", q, bob),
        ("carol1", r, carol),
        ("carol2", q, carol),
    ):
        tabs[name] = connect(node, "/chat", account["token"])
        expect(tabs[name], "presence", known)
        expect(tabs[name], "history", known)
    assert expect(tabs["alice"], "user_joined", known)["id"] == bob["id"]
    for name in ("alice", "bob"):
        assert expect(tabs[name], "user_joined", known)["id"] == carol["id"]
    ack = tabs["bob"].call("message", {"message": "hello", "username": "mallory", "x": 1})
    assert ack["ok"] is True
    message = {
        "id": ack["id"],
        "user_id": bob["id"],
        "username": bob["username"],
        "message": "hello",
        "timestamp": ack["timestamp"],
    }
    reply = tabs["carol1"].call("message", {"message": ""})
    assert reply["ok"] is False and reply["error"] == "invalid_message"
    end = tabs["carol1"].call("message", {"message": "end"})
    for name, tab in tabs.items():
        received = []
        while not received or received[-1]["id"] != end["id"]:
            received.append(expect(tab, "message", known))
        assert [data["id"] for data in received] == [ack["id"], end["id"]], name
        assert received[0] == message
    # History is shared: a new session on any node sees both messages, oldest first.
    late = connect(p, "/chat", alice["token"])
    expect(late, "presence", known)
    history = [data["id"] for data in expect(late, "history", known)["messages"]]
    assert history[-2:] == [ack["id"], end["id"]]
