"""PostgreSQL by URL, and `unavailable` while the database is down (SPEC §1, §8).

The test runs a PostgreSQL server of its own (conftest's ``postgres`` fixture) so that it can
stop and restart it without touching the machine's.
"""

from __future__ import annotations

import requests

from support import PASSWORD, unique_name


def test_accounts_history_and_unavailable_while_the_database_is_down(
    postgres, start_server, connect
):
    server = start_server("--database", postgres.url)
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

    # Back without a restart; nothing sent while down was stored.
    assert chat.call("message", {"message": "after"})["ok"] is True
    assert chat.expect("message")["message"] == "after"
    late = connect(server, "/chat", account["token"])
    late.expect("presence")
    history = [m["message"] for m in late.expect("history")["messages"]]
    # (The database is shared by both transports' runs: look at this run's end of it.)
    assert history[-2:] == ["before", "after"] and not any("down" in m for m in history)
