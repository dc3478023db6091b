"""Redis failing under a cluster, on each topology that fails over or shards (docs/cluster.md;
docs/protocol.md, "Delivery guarantee"): while the Redis that an event needs is away, the
event is answered ``unavailable``, never a false ``ok``; nothing acknowledged is lost; the
nodes follow by themselves, without a restart."""

from __future__ import annotations

import time

import pytest

from helpers.clients import EventClient, expect, wait_for
from helpers.redis_topologies import wait_until
from playwire.devserver import answers_200

pytestmark = pytest.mark.cluster

PRESENCE_TTL = 6.0
#: docs/cluster.md: once Sentinel has promoted the replica, every node follows within this.
FOLLOW_BOUND_S = 10.0
OUTAGE_DEADLINE_S = 30.0
RETRY_PAUSE_S = 0.05


class Forwarder:
    """Forwards numbered messages from ``sender`` to one target, keeping the replies."""

    def __init__(self, sender: EventClient, target_id: int) -> None:
        self.sender = sender
        self.target_id = target_id
        self.acked: list[int] = []
        self.refused: list[int] = []

    def send(self) -> bool:
        """One forward; True if acknowledged ``ok``, False if ``unavailable`` (else fails)."""
        n = len(self.acked) + len(self.refused) + 1
        reply = self.sender.call("forward", {"target": self.target_id, "n": n})
        if reply == {"ok": True}:
            self.acked.append(n)
            return True
        assert (reply["ok"], reply["error"]) == (False, "unavailable"), reply
        self.refused.append(n)
        return False

    def send_until_ok(self, deadline: float, on_refusal=lambda: None) -> float:
        """Forward until one is acknowledged again; the moment it was."""
        while not self.send():
            assert time.monotonic() < deadline, "forwarding did not resume"
            on_refusal()
            time.sleep(RETRY_PAUSE_S)  # retrying while Redis comes back, not synchronising
        return time.monotonic()

    def received_by(self, target: EventClient, known: set[int]) -> list[int]:
        """The numbers ``target`` received, up to the last one acknowledged."""
        received = []
        while not received or received[-1] != self.acked[-1]:
            received.append(expect(target, "forwarded", known)["n"])
        return received


def two_players(cluster, connect, namespace: str = "/forward"):
    """Alice on node 0 and Bob on node 1, each told of the other."""
    alice, bob = cluster.register(), cluster.register()
    known = {alice["id"], bob["id"]}
    sender = connect(cluster.nodes[0], namespace, alice["token"])
    expect(sender, "presence", known)
    target = connect(cluster.nodes[1], namespace, bob["token"])
    expect(target, "presence", known)
    assert expect(sender, "user_joined", known)["id"] == bob["id"]
    return alice, bob, sender, target, known


@pytest.mark.topology("sentinel")
def test_a_sentinel_failover_loses_no_acknowledged_message(start_cluster, connect):
    # The default presence ttl (30 s) outlasts the failover: no session is swept meanwhile.
    cluster = start_cluster()
    sentinel = cluster.redis
    _, bob, sender, target, known = two_players(cluster, connect)
    traffic = Forwarder(sender, bob["id"])
    for _ in range(20):
        assert traffic.send()

    killed_at = time.monotonic()
    sentinel.kill_master()
    promoted_at = None

    def note_promotion():
        nonlocal promoted_at
        if promoted_at is None and sentinel.replica_promoted():
            promoted_at = time.monotonic()

    resumed_at = traffic.send_until_ok(killed_at + OUTAGE_DEADLINE_S, note_promotion)
    note_promotion()
    assert promoted_at is not None, "traffic resumed before Sentinel promoted the replica"
    print(
        f"promoted {promoted_at - killed_at:.2f}s after SIGKILL, traffic resumed "
        f"{resumed_at - promoted_at:.2f}s after the promotion; {len(traffic.refused)} refused"
    )
    assert traffic.refused, "the master's death went unnoticed"
    assert resumed_at - promoted_at <= FOLLOW_BOUND_S
    for _ in range(20):
        assert traffic.send()
    # Every acknowledged message arrived, once and in order; none that was refused.
    assert traffic.received_by(target, known) == traffic.acked
    # Every node follows: each settles on its own clock, told by its /readyz.
    for node in cluster.nodes:
        ready_within = promoted_at + FOLLOW_BOUND_S - time.monotonic()
        wait_until(lambda node=node: answers_200(node.url + "/readyz"), "ready", ready_within)
    # Chat (presence, history in PostgreSQL, the broadcast) is served on the new master too.
    chat = connect(cluster.nodes[2], "/chat", bob["token"])
    expect(chat, "presence", known)
    assert chat.call("message", {"message": "after the failover"})["ok"] is True
    for node in cluster.nodes:
        assert node.is_running()


