"""playwire.redis_client: a client of each topology, and the pub/sub adapter (SPUBLISH and
SSUBSCRIBE on a Redis Cluster), against real servers started on free ports."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from helpers.cluster import redis_topology
from playwire.devserver import src_first
from playwire.redis_client import Publisher, Subscription, connect, is_valid_url

pytestmark = pytest.mark.cluster

CHANNEL = "playwire-test"


@pytest.fixture(scope="module", params=["redis", "sentinel", "cluster"])
def topology(request, tmp_path_factory) -> Iterator:
    server = redis_topology(request.param, tmp_path_factory.mktemp(request.param)).start()
    yield server
    server.stop()


def first_message(subscription: Subscription, timeout: float = 10.0) -> dict:
    """The first message the subscription yields, read on a thread of its own."""
    received: list[dict] = []
    reader = threading.Thread(target=lambda: received.append(next(subscription.listen())))
    reader.start()
    reader.join(timeout)
    assert received, f"nothing received within {timeout}s"
    return received[0]


def run_under_gevent(script: str, *args: str) -> dict:
    """What ``script`` (one of the scripts below, which patch the standard library for
    gevent first, as ``playwire serve`` does) printed last, as JSON."""
    result = subprocess.run(
        [sys.executable, "-c", script, *args],
        env=src_first(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


def test_a_client_of_each_topology_reads_what_it_wrote(topology):
    assert is_valid_url(topology.url)
    client = connect(topology.url)
    client.set("{test}key", "value")
    assert client.get("{test}key") == "value"
    client.close()


def test_what_is_published_reaches_every_subscription(topology):
    subscriptions = [Subscription(topology.url, CHANNEL) for _ in range(2)]
    client = connect(topology.url)
    publisher = Publisher(client)
    # SUBSCRIBE is sent without waiting for its reply: publish until both count.
    for _ in range(100):
        if publisher.publish(CHANNEL, "hello") == 2:
            break
    else:
        pytest.fail("the subscriptions never both counted")
    for subscription in subscriptions:
        message = first_message(subscription)
        assert message == {"type": "message", "channel": CHANNEL.encode(), "data": b"hello"}
        subscription.close()
    client.close()


# Under gevent, as `playwire serve` runs: greenlets publish at once through one Publisher,
# while a subscription reads on a greenlet of its own. Prints what it saw, as JSON.
PUBLISHERS_SCRIPT = """
from gevent import monkey; monkey.patch_all()
import json, sys, gevent
from playwire.redis_client import REDIS_ERRORS, Publisher, Subscription, connect

url, channel, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
batches = []
class CountingPublisher(Publisher):
    def _send(self, batch):
        batches.append(len(batch))
        return super()._send(batch)

subscription = Subscription(url, channel)
publisher = CountingPublisher(connect(url))
readies = 1
while publisher.publish(channel, "ready") < 1:  # until the SUBSCRIBE counts
    readies += 1
received = []
def read():
    for message in subscription.listen():
        if message["data"] != b"ready":
            received.append(message["data"].decode())
        if len(received) == count:
            return
reader = gevent.spawn(read)
greenlets = [gevent.spawn(publisher.publish, channel, f"m{n}") for n in range(count)]
gevent.joinall(greenlets, timeout=30)
reader.join(timeout=30)
failed = Publisher(connect("redis://127.0.0.1:1/0"))
def refused():
    try:
        failed.publish(channel, "lost")
    except REDIS_ERRORS:
        return "refused"
errors = gevent.joinall([gevent.spawn(refused) for _ in range(20)], timeout=30)
print(json.dumps({
    "counts": [g.value for g in greenlets],
    "received": received,
    "batches": batches[readies:],
    "refused": [g.value for g in errors],
}))
"""


def test_publishes_under_gevent_are_pipelined_in_order(topology):
    count = 300
    seen = run_under_gevent(PUBLISHERS_SCRIPT, topology.url, CHANNEL + "-p", str(count))
    assert seen["counts"] == [1] * count  # each confirmed, with the subscription's count
    assert seen["refused"] == ["refused"] * 20  # Redis away: every publisher told, none hangs
    made = [f"m{n}" for n in range(count)]
    if topology.url.startswith("redis+cluster"):  # SPUBLISH one by one, on pooled connections
        assert seen["batches"] == [] and sorted(seen["received"]) == sorted(made)
    else:  # all, in the order made, in a few round trips rather than 300
        assert seen["received"] == made
        assert sum(seen["batches"]) == count and len(seen["batches"]) <= 10, seen["batches"]


# Under gevent: one subscription (another node) whose channels come and go while it is
# read, and a forward's publish to a user (PUBLISH_TO_USERS). The channels share a hash tag,
# as a namespace's do (playwire.routing): one shard, one connection, one order. Prints what
# it saw, as JSON.
ROUTES_SCRIPT = """
from gevent import monkey; monkey.patch_all()
import json, sys, gevent, gevent.event
from playwire.redis_client import Publisher, Subscription, connect

def settled(later):  # a forward's publish returns a Later: wait here for its result
    result = gevent.event.AsyncResult()
    later.add_done_callback(lambda known: result.set(known.result()))
    return result.get(timeout=10)

url = sys.argv[1]
base, user, stranger = "{routes}", "{routes}:user:1", "{routes}:user:2"
subscription = Subscription(url, base)
received = []
def read():
    for message in subscription.listen():
        received.append([message["channel"].decode(), message["data"].decode()])
        if message["data"] == b"end":
            return
reader = gevent.spawn(read)
publisher = Publisher(connect(url))
seen = {"confirmed": subscription.add(user).wait(10)}
forward = publisher.publish_to_user
# The other node holds the user: both copies go; nobody holds the stranger: none does.
seen["heard"] = settled(forward(user, "to-both", False, base, False))
seen["unheard"] = settled(forward(stranger, "never", False, base, False))
# This node holds the stranger itself (it delivers without Redis): online, and the copy for
# the stranger is not published, nobody else holding the channel; the base's copy is.
seen["here"] = settled(forward(stranger, "to-base", True, base, False))
subscription.remove(user)
seen["before_unsubscribed"] = 0
deadline = gevent.time.time() + 10
while publisher.publish(user, "before-unsubscribed") and gevent.time.time() < deadline:
    seen["before_unsubscribed"] += 1  # heard: Redis has not run the UNSUBSCRIBE yet
    gevent.sleep(0.01)  # polling Redis's view of the UNSUBSCRIBE
seen["again"] = subscription.add(user).wait(10)
seen["heard_again"] = publisher.publish(user, "again")
publisher.publish(base, "end")
reader.join(timeout=10)
seen["received"] = received
print(json.dumps(seen))
"""


def test_channels_come_and_go_and_a_publish_to_a_user_reaches_the_other_holders(topology):
    seen = run_under_gevent(ROUTES_SCRIPT, topology.url)
    assert seen["confirmed"] and seen["again"]  # each SUBSCRIBE confirmed
    assert (seen["heard"], seen["unheard"], seen["here"]) == (True, False, True)
    assert seen["heard_again"] == 1
    # In the order published, on one connection; "never" followed an unheard publish, and
    # what was published on the channel left arrived only while Redis counted it.
    early = ["{routes}:user:1", "before-unsubscribed"]
    assert seen["received"].count(early) == seen["before_unsubscribed"]
    assert [message for message in seen["received"] if message != early] == [
        ["{routes}:user:1", "to-both"],
        ["{routes}", "to-both"],
        ["{routes}", "to-base"],
        ["{routes}:user:1", "again"],
        ["{routes}", "end"],
    ]
