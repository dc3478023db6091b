"""Authentication and origins on connect (docs/protocol.md, "Connecting with Socket.IO"),
every namespace, both transports."""

from __future__ import annotations

import pytest
import requests
import websocket
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from helpers.clients import EventClient, Refused
from helpers.server import PASSWORD

NAMESPACES = ["/chat", "/forward", "/ping"]


@pytest.fixture(params=NAMESPACES)
def namespace(request):
    return request.param


def refusal(server, namespace, transport, auth=None, headers=None):
    client = EventClient(server.url, namespace, transport)
    try:
        with pytest.raises(Refused) as refused:
            client.connect(auth=auth, headers=headers)
    finally:
        client.close()
    return refused.value.message


def test_token_connects_and_receives_presence(server, connect, namespace):
    account = server.register()
    client = connect(server, namespace, account["token"])
    users = client.expect("presence")["users"]
    assert {"id": account["id"], "username": account["username"]} in users


def test_no_identity_is_refused(server, transport, namespace):
    assert refusal(server, namespace, transport) == "authentication required"
    assert refusal(server, namespace, transport, auth={}) == "authentication required"


@pytest.mark.parametrize(
    "token", ["forged", "", 42, "eyJpZCI6MSwidXNlcm5hbWUiOiJhIn0.Z0.bad-signature"]
)
def test_bad_token_is_refused(server, transport, namespace, token):
    assert refusal(server, namespace, transport, auth={"token": token}) == "invalid token"


def test_token_signed_with_another_key_is_refused(server, transport, namespace):
    forged = URLSafeTimedSerializer("not-the-key", salt="playwire.token").dumps(
        {"id": 1, "username": "admin"}
    )
    assert refusal(server, namespace, transport, auth={"token": forged}) == "invalid token"


def test_expired_token_is_refused(start_server, transport):
    server = start_server("--secret-key", "test-secret", "--token-ttl", "60")

    class IssuedIn1970(TimestampSigner):
        def get_timestamp(self):
            return 1_000_000

    old = URLSafeTimedSerializer("test-secret", salt="playwire.token", signer=IssuedIn1970)
    token = old.dumps({"id": 1, "username": "someone"})
    assert refusal(server, "/chat", transport, auth={"token": token}) == "token expired"


def test_session_cookie_authenticates(server, connect):
    account = server.register()
    login = requests.post(
        server.url + "/api/login",
        json={"username": account["username"], "password": PASSWORD},
        timeout=10,
    )
    cookie = f"playwire_session={login.cookies['playwire_session']}"
    client = connect(server, "/chat", auth={}, headers={"Cookie": cookie})
    assert {"id": account["id"], "username": account["username"]} in client.expect("presence")[
        "users"
    ]


def origin_accepted(server, transport, origin):
    """Whether the Engine.IO handshake from a browser at ``origin`` is accepted."""
    if transport == "polling":
        response = requests.get(
            server.url + "/socket.io/?EIO=4&transport=polling",
            headers={"Origin": origin},
            timeout=10,
        )
        return response.status_code == 200 and response.text.startswith("0{")
    url = server.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    ws = websocket.create_connection(url, origin=origin, timeout=10)
    try:
        return ws.recv().startswith("0{")
    except websocket.WebSocketConnectionClosedException:
        return False
    finally:
        ws.close()


def test_foreign_origin_is_refused(server, transport):
    assert not origin_accepted(server, transport, "https://evil.example")


def test_own_origin_is_accepted(server, transport):
    assert origin_accepted(server, transport, server.url)


def test_configured_origin_is_accepted(start_server, transport):
    server = start_server("--cors-origins", "https://game.example,https://other.example")
    assert origin_accepted(server, transport, "https://game.example")
    assert origin_accepted(server, transport, "https://other.example")
    assert not origin_accepted(server, transport, "https://evil.example")


def test_token_survives_restart(start_server, connect):
    server = start_server()
    account = server.register()
    server.restart()
    client = connect(server, "/chat", account["token"])
    assert client.expect("presence")["users"] == [
        {"id": account["id"], "username": account["username"]}
    ]