@pytest.mark.topology("cluster")
def test_a_redis_cluster_shard_down_fails_only_what_lived_there(start_cluster, connect):
    cluster = start_cluster("--presence-ttl", str(PRESENCE_TTL))
    shards = cluster.redis
    forward_shard = shards.shard_of("{/forward}")  # /forward's presence, hash-tagged
    # The key layout puts /chat's presence and the message queue's channel elsewhere.
    assert forward_shard not in (shards.shard_of("{/chat}"), shards.shard_of("flask-socketio"))
    alice, bob, sender, target, known = two_players(cluster, connect)
    chat_sender = connect(cluster.nodes[0], "/chat", alice["token"])
    expect(chat_sender, "presence", known)
    chat_reader = connect(cluster.nodes[2], "/chat", bob["token"])
    expect(chat_reader, "presence", known)
    traffic = Forwarder(sender, bob["id"])
    assert traffic.send()

    shards.kill_shard(forward_shard)
    assert not traffic.send()
    # What lives on the other shards is served meanwhile: chat, across nodes.
    ack = chat_sender.call("message", {"message": "still here"})
    assert ack["ok"] is True
    message = wait_for(chat_reader, lambda name, _: name == "message")[1]
    assert (message["id"], message["message"]) == (ack["id"], "still here")

    shards.restart_shard(forward_shard)
    # The shard restarted empty: each node writes its sessions back at its next renewal,
    # until then Bob is offline on /forward; nothing was acknowledged that did not arrive.
    deadline = time.monotonic() + OUTAGE_DEADLINE_S
    while True:
        reply = sender.call("forward", {"target": bob["id"], "n": 0})
        if reply == {"ok": True}:
            break
        assert reply["error"] in ("unavailable", "target_offline"), reply
        assert time.monotonic() < deadline, "forwarding did not resume"
        time.sleep(RETRY_PAUSE_S)  # retrying while the nodes renew presence
    # The renewal announces Alice to Bob again (user_joined), as after a Redis restart.
    forwarded = [wait_for(target, lambda name, _: name == "forwarded")[1] for _ in range(2)]
    assert [data["n"] for data in forwarded] == [1, 0]
    for node in cluster.nodes:
        assert node.is_running()


@pytest.mark.topology("cluster")
def test_a_namespaces_channels_shard_down_is_unavailable_everywhere_then_resumes(
    start_cluster, connect
):
    """/forward's channels live on the shard of its hash tag (playwire.routing), with its
    presence: while that shard restarts, forwards are refused on every node; the nodes
    subscribe again before any says ok, so everything acknowledged arrives. The shard of the
    queue's own channel (other namespaces' emits) is not needed meanwhile."""
    cluster = start_cluster("--presence-ttl", str(PRESENCE_TTL))
    shards = cluster.redis
    forward_shard = shards.shard_of("flask-socketio:{/forward}")
    assert forward_shard == shards.shard_of("{/forward}")
    assert forward_shard != shards.shard_of("flask-socketio")
    _, bob, sender, target, _ = two_players(cluster, connect)
    traffic = Forwarder(sender, bob["id"])
    assert traffic.send()

    shards.kill_shard(forward_shard)
    assert not traffic.send()
    shards.restart_shard(forward_shard)
    deadline = time.monotonic() + OUTAGE_DEADLINE_S
    while True:  # the shard came back empty: Bob is offline until his node renews him
        reply = sender.call("forward", {"target": bob["id"], "n": 0})
        if reply == {"ok": True}:
            break
        assert reply["error"] in ("unavailable", "target_offline"), reply
        assert time.monotonic() < deadline, "forwarding did not resume"
        time.sleep(RETRY_PAUSE_S)  # retrying while the nodes subscribe and renew presence
    for n in range(2, 7):
        assert sender.call("forward", {"target": bob["id"], "n": n}) == {"ok": True}
    # Every acknowledged forward arrived, in order: the first, the one that resumed, then 5.
    # (The renewal announces Alice to Bob again meanwhile, as after a Redis restart.)
    forwarded = [wait_for(target, lambda name, _: name == "forwarded")[1]["n"] for _ in range(7)]
    assert forwarded == [1, 0, 2, 3, 4, 5, 6]


@pytest.mark.topology("cluster")
def test_the_queues_own_channel_down_leaves_playwires_namespaces_served(start_cluster, connect):
    """The shard of the queue's own channel (python-socketio's, for namespaces that are not
    Playwire's) down: forwards go on across nodes, but no node is ready (/readyz) until it
    is back, and then every node is again."""
    cluster = start_cluster("--presence-ttl", str(PRESENCE_TTL))
    shards = cluster.redis
    queue_shard = shards.shard_of("flask-socketio")
    assert queue_shard != shards.shard_of("{/forward}")
    _, bob, sender, target, known = two_players(cluster, connect)
    shards.kill_shard(queue_shard)
    for node in cluster.nodes:
        wait_until(lambda node=node: not answers_200(node.url + "/readyz"), "not ready", 10)
    assert sender.call("forward", {"target": bob["id"], "n": 1}) == {"ok": True}
    assert expect(target, "forwarded", known)["n"] == 1
    shards.restart_shard(queue_shard)
    for node in cluster.nodes:
        wait_until(lambda node=node: answers_200(node.url + "/readyz"), "ready", 20)
