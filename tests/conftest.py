"""Fixtures: real server processes, real accounts, real Socket.IO clients on both transports."""

from __future__ import annotations

from typing import Callable, Iterator

import pytest

from support import EventClient, ServerProcess

TRANSPORTS = ["websocket", "polling"]


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Iterator[ServerProcess]:
    """One server with the default limits, shared by the tests that only need accounts."""
    process = ServerProcess(tmp_path_factory.mktemp("shared-instance")).start()
    yield process
    process.stop()


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


@pytest.fixture(params=TRANSPORTS)
def transport(request) -> str:
    return request.param


@pytest.fixture
def connect(transport) -> Iterator[Callable[..., EventClient]]:
    """Connect a client to ``server``'s ``namespace`` with ``token``; closed after the test."""
    clients: list[EventClient] = []

    def open_client(
        server: ServerProcess, namespace: str, token=None, *, auth=None, headers=None
    ) -> EventClient:
        client = EventClient(server.url, namespace, transport)
        clients.append(client)
        return client.connect(auth=auth if auth is not None else {"token": token}, headers=headers)

    yield open_client
    for client in clients:
        client.close()
