"""The Socket.IO Admin UI's server side over real connections: ``--admin-password``."""

from __future__ import annotations

import pytest
import requests

from helpers.clients import Refused

ADMIN_PASSWORD = "admin-secret"


def next_event(client, name: str):
    """The data of the next ``name`` event, skipping the admin feed's other events."""
    while True:
        event, data = client.next()
        if event == name:
            return data


@pytest.fixture
def admin_server(start_server):
    return start_server("--admin-password", ADMIN_PASSWORD)


def test_the_admin_gets_sockets_stats_and_events_of_playwire_namespaces(admin_server, connect):
    server = admin_server
    player = connect(server, "/chat", server.register()["token"])
    player.expect("presence")
    admin = connect(server, "/admin", auth={"username": "admin", "password": ADMIN_PASSWORD})
    sockets = next_event(admin, "all_sockets")
    assert [s["nsp"] for s in sockets if s["nsp"] == "/chat"] == ["/chat"]
    player.emit("message", {"message": "hello admin"})
    received = next_event(admin, "event_received")
    assert received[0] == "/chat"
    assert received[2] == ["message", {"message": "hello admin"}]
    stats = next_event(admin, "server_stats")
    counts = {entry["name"]: entry["socketsCount"] for entry in stats["namespaces"]}
    assert counts["/chat"] == 1
    assert counts["/admin"] == 1
    assert stats["clientsCount"] == 2


@pytest.mark.parametrize(
    "auth",
    [
        {"username": "admin", "password": "wrong"},
        {"username": "root", "password": ADMIN_PASSWORD},
        {"password": ADMIN_PASSWORD},
        {},
    ],
)
def test_wrong_credentials_are_refused(admin_server, connect, auth):
    with pytest.raises(Refused) as refused:
        connect(admin_server, "/admin", auth=auth)
    assert refused.value.message == "authentication failed"


def test_the_ui_page_is_served_with_a_password(admin_server):
    page = requests.get(admin_server.url + "/admin/ui/", timeout=10)
    assert page.status_code == 200
    assert "<title>Socket.IO Admin UI</title>" in page.text
    bare = requests.get(admin_server.url + "/admin/ui", timeout=10, allow_redirects=False)
    assert bare.status_code == 308
    assert bare.headers["Location"].endswith("/admin/ui/")


def test_without_a_password_there_is_no_admin(start_server, connect):
    server = start_server()
    assert requests.get(server.url + "/admin/ui/", timeout=10).status_code == 404
    assert requests.get(server.url + "/admin/ui/index.html", timeout=10).status_code == 404
    with pytest.raises(Refused):
        connect(server, "/admin", auth={"username": "admin", "password": ""})
