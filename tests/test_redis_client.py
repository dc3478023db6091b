"""playwire.redis_client: a client of each topology, and the pub/sub adapter (SPUBLISH and
SSUBSCRIBE on a Redis Cluster), against real servers started on free ports."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from helpers.cluster import redis_topology
from playwire.redis_client import Subscription, connect, is_valid_url, publish

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


def test_a_client_of_each_topology_reads_what_it_wrote(topology):
    assert is_valid_url(topology.url)
    client = connect(topology.url)
    client.set("{test}key", "value")
    assert client.get("{test}key") == "value"
    client.close()


def test_what_is_published_reaches_every_subscription(topology):
    subscriptions = [Subscription(topology.url, CHANNEL) for _ in range(2)]
    publisher = connect(topology.url)
    # SUBSCRIBE is sent without waiting for its reply: publish until both count.
    for _ in range(100):
        if publish(publisher, CHANNEL, "hello") == 2:
            break
    else:
        pytest.fail("the subscriptions never both counted")
    for subscription in subscriptions:
        message = first_message(subscription)
        assert message == {"type": "message", "channel": CHANNEL.encode(), "data": b"hello"}
        subscription.close()
    publisher.close()
