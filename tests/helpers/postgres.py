"""A PostgreSQL server of the test run's own, and scratch databases in it.

Debian's server binaries (``/usr/lib/postgresql/<version>/bin``), on a free port, in a
folder of its own, so that a test can stop and restart it without touching the machine's
PostgreSQL. PostgreSQL refuses to run as root: as root, it runs as the ``postgres`` user.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

from helpers.components import missing
from playwire.devserver import free_port

PG_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))


def why_no_postgres() -> Optional[str]:
    """What keeps this machine from running a PostgreSQL of its own, or None."""
    if not PG_BIN or not os.path.exists(f"{PG_BIN[-1]}/initdb"):
        return "PostgreSQL server binaries missing (make test installs Debian's postgresql)"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "runuser missing: as root, PostgreSQL must run as the postgres user"
    return None


class Postgres:
    """One PostgreSQL server; ``url`` is its ``postgres`` database, as the superuser."""

    def __init__(self) -> None:
        # Not under pytest's tmp dir: that is private to root, and PostgreSQL runs as postgres.
        self.directory = Path(tempfile.mkdtemp(prefix="playwire-pg-"))
        self.port = free_port()
        self.url = self.url_of("postgres")

    def url_of(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """The URL of a new, empty database (it goes with the server)."""
        name = f"db{uuid.uuid4().hex[:12]}"
        host = ("-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres")
        self._run(f"{PG_BIN[-1]}/createdb", *host, name)
        return self.url_of(name)

    def _run(self, *command: str, check: bool = True) -> None:
        """A PostgreSQL binary, as the postgres user when we are root."""
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *command], check=check, capture_output=True, timeout=120)

    def init(self) -> Postgres:
        """A new cluster (trust authentication, superuser ``postgres``), started."""
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        data = str(self.directory / "data")
        self._run(f"{PG_BIN[-1]}/initdb", "-D", data, "-A", "trust", "-U", "postgres")
        return self.start()

    def start(self) -> Postgres:
        """Start it; returns once it accepts connections."""
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
        data, log = str(self.directory / "data"), str(self.directory / "log")
        self._run(f"{PG_BIN[-1]}/pg_ctl", "-D", data, "-o", options, "-l", log, "-w", "start")
        return self

    def stop(self, check: bool = True) -> None:
        """Stop it at once, as a crash would (no checkpoint, no goodbye to clients)."""
        data = str(self.directory / "data")
        self._run(f"{PG_BIN[-1]}/pg_ctl", "-D", data, "-m", "immediate", "-w", "stop", check=check)

    def destroy(self) -> None:
        """Stop it if it runs, and remove its files."""
        self.stop(check=False)
        shutil.rmtree(self.directory, ignore_errors=True)


@contextmanager
def own_postgres() -> Iterator[Postgres]:
    """A PostgreSQL server for the block, removed afterwards; missing binaries: see
    ``helpers.components.missing``."""
    problem = why_no_postgres()
    if problem:
        missing(problem)
    server = Postgres().init()
    try:
        yield server
    finally:
        server.destroy()


@contextmanager
def scratch_database(server_url: str) -> Iterator[str]:
    """A new, empty database on the server at ``server_url`` (any database's URL there), for
    the block; dropped afterwards. Its URL is yielded."""
    from playwire.upstream.pypy import patch_ctypes_py_object

    patch_ctypes_py_object()  # psycopg cannot connect on PyPy 7.3.11 without it
    import psycopg

    name = f"playwire_test_{uuid.uuid4().hex[:12]}"
    try:
        _admin(psycopg, server_url, f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        missing(f"PostgreSQL is not reachable at {server_url}: {exc}")
    try:
        yield server_url.rsplit("/", 1)[0] + "/" + name
    finally:
        # A new connection: the server may have been restarted meanwhile (tests/test_postgres.py).
        _admin(psycopg, server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _admin(psycopg, server_url: str, statement: str) -> None:
    with psycopg.connect(server_url, autocommit=True, connect_timeout=5) as admin:
        admin.execute(statement)
