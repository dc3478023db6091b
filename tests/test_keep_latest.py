"""Keep-latest forwards (docs/protocol.md, *Keep-latest*): a recipient that falls behind
gets the newest ``latest`` message instead of a backlog, and nothing else is dropped or
reordered. The recipient is a raw client that does not read while the sender sends."""

from __future__ import annotations

import json

import pytest

from helpers.raw import RawPolling, RawSession, events_in

POSITIONS = 1500
EVERY = 50  # a plain forward after every 50 positions
FLAGS = ("--rate-limit", "100000", "--rate-burst", "100000")


class RawWebSocketReceiver:
    def __init__(self, server, token):
        self.session = RawSession(server, receive_buffer=4096)
        self.session.join("/forward", token)

    def read(self) -> list[str]:
        return [self.session.ws.recv()]

    def close(self):
        self.session.close()


class RawPollingReceiver:
    def __init__(self, server, token):
        self.client = RawPolling(server)
        self.client.join("/forward", token)

    def read(self) -> list[str]:
        return self.client.get()

    def close(self):
        self.client.close()


RECEIVERS = {"websocket": RawWebSocketReceiver, "polling": RawPollingReceiver}


def sent_messages(target: int) -> list[dict]:
    messages = []
    for x in range(POSITIONS):
        messages.append({"target": target, "latest": "position", "x": x})
        if x % EVERY == 0:
            messages.append({"target": target, "n": x})
    messages.append({"target": target, "n": "done"})
    return messages


@pytest.mark.parametrize("receiver_transport", sorted(RECEIVERS))
def test_a_lagging_recipient_gets_the_newest_and_every_plain_message(
    start_server, connect, receiver_transport
):
    server = start_server(*FLAGS)
    alice, bob = server.register(), server.register()
    sender = connect(server, "/forward", alice["token"])
    sender.expect("presence")
    receiver = RECEIVERS[receiver_transport](server, bob["token"])
    assert sender.expect("user_joined")["id"] == bob["id"]
    messages = sent_messages(bob["id"])
    for n, message in enumerate(messages[:-1]):
        if n % 100 == 99:  # a long-polling client would send them all in one POST, and a
            assert sender.call("forward", message) == {"ok": True}  # POST has a packet cap
        else:
            sender.emit("forward", message)
    assert sender.call("forward", messages[-1]) == {"ok": True}

    received = []
    while not received or received[-1].get("n") != "done":
        for name, data in events_in(receiver.read(), "/forward"):
            if name == "forwarded":  # besides presence
                received.append(data)
    receiver.close()

    expected = [dict(message, sender=alice["id"]) for message in messages]
    plain = [m for m in expected if "latest" not in m]
    assert [m for m in received if "latest" not in m] == plain
    positions = [m["x"] for m in received if "latest" in m]
    assert positions[-1] == POSITIONS - 1
    assert len(positions) < POSITIONS / 2, len(positions)
    # What arrived is a subsequence, in order, of what was sent.
    order = {json.dumps(m, sort_keys=True): n for n, m in enumerate(expected)}
    indices = [order[json.dumps(m, sort_keys=True)] for m in received]
    assert indices == sorted(indices)


@pytest.mark.parametrize("latest", [42, None, True, "k" * 65, ["a"], {"k": 1}])
def test_latest_must_be_a_short_string(server, connect, latest):
    alice, bob = server.register(), server.register()
    sender = connect(server, "/forward", alice["token"])
    sender.expect("presence")
    receiver = connect(server, "/forward", bob["token"])
    receiver.expect("presence")
    ack = sender.call("forward", {"target": bob["id"], "latest": latest})
    assert (ack["ok"], ack["error"]) == (False, "invalid_payload")
    ok = {"target": bob["id"], "latest": "k" * 64}
    assert sender.call("forward", ok) == {"ok": True}
    assert receiver.expect("forwarded") == dict(ok, sender=alice["id"])
