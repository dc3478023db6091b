"""What a cluster does when a node dies or Redis goes away (docs/protocol.md, "Presence" and
"Delivery guarantee"; README, "What is guaranteed, and what is not")."""

from __future__ import annotations

import time

import pytest
import requests

from cluster.test_cluster_routing import forward_all, wait_until_alone
from helpers.clients import expect, quiet, wait_for

pytestmark = pytest.mark.cluster

# Short enough for a quick test, long enough that a loaded machine keeps the bound.
PRESENCE_TTL = 6.0


def test_a_killed_nodes_users_leave_within_the_ttl(start_cluster, connect):
    cluster = start_cluster("--presence-ttl", str(PRESENCE_TTL))
    alice, bob, carol = (cluster.register() for _ in range(3))
    known = {alice["id"], bob["id"], carol["id"]}

    def join(node: int, account: dict):
        client = connect(cluster.nodes[node], "/forward", account["token"])
        expect(client, "presence", known)
        return client

    watchers = [join(0, alice), join(1, alice)]
    join(2, bob)  # Bob's two tabs sit on the node that dies.
    join(2, bob)
    survivor = join(1, carol)
    for watcher in watchers:
        assert expect(watcher, "user_joined", known)["id"] == bob["id"]
        assert expect(watcher, "user_joined", known)["id"] == carol["id"]

    killed_at = time.monotonic()
    cluster.kill(2)
    left = expect(watchers[0], "user_left", known, timeout=PRESENCE_TTL + 10)
    elapsed = time.monotonic() - killed_at
    print(f"user_left {elapsed:.2f}s after SIGKILL (presence ttl {PRESENCE_TTL}s)")
    assert left == {"id": bob["id"], "username": bob["username"]}
    assert elapsed <= PRESENCE_TTL
    # Exactly one announcement reached each session, from whichever node swept it.
    assert expect(watchers[1], "user_left", known)["id"] == bob["id"]
    reply = watchers[0].call("forward", {"target": bob["id"]})
    assert reply["ok"] is False and reply["error"] == "target_offline"
    assert watchers[1].call("forward", {"target": carol["id"], "marker": "end"}) == {"ok": True}
    assert expect(watchers[0], "forwarded", known)["marker"] == "end"
    assert expect(survivor, "user_left", known)["id"] == bob["id"]
    assert expect(survivor, "forwarded", known)["marker"] == "end"
    assert quiet(watchers[0], known) == quiet(watchers[1], known) == []


def test_redis_away_is_answered_unavailable_and_traffic_resumes(start_cluster, connect):
    cluster = start_cluster("--presence-ttl", str(PRESENCE_TTL))
    alice, bob = cluster.register(), cluster.register()
    known = {alice["id"], bob["id"]}
    clients = []
    for node, namespace, account in (
        (0, "/forward", alice),
        (1, "/forward", bob),
        (0, "/chat", alice),
        (2, "/chat", bob),
    ):
        clients.append(connect(cluster.nodes[node], namespace, account["token"]))
        expect(clients[-1], "presence", known)
    sender, target, chat_sender, chat_reader = clients
    expect(sender, "user_joined", known)
    assert sender.call("forward", {"target": bob["id"], "n": 0}) == {"ok": True}
    assert expect(target, "forwarded", known)["n"] == 0

    cluster.redis.stop()
    reply = sender.call("forward", {"target": bob["id"], "n": 1})
    assert reply["ok"] is False and reply["error"] == "unavailable"
    sender.emit("forward", {"target": bob["id"], "n": 2})
    report = wait_for(sender, lambda name, _: name == "error")[1]
    assert (report["event"], report["error"]) == ("forward", "unavailable")
    reply = chat_sender.call("message", {"message": "into the void"})
    assert reply["ok"] is False and reply["error"] == "unavailable"
    # A new session cannot join presence: it is told so and disconnected.
    newcomer = connect(cluster.nodes[2], "/forward", bob["token"])
    report = wait_for(newcomer, lambda name, _: name == "error")[1]
    assert (report["event"], report["error"]) == ("connect", "unavailable")
    newcomer.wait_until_disconnected()
    # Each node still serves what needs no Redis.
    for node in cluster.nodes:
        assert requests.get(node.url + "/healthz", timeout=10).status_code == 200
        assert node.is_running()

    cluster.redis.start()
    # Nodes reconnect by themselves. Redis restarted empty: presence comes back as each node
    # renews its sessions, which it does once it receives from the queue again.
    n = 2
    deadline = time.monotonic() + 30
    while True:
        assert time.monotonic() < deadline, "forwarding did not resume within 30s"
        n += 1
        if sender.call("forward", {"target": bob["id"], "n": n}) == {"ok": True}:
            break
        time.sleep(0.2)  # retrying while the nodes reconnect, not synchronising
    # What was refused during the outage never arrives; what was accepted does.
    assert wait_for(target, lambda name, _: name == "forwarded")[1]["n"] == n
    # A broadcast reaches the nodes that are subscribed again (at most once meanwhile).
    deadline = time.monotonic() + 30
    while True:
        assert time.monotonic() < deadline, "chat did not resume within 30s"
        ack = chat_sender.call("message", {"message": "back"})
        if ack["ok"]:
            try:
                message = wait_for(chat_reader, lambda name, _: name == "message", timeout=2)
            except AssertionError:
                continue
            assert (message[1]["id"], message[1]["message"]) == (ack["id"], "back")
            break
        time.sleep(0.2)
    for node in cluster.nodes:
        assert node.is_running()


def test_once_redis_is_back_a_node_learns_again_who_holds_its_users(start_cluster, connect):
    """A node whose subscription was lost forgets which other nodes hold its users (what
    they said meanwhile is lost), and publishes each forward until it has asked them again,
    once every node is subscribed again (playwire.routing.Holders): a tab of the target on
    another node gets every forward acknowledged; once it is closed, the node publishes
    nothing again."""
    cluster = start_cluster("--presence-ttl", str(PRESENCE_TTL))
    here, elsewhere = cluster.nodes[0], cluster.nodes[1]
    alice, bob = cluster.register(), cluster.register()
    known = {alice["id"], bob["id"]}
    sender = connect(here, "/forward", alice["token"])
    expect(sender, "presence", known)
    target = connect(here, "/forward", bob["token"])
    expect(target, "presence", known)
    tab = connect(elsewhere, "/forward", bob["token"])
    expect(tab, "presence", known)

    cluster.redis.stop()
    cluster.redis.start()
    n, deadline = 0, time.monotonic() + 30
    while sender.call("forward", {"target": bob["id"], "n": n}) != {"ok": True}:
        assert time.monotonic() < deadline, "forwarding did not resume within 30s"
        n += 1
        time.sleep(0.2)  # retrying while the nodes reconnect, not synchronising
    forward_all(sender, bob["id"], range(n + 1, n + 6))
    for client in (target, tab):  # those refused arrive nowhere; the others everywhere
        got = [wait_for(client, lambda name, _: name == "forwarded")[1]["n"] for _ in range(6)]
        assert got == list(range(n, n + 6))
    tab.close()
    wait_until_alone(here, sender, target, bob["id"])
    for node in cluster.nodes:
        assert node.is_running()
