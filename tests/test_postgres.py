"""PostgreSQL by URL, and `unavailable` while the database is down (docs/protocol.md, "Rules
for every event" and "Delivery guarantee").

The test uses the run's own PostgreSQL server (``helpers.postgres``, Debian's binaries on a
free port) so that it can stop and restart it without touching the machine's.
"""

from __future__ import annotations

import pytest
import requests

from helpers.postgres import scratch_database
from helpers.server import PASSWORD, unique_name


@pytest.fixture(scope="module")
def database(postgres):
    """An empty database of this module's on the run's own PostgreSQL."""
    with scratch_database(postgres.url) as url:
        yield url


def test_accounts_history_and_unavailable_while_the_database_is_down(
    postgres, database, start_server, connect
):
    server = start_server("--database", database)
    account = server.register()
    chat = connect(server, "/chat", account["token"])
    chat.expect("presence")
    chat.expect("history")
    assert chat.call("message", {"message": "before"})["ok"] is True
    chat.expect("message")

    postgres.stop()
    try:
        ack = chat.call("message", {"message": "while down"})
        assert ack["ok"] is False and ack["error"] == "unavailable"
        chat.emit("message", {"message": "while down, no ack"})
        assert chat.expect("error")["error"] == "unavailable"
        response = requests.post(
            server.url + "/api/register",
            json={"username": unique_name(), "password": PASSWORD},
            timeout=30,
        )
        assert (response.status_code, response.json()["error"]) == (503, "unavailable")
        # What needs no database goes on: presence, /forward, /ping.
        ping = connect(server, "/ping", account["token"])
        ping.expect("presence")
        assert ping.call("ping", {})["ok"] is True
        assert server.is_running()
    finally:
        postgres.start()

    # Back without a restart: accounts too; nothing sent while down was stored.
    assert server.register()["id"] > account["id"]
    assert chat.call("message", {"message": "after"})["ok"] is True
    assert chat.expect("message")["message"] == "after"
    late = connect(server, "/chat", account["token"])
    late.expect("presence")
    history = [m["message"] for m in late.expect("history")["messages"]]
    # (The database is shared by both transports' runs: look at this run's end of it.)
    assert history[-2:] == ["before", "after"] and not any("down" in m for m in history)
