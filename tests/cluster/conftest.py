"""Fixtures for cluster tests: a scratch PostgreSQL database, Redis, three nodes and nginx.

Every test runs on one Redis server; a test marked ``every_topology`` runs on Sentinel and
on a Redis Cluster too (a representative subset: the whole suite three times would cost CI
too much time; docs/cluster.md), on CPython: on PyPy, whose run of the suite takes twice as
long, those tests run on one Redis server. Playwire's code for each topology is the same on
both runtimes, and each topology's own failure tests (``topology(...)``) run on both.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Iterator
from typing import Callable

import pytest

from helpers.cluster import Cluster
from helpers.postgres import scratch_database

# A PostgreSQL server to use instead of the run's own (which needs Debian's binaries).
EXTERNAL_POSTGRES = os.environ.get("PLAYWIRE_TEST_POSTGRES")

TOPOLOGIES = ["redis", "sentinel", "cluster"]


def pytest_generate_tests(metafunc):
    """``topology`` for each test that starts a cluster: ``redis``, and the other two for a
    test marked ``every_topology``, or those of its ``topology(...)`` mark; one module-wide
    cluster per topology."""
    if not {"cluster", "start_cluster", "topology"} & set(metafunc.fixturenames):
        return
    only = metafunc.definition.get_closest_marker("topology")
    every = metafunc.definition.get_closest_marker("every_topology") is not None
    every = every and platform.python_implementation() == "CPython"
    topologies = list(only.args) if only else TOPOLOGIES if every else TOPOLOGIES[:1]
    metafunc.parametrize("topology", topologies, indirect=True, scope="module")


@pytest.fixture(scope="module")
def topology(request) -> str:
    """The Redis topology the test's cluster runs on (see pytest_generate_tests)."""
    return request.param


@pytest.fixture(scope="session")
def cluster_database(request) -> Iterator[str]:
    """One empty PostgreSQL database for every cluster of the run, on the run's own server
    (or ``$PLAYWIRE_TEST_POSTGRES``'s); dropped at the end."""
    server_url = EXTERNAL_POSTGRES or request.getfixturevalue("postgres").url
    with scratch_database(server_url) as url:
        yield url


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, cluster_database, topology) -> Iterator[Cluster]:
    """A cluster shared by the tests of a module that leave it as they found it."""
    workdir = tmp_path_factory.mktemp(f"cluster-{topology}")
    running = Cluster(workdir, cluster_database, topology=topology)
    try:
        yield running.start()
    finally:
        running.stop()


@pytest.fixture
def start_cluster(tmp_path, cluster_database, topology) -> Iterator[Callable[..., Cluster]]:
    """Start a cluster of the test's own, with extra node flags; stopped after the test."""
    started: list[Cluster] = []

    def start(*flags: str) -> Cluster:
        workdir = tmp_path / f"cluster-{len(started)}"
        started.append(Cluster(workdir, cluster_database, 3, *flags, topology=topology))
        return started[-1].start()

    yield start
    for running in started:
        running.stop()
