"""PostgreSQL by URL, and `unavailable` while the database is down (SPEC §1, §8).

The test runs a PostgreSQL server of its own (Debian's binaries, as the postgres user, on a
free port) so that it can stop and restart it without touching the machine's.
"""

from __future__ import annotations

import glob
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import requests

from support import PASSWORD, free_port, unique_name

PG_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
pytestmark = pytest.mark.skipif(
    not PG_BIN or shutil.which("runuser") is None, reason="PostgreSQL server binaries missing"
)


class Postgres:
    def __init__(self, directory) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _as_postgres(self, *command: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *command],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def init(self) -> Postgres:
        shutil.chown(self.directory, "postgres", "postgres")
        self._as_postgres(
            f"{PG_BIN[-1]}/initdb",
            "-D",
            str(self.directory / "data"),
            "-A",
            "trust",
            "-U",
            "postgres",
        )
        return self.start()

    def start(self) -> Postgres:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
        self._as_postgres(
            f"{PG_BIN[-1]}/pg_ctl",
            "-D",
            str(self.directory / "data"),
            "-o",
            options,
            "-l",
            str(self.directory / "log"),
            "-w",
            "start",
        )
        return self

    def stop(self) -> None:
        self._as_postgres(
            f"{PG_BIN[-1]}/pg_ctl",
            "-D",
            str(self.directory / "data"),
            "-m",
            "immediate",
            "-w",
            "stop",
        )


@pytest.fixture(scope="module")
def postgres():
    # Not under pytest's tmp dir: that is private to root, and PostgreSQL runs as postgres.
    database = Postgres(Path(tempfile.mkdtemp(prefix="playwire-pg-"))).init()
    yield database
    subprocess.run(
        [
            "runuser",
            "-u",
            "postgres",
            "--",
            f"{PG_BIN[-1]}/pg_ctl",
            "-D",
            str(database.directory / "data"),
            "-m",
            "immediate",
            "stop",
        ],
        capture_output=True,
        timeout=60,
    )
    shutil.rmtree(database.directory, ignore_errors=True)


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
