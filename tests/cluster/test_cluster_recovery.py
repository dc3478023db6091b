"""Connection state recovery on a cluster (docs/protocol.md, "Reconnecting without losing a
message"; docs/cluster.md, "Recovery on a cluster"): a held session keeps what any node sends
it, and its client recovers it on whichever node it reconnects to, the session moving there
(same sid, every missed event once and in order, nobody hearing of a leave or a join); a
node stopped with SIGTERM hands its sessions over, so that a rolling restart goes unnoticed;
a node killed with SIGKILL loses its held sessions, which presence sweeps.

The official client (Node) is the session that drops, python-socketio's clients watch and
send. ``moveTo`` makes the Node client's next connection go to another node.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import pytest

from helpers.clients import EventClient, expect, quiet, wait_for
from helpers.node import ForwardsRead, NodeClient, connected
from test_recovery import send_burst

pytestmark = pytest.mark.cluster

FAST = ("--rate-limit", "100000", "--rate-burst", "100000")
#: Most forwards a test sends before the dropped session's node holds it.
UNTIL_HELD = 200
PRESENCE_TTL = 6.0
NEWS = ("user_joined", "user_left", "presence", "presence_count")


@pytest.fixture
def node_clients():
    """Start official clients (``NodeClient(...)`` arguments); all closed after the test."""
    started: list[NodeClient] = []

    def start(*args, **kwargs) -> NodeClient:
        started.append(NodeClient(*args, **kwargs))
        return started[-1]

    yield start
    for client in started:
        client.close()


def send_until_held(sender: EventClient, event: str, make) -> list:
    """Send ``make(n)`` until an ack says a recipient is held (the sender is on the node
    that holds it): the data sent."""
    sent = []
    for n in range(UNTIL_HELD):
        sent.append(make(n))
        ack = sender.call(event, sent[-1])
        assert ack["ok"] is True, ack
        if ack.get("held") == 1:
            return sent
    raise AssertionError(f"no ack said held after {UNTIL_HELD} events")


def no_presence_news(*watchers: EventClient, known: set[int]) -> None:
    for watcher in watchers:
        news = [name for name, _ in quiet(watcher, known) if name in NEWS]
        assert news == [], news


@dataclass
class WatchedBob:
    """Bob, an official client, on the first node; Alice watches from the same node (her
    acks say held), Carol from the second."""

    alice: dict
    bob: dict
    carol: dict
    local: EventClient
    remote: EventClient
    bob_client: NodeClient
    first: dict  # bob's connect line
    known: set[int]


def watched_bob(cluster, connect, node_clients, transport: str, namespace: str) -> WatchedBob:
    """Connect the three of :class:`WatchedBob`, each arrival read by those already there."""
    near, far = cluster.nodes[0], cluster.nodes[1]
    alice, bob, carol = near.register(), near.register(), far.register()
    known = {alice["id"], bob["id"], carol["id"]}
    initial = ("presence", "history") if namespace == "/chat" else ("presence",)
    local = connect(near, namespace, alice["token"])
    for event in initial:
        expect(local, event, known)
    remote = connect(far, namespace, carol["token"])
    for event in initial:
        expect(remote, event, known)
    assert expect(local, "user_joined", known)["id"] == carol["id"]
    bob_client = node_clients(near.url, namespace, {"token": bob["token"]}, transport, False)
    first = connected(bob_client)  # and its presence
    for event in initial[1:]:
        bob_client.expect_event(event)
    for watcher in (local, remote):
        assert expect(watcher, "user_joined", known)["id"] == bob["id"]
    return WatchedBob(alice, bob, carol, local, remote, bob_client, first, known)


def reconnect_to(client: NodeClient, node) -> tuple[list, dict]:
    """The dropped client connects to ``node``: the events replayed, and its connect line."""
    client.send("moveTo", url=node.url)
    client.expect("moved")
    client.send("connect")
    before, connect_line = client.until("connect")
    return [line for line in before if line["type"] == "event"], connect_line


def test_a_held_session_keeps_what_other_nodes_send_and_recovers_on_its_node(
    cluster, connect, transport, node_clients
):
    w = watched_bob(cluster, connect, node_clients, transport, "/forward")
    bob, local, remote, bob_client = w.bob, w.local, w.remote, w.bob_client
    first, known = w.first, w.known

    bob_client.send("drop")
    bob_client.expect("disconnect")
    sent = send_until_held(
        local, "forward", lambda n: {"target": bob["id"], "from": "near", "n": n}
    )
    for n in range(3):  # another node's acks cannot know; "ok" all the same
        ack = remote.call("forward", {"target": bob["id"], "from": "far", "n": n})
        assert ack == {"ok": True}
    bob_client.send("connect")
    before, connect_line = bob_client.until("connect")

    assert connect_line == {"type": "connect", "id": first["id"], "recovered": True}
    forwards = [line["data"] for line in before if line["type"] == "event"]
    assert [m["n"] for m in forwards if m["from"] == "near"] == list(range(len(sent)))
    assert [m["n"] for m in forwards if m["from"] == "far"] == [0, 1, 2]
    no_presence_news(local, remote, known=known)


def test_a_session_held_on_one_node_recovers_on_another(cluster, connect, transport, node_clients):
    w = watched_bob(cluster, connect, node_clients, transport, "/forward")
    bob, local, remote, bob_client = w.bob, w.local, w.remote, w.bob_client
    first, known = w.first, w.known

    bob_client.send("drop")
    bob_client.expect("disconnect")
    sent = send_until_held(
        local, "forward", lambda n: {"target": bob["id"], "from": "near", "n": n}
    )
    for n in range(3):
        assert remote.call("forward", {"target": bob["id"], "from": "far", "n": n}) == {"ok": True}
    events, connect_line = reconnect_to(bob_client, cluster.nodes[1])

    assert connect_line == {"type": "connect", "id": first["id"], "recovered": True}
    forwards = [line["data"] for line in events]
    assert [m["n"] for m in forwards if m["from"] == "near"] == list(range(len(sent)))
    assert [m["n"] for m in forwards if m["from"] == "far"] == [0, 1, 2]
    # It lives on the far node now: forwards from either node reach it at once.
    assert remote.call("forward", {"target": bob["id"], "n": "far after"}) == {"ok": True}
    assert bob_client.expect_event("forwarded")["n"] == "far after"
    assert local.call("forward", {"target": bob["id"], "n": "near after"}) == {"ok": True}
    assert bob_client.expect_event("forwarded")["n"] == "near after"
    no_presence_news(local, remote, known=known)


def test_chat_and_room_messages_follow_a_session_to_another_node(
    cluster, connect, transport, node_clients
):
    w = watched_bob(cluster, connect, node_clients, transport, "/chat")
    local, remote, bob_client = w.local, w.remote, w.bob_client
    first, known = w.first, w.known
    assert bob_client.call("join", {"room": "table"})["ok"] is True
    assert remote.call("join", {"room": "table"})["ok"] is True
    assert bob_client.expect_event("user_joined")["room"] == "table"

    bob_client.send("drop")
    bob_client.expect("disconnect")
    sent = send_until_held(local, "message", lambda n: {"message": f"all {n}"})
    assert remote.call("message", {"message": "room only", "room": "table"})["ok"] is True
    events, connect_line = reconnect_to(bob_client, cluster.nodes[1])

    assert connect_line == {"type": "connect", "id": first["id"], "recovered": True}
    texts = [line["data"]["message"] for line in events if line["event"] == "message"]
    assert texts == [m["message"] for m in sent] + ["room only"]
    # Still in the room, now from the far node: its message reaches the room's other user.
    assert bob_client.call("message", {"message": "back", "room": "table"})["ok"] is True
    wait_for(remote, lambda name, data: name == "message" and data["message"] == "back")
    assert bob_client.expect_event("message")["message"] == "back"  # its own, as any sender
    assert remote.call("message", {"message": "to the table", "room": "table"})["ok"] is True
    assert bob_client.expect_event("message")["message"] == "to the table"
    no_presence_news(local, known=known)
    assert [n for n, _ in quiet(remote, known) if n in NEWS] == []


@pytest.mark.parametrize("transport", ["websocket"])  # its clients' own
def test_a_drop_during_a_burst_to_another_node_loses_doubles_and_reorders_nothing(
    start_cluster, connect, node_clients
):
    burst = 1000
    cluster = start_cluster(*FAST, "--recovery-max-events", str(burst * 2))
    near, far = cluster.nodes[0], cluster.nodes[1]
    alice, bob = near.register(), near.register()
    sender = connect(near, "/forward", alice["token"], transport="websocket")
    sender.expect("presence")
    bob_client = node_clients(near.url, "/forward", {"token": bob["token"]}, "websocket", True)
    first = connected(bob_client)
    assert sender.expect("user_joined")["id"] == bob["id"]
    bob_client.send("moveTo", url=far.url)  # the Manager's reconnection goes to the far node
    bob_client.expect("moved")
    bob_client.send("dropAfter", event="forwarded", count=burst // 3)

    read = ForwardsRead(bob_client)
    received, connects = read.received, read.connects
    send_burst(sender, bob["id"], range(burst // 2))
    read.until(lambda: connects)  # the drop, amid the burst
    send_burst(sender, bob["id"], range(burst // 2, burst))
    read.until(lambda: len(connects) == 2 and received and received[-1] == burst - 1)

    assert [line["type"] for line in connects] == ["disconnect", "connect"]
    assert connects[1] == {"type": "connect", "id": first["id"], "recovered": True}
    assert received == list(range(burst))
    assert [n for n, _ in quiet(sender, None) if n in NEWS] == []


def test_sigterm_hands_sessions_over_to_the_node_their_clients_reconnect_to(
    start_cluster, connect, transport, node_clients
):
    burst = 1000  # forwards before, while and after the node stops
    cluster = start_cluster(*FAST, "--recovery-max-events", str(burst * 2))
    stopping, other, third = cluster.nodes
    alice, bob, carol = (cluster.register() for _ in range(3))
    known = {alice["id"], bob["id"], carol["id"]}
    sender = connect(other, "/forward", alice["token"])
    expect(sender, "presence", known)
    watcher = connect(third, "/forward", carol["token"])
    expect(watcher, "presence", known)
    expect(sender, "user_joined", known)
    bob_client = node_clients(stopping.url, "/forward", {"token": bob["token"]}, transport, True)
    first = connected(bob_client)
    for client in (sender, watcher):
        assert expect(client, "user_joined", known)["id"] == bob["id"]
    bob_client.send("moveTo", url=other.url)  # as the proxy would, once its node is gone
    bob_client.expect("moved")

    stopper = threading.Thread(target=stopping.stop)
    send_burst(sender, bob["id"], range(burst // 3))
    stopper.start()
    send_burst(sender, bob["id"], range(burst // 3, burst))
    sent = burst
    while stopper.is_alive():  # the node may take longer than the burst to stop
        assert sender.call("forward", {"target": bob["id"], "n": sent})["ok"] is True
        sent += 1
    stopper.join()
    read = ForwardsRead(bob_client)
    received, connects = read.received, read.connects
    read.until(lambda: len(connects) == 2)  # recovered: the session is no longer held
    assert sender.call("forward", {"target": bob["id"], "n": sent}) == {"ok": True}
    sent += 1
    read.until(lambda: received and received[-1] == sent - 1)

    assert [line["type"] for line in connects] == ["disconnect", "connect"]
    assert connects[1] == {"type": "connect", "id": first["id"], "recovered": True}
    assert received == list(range(sent))
    no_presence_news(sender, watcher, known=known)


@pytest.mark.parametrize("transport", ["websocket"])  # its clients' own
def test_sigterm_hands_held_sessions_to_another_node_to_recover_later(
    start_cluster, connect, node_clients
):
    cluster = start_cluster("--shutdown-grace", "0.2")
    stopping, other, third = cluster.nodes
    alice, bob, carol = (cluster.register() for _ in range(3))
    known = {alice["id"], bob["id"], carol["id"]}
    sender = connect(stopping, "/forward", alice["token"], transport="websocket")
    expect(sender, "presence", known)
    watcher = connect(third, "/forward", carol["token"], transport="websocket")
    expect(watcher, "presence", known)
    expect(sender, "user_joined", known)
    bob_client = node_clients(stopping.url, "/forward", {"token": bob["token"]}, "websocket", False)
    first = connected(bob_client)
    assert expect(watcher, "user_joined", known)["id"] == bob["id"]

    bob_client.send("drop")
    bob_client.expect("disconnect")
    sent = send_until_held(sender, "forward", lambda n: {"target": bob["id"], "n": n})
    sender.close()  # alice's tab goes with the node (she leaves: that is news)
    stopping.stop()  # bob is held: nobody claims him within the grace; he is adopted
    late = connect(other, "/forward", alice["token"], transport="websocket")
    expect(late, "presence", known)
    for n in range(len(sent), len(sent) + 3):  # kept by whichever node adopted him
        assert late.call("forward", {"target": bob["id"], "n": n})["ok"] is True
    events, connect_line = reconnect_to(bob_client, third)

    assert connect_line == {"type": "connect", "id": first["id"], "recovered": True}
    forwards = [line["data"]["n"] for line in events if line["event"] == "forwarded"]
    assert forwards == list(range(len(sent) + 3))
    # What happened meanwhile was kept too: alice's tab leaving, and her coming back.
    news = [(line["event"], line["data"]["id"]) for line in events if line["event"] in NEWS]
    assert news == [("user_left", alice["id"]), ("user_joined", alice["id"])]
    news = [(name, data["id"]) for name, data in quiet(watcher, known) if name in NEWS]
    assert (("user_left", bob["id"]) not in news) and ("user_joined", bob["id"]) not in news


def test_a_rolling_restart_goes_unnoticed(start_cluster, transport, node_clients):
    cluster = start_cluster(*FAST)
    alice, bob = cluster.register(), cluster.register()
    auth = {"token": alice["token"]}
    alice_client = node_clients(cluster.url, "/forward", auth, transport, True)
    alice_first = connected(alice_client)
    bob_client = node_clients(cluster.url, "/forward", {"token": bob["token"]}, transport, True)
    bob_first = connected(bob_client)
    assert alice_client.expect_event("user_joined")["id"] == bob["id"]

    restarter = threading.Thread(target=cluster.rolling_restart)
    started = time.monotonic()
    restarter.start()
    sent = 0
    while restarter.is_alive():  # forwards all along, each acked or not (if in flight)
        alice_client.send("emit", event="forward", data={"target": bob["id"], "n": sent}, id=sent)
        sent += 1
        time.sleep(0.02)  # pacing the sender, not waiting for anything
    restarter.join()
    print(f"rolling restart of {len(cluster.nodes)} nodes: {time.monotonic() - started:.1f} s")
    last = alice_client.call("forward", {"target": bob["id"], "n": sent})
    assert last == {"ok": True}
    sent += 1

    received, bob_lines = [], []
    while not received or received[-1] != sent - 1:
        line = bob_client.next(timeout=30)
        if line["type"] == "event" and line["event"] == "forwarded":
            received.append(line["data"]["n"])
        else:
            bob_lines.append(line)
    alice_lines = alice_client.drain()
    acked = {line["id"] for line in alice_lines if line["type"] == "ack"}
    assert received == sorted(set(received)), "doubled or reordered"
    assert acked - set(received) == set(), "acknowledged, never delivered"
    print(f"{sent} forwards sent, {len(acked)} acked, {len(received)} delivered")
    for lines, first in ((alice_lines, alice_first), (bob_lines, bob_first)):
        connects = [line for line in lines if line["type"] == "connect"]
        assert connects and all(
            line == {"type": "connect", "id": first["id"], "recovered": True} for line in connects
        )
        events = [line["event"] for line in lines if line["type"] == "event"]
        assert not set(events) & set(NEWS), events


@pytest.mark.parametrize("transport", ["websocket"])  # its clients' own
def test_a_killed_nodes_held_sessions_are_swept_and_connect_afresh(
    start_cluster, connect, node_clients
):
    cluster = start_cluster("--presence-ttl", str(PRESENCE_TTL))
    doomed, other, _ = cluster.nodes
    alice, bob = cluster.register(), cluster.register()
    known = {alice["id"], bob["id"]}
    watcher = connect(other, "/forward", alice["token"], transport="websocket")
    expect(watcher, "presence", known)
    bob_client = node_clients(doomed.url, "/forward", {"token": bob["token"]}, "websocket", False)
    first = connected(bob_client)
    assert expect(watcher, "user_joined", known)["id"] == bob["id"]
    bob_client.send("drop")
    bob_client.expect("disconnect")

    killed_at = time.monotonic()
    cluster.kill(0)
    assert expect(watcher, "user_left", known, timeout=PRESENCE_TTL + 10)["id"] == bob["id"]
    assert time.monotonic() - killed_at <= PRESENCE_TTL
    events, connect_line = reconnect_to(bob_client, other)
    assert events == [] and connect_line["recovered"] is False
    assert connect_line["id"] != first["id"]
    bob_client.expect_event("presence")
    assert expect(watcher, "user_joined", known)["id"] == bob["id"]
