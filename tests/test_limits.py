"""Payload shape and size, rate limits, unknown events (docs/protocol.md, "Rules for every
event"); bad input harms nobody else."""

from __future__ import annotations

import time

import pytest

PAYLOAD_LIMIT = 1024


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory):
    from helpers.server import ServerProcess

    process = ServerProcess(
        tmp_path_factory.mktemp("strict"),
        "--payload-limit",
        str(PAYLOAD_LIMIT),
        "--rate-limit",
        "5",
        "--rate-burst",
        "10",
    ).start()
    yield process
    process.stop()


def pair(server, connect, namespace="/forward"):
    alice, bob = server.register(), server.register()
    sender = connect(server, namespace, alice["token"])
    sender.expect("presence")
    receiver = connect(server, namespace, bob["token"])
    receiver.expect("presence")
    assert sender.expect("user_joined")["id"] == bob["id"]
    return alice, bob, sender, receiver


@pytest.mark.parametrize(
    "args",
    [("text",), (42,), ([1, 2],), (None,), (), ({"target": 1}, "extra"), (True,)],
    ids=["string", "number", "list", "null", "none", "two-args", "bool"],
)
def test_non_object_data_is_invalid_payload(server, connect, args):
    alice, bob, sender, receiver = pair(server, connect)
    ack = sender.call("forward", *args)
    assert ack["ok"] is False and ack["error"] == "invalid_payload"
    sender.emit("forward", *args)
    assert sender.expect("error")["error"] == "invalid_payload"
    sender.call("forward", {"target": bob["id"], "marker": 1})
    assert receiver.expect("forwarded") == {"target": bob["id"], "marker": 1, "sender": alice["id"]}


def test_payload_limit_counts_compact_json(strict_server, connect):
    _alice, bob, sender, receiver = pair(strict_server, connect)
    base = {"target": bob["id"], "pad": ""}
    overhead = len(f'{{"target":{bob["id"]},"pad":""}}')
    at_limit = dict(base, pad="x" * (PAYLOAD_LIMIT - overhead))
    assert sender.call("forward", at_limit) == {"ok": True}
    assert receiver.expect("forwarded")["pad"] == at_limit["pad"]
    over = dict(base, pad="x" * (PAYLOAD_LIMIT - overhead + 1))
    ack = sender.call("forward", over)
    assert ack["ok"] is False and ack["error"] == "payload_too_large"
    sender.emit("forward", over)
    assert sender.expect("error")["error"] == "payload_too_large"


def test_rate_limit_drops_the_excess_and_recovers(strict_server, connect):
    alice, bob, sender, receiver = pair(strict_server, connect)
    acks = [sender.call("forward", {"target": bob["id"], "n": n}) for n in range(30)]
    accepted = [n for n, ack in enumerate(acks) if ack["ok"]]
    refused = [ack for ack in acks if not ack["ok"]]
    assert 10 <= len(accepted) < 30
    assert refused and {ack["error"] for ack in refused} == {"rate_limited"}
    # Exactly the accepted ones were delivered, in order.
    delivered = [receiver.expect("forwarded")["n"] for _ in accepted]
    assert delivered == accepted
    # Without an ack the excess is reported as the error event.
    for n in range(15):
        sender.emit("forward", {"target": bob["id"], "burst": n})
    assert sender.expect("error") == {
        "event": "forward",
        "error": "rate_limited",
        "message": refused[0]["message"],
    }
    # It recovers: once the bucket refills (5 events/s), events are accepted and delivered.
    deadline = time.monotonic() + 5
    while sender.call("forward", {"target": bob["id"], "recovered": True}) != {"ok": True}:
        assert time.monotonic() < deadline, "still rate-limited 5 s after the burst"
        time.sleep(0.1)  # waiting for the bucket to refill, which takes time by design
    while "recovered" not in (data := receiver.expect("forwarded")):
        assert "burst" in data, data  # the burst's accepted events arrive first
    assert data == {"target": bob["id"], "recovered": True, "sender": alice["id"]}


def test_unknown_event_gets_unknown_event(server, connect):
    _, _, sender, _ = pair(server, connect)
    ack = sender.call("no_such_event", {})
    assert ack["ok"] is False and ack["error"] == "unknown_event"
    sender.emit("no_such_event", {})
    assert sender.expect("error")["error"] == "unknown_event"


def test_bad_events_leave_others_connected_and_server_serving(server, connect):
    alice, bob, sender, receiver = pair(server, connect)
    for bad in ("text", [1], None):
        sender.emit("forward", bad)
    sender.emit("connect", {})
    sender.emit("disconnect", {})
    # Beyond 64 bits a JSON integer is read as a float (as JavaScript reads it): not an id.
    sender.emit("forward", {"target": 2**70})
    sender.emit("forward", {"target": "x"})
    errors = [sender.expect("error")["error"] for _ in range(7)]
    assert errors == ["invalid_payload"] * 3 + ["unknown_event"] * 2 + ["invalid_target"] * 2
    assert sender.call("forward", {"target": bob["id"], "still": "works"}) == {"ok": True}
    assert receiver.expect("forwarded") == {
        "target": bob["id"],
        "still": "works",
        "sender": alice["id"],
    }
    assert server.is_running()


def test_oversized_transport_message_closes_only_that_connection(server, connect):
    alice, bob, sender, receiver = pair(server, connect)
    huge = {"target": bob["id"], "pad": "x" * 1_100_000}  # beyond max_http_buffer_size
    sender.emit("forward", huge)
    # The sender's connection is closed, and with it alice's only session: she has left.
    sender.wait_until_disconnected()
    assert receiver.expect("user_left")["id"] == alice["id"]
    # The receiver's connection was not: it still sends and receives.
    carol = server.register()
    third = connect(server, "/forward", carol["token"])
    third.expect("presence")
    assert receiver.expect("user_joined")["id"] == carol["id"]
    assert receiver.call("forward", {"target": carol["id"], "from": "bob"}) == {"ok": True}
    assert third.expect("forwarded") == {"target": carol["id"], "from": "bob", "sender": bob["id"]}
    assert third.call("forward", {"target": bob["id"], "from": "carol"}) == {"ok": True}
    assert receiver.expect("forwarded") == {
        "target": bob["id"],
        "from": "carol",
        "sender": carol["id"],
    }
    assert server.is_running()


def test_binary_data_is_invalid_payload(server, connect):
    alice, bob, sender, receiver = pair(server, connect)
    ack = sender.call("forward", {"target": bob["id"], "blob": b"\x00\x01\x02"})
    assert ack["ok"] is False and ack["error"] == "invalid_payload"
    sender.call("forward", {"target": bob["id"], "marker": 1})
    assert receiver.expect("forwarded") == {"target": bob["id"], "marker": 1, "sender": alice["id"]}
