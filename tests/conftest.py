"""Fixtures: real server processes, real accounts, real Socket.IO clients on both transports."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Callable

import pytest

from helpers.clients import EventClient
from helpers.postgres import Postgres, own_postgres
from helpers.server import ServerProcess, playwire_children

TRANSPORTS = ["websocket", "polling"]


@pytest.fixture(scope="session", autouse=True)
def no_server_left_behind():
    """Fail the run if any test left a server process of ours running."""
    yield
    leftovers = playwire_children(os.getpid())
    assert not leftovers, f"server processes left running: {leftovers}"


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


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    """The run's own PostgreSQL server, started on first use (test_postgres.py,
    test_migrations.py, the cluster tests); without PostgreSQL's binaries the tests skip, or
    fail under CI."""
    with own_postgres() as server:
        yield server


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
