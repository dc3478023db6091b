"""The nodes' exchange of who holds a user's channel (playwire.routing.Holders), on a bus
that delivers each message at once to the nodes subscribed to its channel, the way Redis
pub/sub would, with the answers coming back before PUBLISH returns to the teller. The
cluster suite runs the same exchange over Redis (tests/cluster/test_cluster_routing.py);
here are the cases a real cluster cannot be made to show on cue: a node that never
answers, answers before the count, a lost subscription in the middle."""

from __future__ import annotations

from typing import Callable

from playwire.routing import Holders

CHANNEL = "queue:{/forward}:user:7"


class Node:
    """A node's Holders, the channels it subscribes to and those it holds."""

    def __init__(self, bus: Bus, name: str) -> None:
        self.holders = Holders(name, bus.publish, lambda task, *args: task(*args))
        self.subscribed: set[str] = set()
        self.held: set[str] = set()
        #: Its reader stopped: Redis counts it among the subscribers, it hears nothing.
        self.hung = False

    def hold(self, channel: str = CHANNEL) -> bool:
        """Its first session of the user: subscribe, then announce."""
        self.held.add(channel)
        self.holders.start(channel)
        self.subscribed.add(channel)
        return self.holders.announce(channel, timeout=0.05)

    def let_go(self, channel: str = CHANNEL) -> None:
        """Its last session of the user ended: unsubscribe, then release."""
        self.held.discard(channel)
        self.subscribed.discard(channel)
        self.holders.stop(channel)


class Bus:
    def __init__(self) -> None:
        self.nodes: list[Node] = []

    def node(self, name: str) -> Node:
        self.nodes.append(Node(self, name))
        return self.nodes[-1]

    def publish(self, channel: str, data: bytes) -> int:
        receivers = [node for node in self.nodes if channel in node.subscribed]
        for node in receivers:
            if not node.hung:
                node.holders.heard(channel, data, channel in node.held)
        return len(receivers)


def alone(*nodes: Node) -> list[bool]:
    return [node.holders.alone(CHANNEL) for node in nodes]


def test_a_node_is_alone_with_a_user_until_another_node_holds_the_user() -> None:
    bus = Bus()
    a, b = bus.node("a"), bus.node("b")
    assert a.hold()
    assert alone(a) == [True]
    assert b.hold()  # a answered before b's PUBLISH returned its count
    assert alone(a, b) == [False, False]
    b.let_go()
    assert alone(a, b) == [True, False]
    assert b.hold()
    assert alone(a, b) == [False, False]


def test_a_node_letting_the_user_go_is_no_holder_for_the_next() -> None:
    bus = Bus()
    a, b = bus.node("a"), bus.node("b")
    assert a.hold()
    a.held.discard(CHANNEL)  # its last session ended; still subscribed for a moment
    assert b.hold()  # a answers "gone"
    assert alone(b) == [True]


def test_a_node_that_does_not_answer_leaves_the_new_holder_unsure() -> None:
    bus = Bus()
    a, b = bus.node("a"), bus.node("b")
    assert a.hold()
    a.hung = True
    assert b.hold()  # announced anyway, after the timeout
    assert alone(b) == [False]
    a.hung = False
    a.let_go()  # even its release does not make b sure: b never learnt who holds the user
    assert alone(b) == [False]


def test_a_lost_subscription_forgets_everything_until_announced_again() -> None:
    bus = Bus()
    a, b = bus.node("a"), bus.node("b")
    assert a.hold() and b.hold()
    b.let_go()
    assert alone(a) == [True]
    a.holders.forget()
    assert alone(a) == [False]
    assert a.holders.announce(CHANNEL)
    assert alone(a) == [True]


def test_an_announce_cut_short_by_a_lost_subscription_fails() -> None:
    bus = Bus()
    a, b = bus.node("a"), bus.node("b")
    assert a.hold()

    def answer_then_lose_bs_subscription(task: Callable, *args) -> None:
        task(*args)
        b.holders.forget()  # while b waits for the answers to its hold

    a.holders._spawn = answer_then_lose_bs_subscription
    assert not b.hold()
    assert alone(b) == [False]
