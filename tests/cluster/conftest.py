"""Fixtures for cluster tests: a scratch PostgreSQL database, Redis, three nodes and nginx."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Callable

import pytest

from helpers.cluster import Cluster
from helpers.postgres import scratch_database

# A PostgreSQL server to use instead of the run's own (which needs Debian's binaries).
EXTERNAL_POSTGRES = os.environ.get("PLAYWIRE_TEST_POSTGRES")


@pytest.fixture(scope="session")
def cluster_database(request) -> Iterator[str]:
    """One empty PostgreSQL database for every cluster of the run, on the run's own server
    (or ``$PLAYWIRE_TEST_POSTGRES``'s); dropped at the end."""
    server_url = EXTERNAL_POSTGRES or request.getfixturevalue("postgres").url
    with scratch_database(server_url) as url:
        yield url


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, cluster_database) -> Iterator[Cluster]:
    """A cluster shared by the tests of a module that leave it as they found it."""
    running = Cluster(tmp_path_factory.mktemp("cluster"), cluster_database)
    try:
        yield running.start()
    finally:
        running.stop()


@pytest.fixture
def start_cluster(tmp_path, cluster_database) -> Iterator[Callable[..., Cluster]]:
    """Start a cluster of the test's own, with extra node flags; stopped after the test."""
    started: list[Cluster] = []

    def start(*flags: str) -> Cluster:
        started.append(Cluster(tmp_path / f"cluster-{len(started)}", cluster_database, 3, *flags))
        return started[-1].start()

    yield start
    for running in started:
        running.stop()
