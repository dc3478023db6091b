"""Any bytes a client sends get an error or a closed connection of that client only
(docs/protocol.md, *Limits and abuse*): Hypothesis throws random Engine.IO and Socket.IO
packets at a real server over raw WebSockets and raw long-polling POSTs, and random bodies
at the HTTP API, while an honest pair's forwards must all be ``ok`` and delivered.

Bounded in time (a hundred-odd examples per test); under ``CI=true`` the examples are
derandomized, so a failure reproduces.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Iterator

import pytest
import requests
import websocket
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers.clients import EVENT_TIMEOUT, EventClient
from helpers.raw import RawPolling, RawSession
from helpers.server import ServerProcess

FUZZ = settings(
    max_examples=120,
    deadline=None,
    derandomize=os.environ.get("CI") == "true",
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
namespaces = st.sampled_from(["", "/chat,", "/forward,", "/ping,", "/nowhere,", "/chat"])
events = st.lists(
    st.sampled_from(["forward", "message", "ping", "connect", "disconnect", "x"]) | json_values,
    max_size=3,
)
socketio_packets = st.builds(
    lambda engine, kind, namespace, ack, data: f"{engine}{kind}{namespace}{ack}{data}",
    st.sampled_from("0123456789x"),
    st.sampled_from(["", "0", "1", "2", "3", "4", "5", "6", "7", "51-", "2-"]),
    namespaces,
    st.sampled_from(["", "0", "7", "99999999999999999999999", "-1"]),
    st.one_of(events.map(json.dumps), json_values.map(json.dumps), st.text(max_size=40)),
)
frames = st.one_of(socketio_packets, st.text(max_size=300), st.binary(max_size=300))


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory) -> Iterator[ServerProcess]:
    process = ServerProcess(tmp_path_factory.mktemp("fuzz")).start()
    yield process
    process.stop()


class HonestPair:
    """Alice forwards to Bob over WebSockets; every forward must be ``ok`` and arrive."""

    def __init__(self, server: ServerProcess) -> None:
        self.alice, self.bob = server.register(), server.register()
        self.sender = EventClient(server.url, "/forward", "websocket").connect(
            {"token": self.alice["token"]}
        )
        self.receiver = EventClient(server.url, "/forward", "polling").connect(
            {"token": self.bob["token"]}
        )
        self.numbers = itertools.count()

    def exchange(self) -> None:
        number = next(self.numbers)
        ack = self.sender.call("forward", {"target": self.bob["id"], "honest": number})
        assert ack == {"ok": True}, ack
        while True:  # fuzzed forwards may reach Bob too; only Alice's are checked
            name, data = self.receiver.next()
            if name == "forwarded" and data.get("sender") == self.alice["id"]:
                assert data["honest"] == number
                return

    def close(self) -> None:
        self.sender.close()
        self.receiver.close()


@pytest.fixture(scope="module")
def honest(fuzz_server) -> Iterator[HonestPair]:
    pair = HonestPair(fuzz_server)
    yield pair
    pair.close()


@pytest.fixture(scope="module")
def fuzzer_token(fuzz_server) -> str:
    return fuzz_server.register()["token"]


def still_serving(server: ServerProcess, honest: HonestPair) -> None:
    assert server.is_running(), server.log()
    honest.exchange()


@FUZZ
@given(
    authenticate=st.sampled_from(["", "/forward", "/chat"]),
    sent=st.lists(frames, min_size=1, max_size=6),
)
def test_random_websocket_frames(fuzz_server, honest, fuzzer_token, authenticate, sent):
    ws = RawSession(fuzz_server).ws
    try:
        if authenticate:
            ws.send(f"40{authenticate},{json.dumps({'token': fuzzer_token})}")
        for frame in sent:
            if isinstance(frame, bytes):
                ws.send_binary(frame)
            else:
                ws.send(frame)
        ws.send("2probe")  # something the server answers: the connection is still read
        ws.settimeout(0.2)
        try:
            while ws.recv() is not None:
                pass
        except (websocket.WebSocketException, OSError):
            pass  # nothing more, or closed by the server: both are fine
    except (websocket.WebSocketException, OSError):
        pass  # the server closed this connection: allowed
    finally:
        ws.close()
    still_serving(fuzz_server, honest)


@FUZZ
@given(authenticate=st.booleans(), body=st.one_of(frames.map(str), st.binary(max_size=400)))
def test_random_long_polling_posts(fuzz_server, honest, fuzzer_token, authenticate, body):
    client = RawPolling(fuzz_server)
    try:
        if authenticate:
            assert client.post(f"40/forward,{json.dumps({'token': fuzzer_token})}").ok
        data = body if isinstance(body, bytes) else body.encode()
        response = client.http.post(client.url, data=data, timeout=EVENT_TIMEOUT)
        assert response.status_code in (200, 400), (response.status_code, response.text)
    finally:
        client.close()
    still_serving(fuzz_server, honest)


api_requests = st.tuples(
    st.sampled_from(["POST", "GET", "PUT", "DELETE"]),
    st.sampled_from(["/api/register", "/api/login", "/api/logout", "/api/me", "/api/x"]),
    st.one_of(
        st.binary(max_size=300),
        json_values.map(lambda value: json.dumps(value).encode()),
        st.fixed_dictionaries(
            {},
            optional={"username": json_values | st.text(max_size=40), "password": json_values},
        ).map(lambda value: json.dumps(value).encode()),
    ),
    st.sampled_from(["application/json", "text/plain", "", "application/json; charset=latin1"]),
    st.sampled_from(["", "Bearer ", "Bearer x.y.z", "Basic abc", "Bearer \u00e9"]),
)


@FUZZ
@given(request=api_requests)
def test_random_api_requests(fuzz_server, honest, request):
    method, path, body, content_type, authorization = request
    headers = {"Content-Type": content_type} if content_type else {}
    if authorization:
        headers["Authorization"] = authorization.encode("utf-8").decode("latin-1")
    response = requests.request(
        method, fuzz_server.url + path, data=body, headers=headers, timeout=EVENT_TIMEOUT * 3
    )
    assert response.status_code < 500, (response.status_code, response.text)
    if response.status_code >= 400:
        assert isinstance(response.json()["error"], str)
    still_serving(fuzz_server, honest)


def test_the_fuzzed_server_logged_no_failure(fuzz_server, honest):
    """Runs last in this module: no handler raised while being fuzzed."""
    still_serving(fuzz_server, honest)
    assert "Traceback" not in fuzz_server.log(), fuzz_server.log()[-5000:]
