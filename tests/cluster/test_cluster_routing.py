"""What travels where on a cluster (docs/cluster.md, "What travels where"): a node receives
only what its own sessions need, subscriptions follow the sessions, and ``target_offline``
comes from the publish itself. Read on the wires: Redis's own view of its subscribers and
commands, and each node's count of the messages it read (``playwire_queue_received``)."""

from __future__ import annotations

import queue
import time
from typing import Any, NamedTuple

import pytest
import redis

from cluster.test_cluster_rules import layout
from helpers.clients import drain_until_marker, expect, quiet, wait_for
from test_metrics import scrape

pytestmark = pytest.mark.cluster

#: The nodes' default --unsubscribe-delay.
UNSUBSCRIBE_DELAY = 5.0
#: The channels of /forward (playwire.routing).
FORWARD = "flask-socketio:{/forward}"


def received_from_queue(node, kind: str) -> float:
    """The node's ``playwire_queue_received_total{channel=kind}`` (0 before the first)."""
    return scrape(node).get(("playwire_queue_received_total", (("channel", kind),)), 0.0)


def in_forward(connect, node, account: dict, known: set[int]):
    """A client of ``account`` in /forward on ``node``, past its ``presence``."""
    client = connect(node, "/forward", account["token"])
    expect(client, "presence", known)
    return client


