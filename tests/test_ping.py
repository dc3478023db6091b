"""The example namespace /ping (docs/protocol.md, "`/ping`"), on both transports."""

from __future__ import annotations

import time


def test_ping_acks_with_server_time(server, connect):
    client = connect(server, "/ping", server.register()["token"])
    client.expect("presence")
    before = int(time.time() * 1000)
    ack = client.call("ping", {"sent": 1})
    assert ack["ok"] is True
    assert before - 1000 <= ack["server_time"] <= int(time.time() * 1000) + 1000


def test_ping_gets_the_base_class_rules(server, connect):
    client = connect(server, "/ping", server.register()["token"])
    client.expect("presence")
    assert client.call("ping", "not an object")["error"] == "invalid_payload"
    client.emit("pong", {})
    assert client.expect("error")["error"] == "unknown_event"
