"""A PostgreSQL server of the test's own: Debian's binaries, run as the postgres user on a
free port, so a test can stop and restart it, or start nodes on an empty database, without
touching the machine's. Under ``CI=true`` missing binaries fail the test instead of skipping."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import free_port, unique_name

PG_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))


class Postgres:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = self.url_of("postgres")

    def url_of(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

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

    def new_database(self) -> str:
        """The URL of a new, empty database."""
        name = unique_name("db")
        self._as_postgres(
            f"{PG_BIN[-1]}/createdb",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            name,
        )
        return self.url_of(name)


def running_postgres() -> Iterator[Postgres]:
    """Start a PostgreSQL server, yield it, and remove it (the ``postgres`` fixture's body)."""
    if not PG_BIN or shutil.which("runuser") is None:
        message = "PostgreSQL server binaries missing (apt-get install postgresql)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
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