def wait_until(condition, timeout: float = 10.0) -> None:
    """Poll Redis's view of a change a node makes on its own, within ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not within the timeout"
        time.sleep(0.05)  # polling Redis's state, not synchronising with the test


def subscribers(cluster, channel: str) -> int:
    """How many connections Redis counts as subscribed to ``channel``."""
    client = redis.Redis.from_url(cluster.redis.url)
    try:
        return dict(client.pubsub_numsub(channel))[channel.encode()]
    finally:
        client.close()


class PairAndIdle(NamedTuple):
    """Alice and Bob in /forward on node Q, Carol on node R (which holds neither)."""

    q: Any
    r: Any
    alice: dict
    bob: dict
    carol: dict
    known: set[int]
    sender: Any
    target: Any
    idle: Any


def pair_and_idle(cluster, connect) -> PairAndIdle:
    _, q, r = layout(cluster)
    alice, bob, carol = q.register(), q.register(), r.register()
    known = {alice["id"], bob["id"], carol["id"]}
    idle = in_forward(connect, r, carol, known)
    sender = in_forward(connect, q, alice, known)
    target = in_forward(connect, q, bob, known)
    for _ in ("alice", "bob"):  # namespace-wide news: the idle node hears it
        expect(idle, "user_joined", known)
    return PairAndIdle(q, r, alice, bob, carol, known, sender, target, idle)


def test_a_node_without_the_users_receives_nothing_for_them(cluster, connect):
    _, r, _, bob, carol, known, sender, target, idle = pair_and_idle(cluster, connect)
    assert subscribers(cluster, f"{FORWARD}:user:{bob['id']}") == 1
    before = received_from_queue(r, "user")
    for n in range(50):
        sender.emit("forward", {"target": bob["id"], "n": n})
    assert sender.call("forward", {"target": bob["id"], "marker": "end"}) == {"ok": True}
    assert len(drain_until_marker(target, "forwarded", "end", known)) == 51
    # One forward to Carol, published after all of those: once she has it, the idle node
    # has read everything published before it, and it was the only user message it read.
    assert sender.call("forward", {"target": carol["id"], "marker": "carol"}) == {"ok": True}
    assert expect(idle, "forwarded", known)["marker"] == "carol"
    assert received_from_queue(r, "user") == before + 1


def test_a_users_channel_is_held_exactly_while_it_has_a_session(cluster, connect):
    _, q, r = layout(cluster)
    alice, bob = q.register(), r.register()
    known = {alice["id"], bob["id"]}
    channel = f"{FORWARD}:user:{bob['id']}"
    watcher = in_forward(connect, q, alice, known)
    assert subscribers(cluster, channel) == 0
    first = in_forward(connect, r, bob, known)
    # Subscribed before anyone heard of the session.
    assert expect(watcher, "user_joined", known)["id"] == bob["id"]
    assert subscribers(cluster, channel) == 1
    second = in_forward(connect, q, bob, known)
    assert subscribers(cluster, channel) == 2  # one per node holding a session
    second.close()
    wait_until(lambda: subscribers(cluster, channel) == 1)
    first.close()
    assert expect(watcher, "user_left", known)["id"] == bob["id"]
    wait_until(lambda: subscribers(cluster, channel) == 0)


def test_a_rooms_channel_is_unsubscribed_after_the_delay(cluster, connect):
    _, q, r = layout(cluster)
    alice, bob = q.register(), r.register()
    known = {alice["id"], bob["id"]}
    room = f"routing-{alice['id']}"
    channel = f"{FORWARD}:room:{room}"
    player = in_forward(connect, q, alice, known)
    assert player.call("join", {"room": room})["ok"] is True
    assert subscribers(cluster, channel) == 1  # confirmed before the ack
    assert player.call("leave", {"room": room}) == {"ok": True}
    assert subscribers(cluster, channel) == 1  # still: a rejoin does not churn
    stats = redis.Redis.from_url(cluster.redis.url)
    subscribes = stats.info("commandstats")["cmdstat_subscribe"]["calls"]
    assert player.call("join", {"room": room})["ok"] is True
    assert stats.info("commandstats")["cmdstat_subscribe"]["calls"] == subscribes
    assert player.call("leave", {"room": room}) == {"ok": True}
    left_at = time.monotonic()
    wait_until(lambda: subscribers(cluster, channel) == 0, UNSUBSCRIBE_DELAY + 10)
    assert time.monotonic() - left_at >= UNSUBSCRIBE_DELAY - 0.5
    stats.close()


def test_target_offline_comes_from_the_publish_without_a_lookup(cluster, connect):
    _, q, r = layout(cluster)
    alice, bob, stranger = q.register(), r.register(), q.register()
    known = {alice["id"], bob["id"]}
    sender = in_forward(connect, q, alice, known)
    target = in_forward(connect, r, bob, known)
    expect(sender, "user_joined", known)
    stats = redis.Redis.from_url(cluster.redis.url)
    stats.config_resetstat()
    assert sender.call("forward", {"target": bob["id"], "x": 1}) == {"ok": True}
    assert expect(target, "forwarded", known)["x"] == 1
    reply = sender.call("forward", {"target": stranger["id"], "x": 2})
    assert reply["ok"] is False and reply["error"] == "target_offline"
    commands = stats.info("commandstats")
    stats.close()
    assert "cmdstat_hexists" not in commands
    # One script per forward: the count of the target's holders, and the publishes.
    assert commands["cmdstat_eval"]["calls"] >= 2


@pytest.mark.every_topology
def test_a_sessions_replies_and_deliveries_keep_the_order_of_its_events(cluster, connect):
    """A forward is answered once Redis has run its publish, and the session's next event
    runs meanwhile (docs/cluster.md, "What travels where"): its replies still
    come in the order of its events, those known at once (an unknown event's) after the
    forwards' before them, and each target gets its forwards in order."""
    _, q, r = layout(cluster)
    alice, bob, carol = q.register(), r.register(), q.register()
    known = {alice["id"], bob["id"], carol["id"]}
    remote = in_forward(connect, r, bob, known)
    local = in_forward(connect, q, carol, known)
    sender = in_forward(connect, q, alice, known)
    for client in (remote, remote, local):  # Carol's arrival, then Alice's
        expect(client, "user_joined", known)
    events = []
    for n in range(60):
        target = bob if n % 3 == 0 else carol
        events.append(
            ("no_such_event", {"n": n})
            if n % 7 == 6
            else ("forward", {"target": target["id"], "n": n})
        )
    acks: queue.Queue = queue.Queue()
    for n, (event, data) in enumerate(events):
        sender.sio.emit(
            event, data, namespace="/forward", callback=lambda ack, n=n: acks.put((n, ack))
        )
    replies = [acks.get(timeout=10) for _ in events]
    assert [n for n, _ in replies] == list(range(len(events)))
    assert [ack["ok"] for _, ack in replies] == [event == "forward" for event, _ in events]
    for client, user in ((remote, bob), (local, carol)):
        sent = [
            data["n"]
            for event, data in events
            if event == "forward" and data["target"] == user["id"]
        ]
        assert sender.call("forward", {"target": user["id"], "marker": "end"}) == {"ok": True}
        received = drain_until_marker(client, "forwarded", "end", known)
        assert [data["n"] for data in received[:-1]] == sent


def test_what_is_no_emit_on_a_users_channel_is_dropped_and_the_node_reads_on(cluster, connect):
    """What comes on a user's channel is read as an emit to that user; anything else (not
    JSON, not an object) is dropped, and the node's reader of the namespace goes on."""
    _, q, r = layout(cluster)
    alice, bob = q.register(), r.register()
    known = {alice["id"], bob["id"]}
    target = in_forward(connect, r, bob, known)
    sender = in_forward(connect, q, alice, known)
    expect(target, "user_joined", known)
    client = redis.Redis.from_url(cluster.redis.url)
    try:
        for junk in (b"not json", b"[1, 2]", b"7"):
            assert client.publish(f"{FORWARD}:user:{bob['id']}", junk) == 1
    finally:
        client.close()
    assert sender.call("forward", {"target": bob["id"], "marker": "after"}) == {"ok": True}
    assert expect(target, "forwarded", known)["marker"] == "after"
    assert quiet(target, known) == []


def publishes(node) -> float:
    """How many publishes ``node`` made (``playwire_queue_publish_seconds_count``)."""
    return scrape(node).get(("playwire_queue_publish_seconds_count", ()), 0.0)


def forward_all(sender, target_id: int, numbers) -> None:
    """Forward ``numbers`` to ``target_id``, each acknowledged ``ok``."""
    for n in numbers:
        assert sender.call("forward", {"target": target_id, "n": n}) == {"ok": True}


def received_numbers(client, count: int, known: set[int]) -> list[int]:
    return [expect(client, "forwarded", known)["n"] for _ in range(count)]


def wait_until_alone(node, sender, target, target_id: int) -> None:
    """Forward to ``target_id`` until ``node`` publishes none: it has heard that the other
    node let the users go (after the tab's disconnect). Each forward still arrives."""
    deadline = time.monotonic() + 10
    while True:
        before = publishes(node)
        forward_all(sender, target_id, [-1])
        wait_for(target, lambda name, data: name == "forwarded" and data["n"] == -1)
        if publishes(node) == before:
            return
        assert time.monotonic() < deadline, "the node went on publishing"


@pytest.mark.every_topology
def test_a_forward_between_users_held_only_here_publishes_nothing(cluster, connect):
    """Users whose every session is on one node: their forwards are delivered there at once,
    with no publish. A tab of either on another node gets everything sent from its connect
    on (the nodes tell each other who holds a user: playwire.routing.Holders); once it is
    closed, the node publishes nothing again."""
    q, r, alice, bob, _, known, sender, target, idle = pair_and_idle(cluster, connect)
    before = publishes(q)
    forward_all(sender, bob["id"], range(20))
    assert received_numbers(target, 20, known) == list(range(20))
    assert publishes(q) == before

    for user in (bob, alice):  # the target's tab elsewhere, then the sender's own
        tab = in_forward(connect, r, user, known)
        forward_all(sender, bob["id"], [100])
        assert expect(tab, "forwarded", known)["n"] == 100
        assert expect(target, "forwarded", known)["n"] == 100
        assert publishes(q) > before
        tab.close()
        wait_until_alone(q, sender, target, bob["id"])
        before = publishes(q)
        forward_all(sender, bob["id"], range(5))
        assert received_numbers(target, 5, known) == list(range(5))
        assert publishes(q) == before
    assert quiet(idle, known) == []


def test_forwards_keep_their_order_while_the_target_comes_and_goes_elsewhere(cluster, connect):
    """Forwards sent without waiting while the target opens and closes a tab on another
    node: each of the node's forwards is published or delivered at once as the target's
    holders change, and its sessions there still get every one once, in order; each tab
    elsewhere gets those sent while it was there, in order."""
    _, q, r = layout(cluster)
    alice, bob = q.register(), q.register()
    known = {alice["id"], bob["id"]}
    sender = in_forward(connect, q, alice, known)
    target = in_forward(connect, q, bob, known)
    numbers = iter(range(180))  # under the rate limit's burst (200)

    def send(count: int) -> None:
        for _ in range(count):
            sender.emit("forward", {"target": bob["id"], "n": next(numbers)})

    tabs = []
    for _ in range(3):
        send(20)
        tabs.append(in_forward(connect, r, bob, known))
        send(20)
        tabs[-1].close()
        send(20)  # while the node hears that the tab's node let Bob go
    assert sender.call("forward", {"target": bob["id"], "marker": "end"}) == {"ok": True}
    received = drain_until_marker(target, "forwarded", "end", known)
    assert [data["n"] for data in received[:-1]] == list(range(180))
    assert [event for event, _ in sender.pending() if event == "error"] == []
    for tab in tabs:
        got = [data["n"] for event, data in tab.pending() if event == "forwarded"]
        assert got == sorted(set(got)), "a tab elsewhere got forwards twice or out of order"
