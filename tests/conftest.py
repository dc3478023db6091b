"""Fixtures: real server processes, real accounts, real Socket.IO clients on both transports."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import pytest

from postgres_support import Postgres, running_postgres
from support import EventClient, ServerProcess

TRANSPORTS = ["websocket", "polling"]


@pytest.fixture(scope="session", autouse=True)
def no_server_left_behind():
    """Fail the run if any test left a server process of ours running."""
    yield
    leftovers = [pid for pid in _children(os.getpid()) if b"playwire" in _cmdline(pid)]
    assert not leftovers, f"server processes left running: {leftovers}"


def _children(parent: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent and fields[0] != "Z":
            children.append(int(stat.parent.name))
    return children


def _cmdline(pid: int) -> bytes:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes()
    except OSError:
        return b""


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Iterator[ServerProcess]:
    """One server with the default limits, shared by the tests that only need accounts."""
    process = ServerProcess(tmp_path_factory.mktemp("shared-instance")).start()
    process.shared = True
    yield process
    process.stop()


@pytest.fixture(autouse=True)
def accounts_of_this_test(request):
    """The shared server's clients hear only of users the current test registered: a client
    of an earlier test may leave late (long-polling disconnects can wait for a ping timeout)."""
    if "server" in request.fixturenames:
        request.getfixturevalue("server").accounts.clear()


@pytest.fixture
def start_server(tmp_path) -> Iterator[Callable[..., ServerProcess]]:
    """Start a server of the test's own, with extra flags; stopped after the test."""
    started: list[ServerProcess] = []

    def start(*flags: str) -> ServerProcess:
        process = ServerProcess(tmp_path / f"instance-{len(started)}", *flags).start()
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    """A PostgreSQL server of the module's own, on a free port (postgres_support.py)."""
    yield from running_postgres()


@pytest.fixture(params=TRANSPORTS)
def transport(request) -> str:
    return request.param


@pytest.fixture
def connect(transport) -> Iterator[Callable[..., EventClient]]:
    """Connect a client to ``server``'s ``namespace`` with ``token``; closed after the test."""
    clients: list[EventClient] = []

    def open_client(
        server: ServerProcess,
        namespace: str,
        token=None,
        *,
        auth=None,
        headers=None,
        transport: str | list[str] = transport,
    ) -> EventClient:
        """``transport`` overrides the test's, e.g. ``["polling", "websocket"]`` to upgrade."""
        # Only the server shared by many tests carries other tests' presence events.
        users = server.accounts if getattr(server, "shared", False) else None
        client = EventClient(server.url, namespace, transport, users=users)
        clients.append(client)
        return client.connect(auth=auth if auth is not None else {"token": token}, headers=headers)

    yield open_client
    for client in clients:
        client.close()
