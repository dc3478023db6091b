"""Test helpers for clusters: our own Redis, a scratch PostgreSQL database, nodes and nginx.

Processes are started with the functions of ``deploy/cluster.py``, the same that
``make cluster`` uses, so the tests run the nginx configuration that ships.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Optional

import pytest
import requests

from support import ServerProcess, free_port, register_account

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get("PLAYWIRE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def _load_deploy():
    spec = importlib.util.spec_from_file_location("playwire_deploy", ROOT / "deploy" / "cluster.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


deploy = _load_deploy()


def require(binary: str) -> str:
    """The path of ``binary``, or skip: ``make setup`` installs redis-server and nginx."""
    path = shutil.which(binary) or (deploy.nginx_binary() if binary == "nginx" else None)
    if not path or not os.path.exists(path):
        pytest.skip(f"{binary} is not installed (make setup installs it)")
    return path


class RedisServer:
    """A redis-server of our own on a free port (never the machine's 6379); restartable."""

    def __init__(self, workdir: Path) -> None:
        require("redis-server")
        self.workdir = workdir
        self.port = free_port()
        self.process: Optional[subprocess.Popen] = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.process = deploy.start_redis(self.port, self.workdir)
        return self

    def stop(self) -> None:
        deploy.stop(self.process)
        self.process = None


@contextmanager
def scratch_postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database for one test session; dropped afterwards."""
    from playwire.upstream.pypy import patch_ctypes_py_object

    patch_ctypes_py_object()  # psycopg cannot connect on PyPy 7.3.11 without it
    import psycopg

    name = f"playwire_test_{uuid.uuid4().hex[:12]}"
    try:
        admin = psycopg.connect(POSTGRES_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES_URL}: {exc}")
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield POSTGRES_URL.rsplit("/", 1)[0] + "/" + name
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Cluster:
    """Redis, ``size`` nodes sharing it, a database and a secret key, and nginx in front."""

    def __init__(self, workdir: Path, database: str, size: int = 3, *flags: str) -> None:
        require("nginx")
        self.workdir = workdir
        self.database = database
        self.flags = list(flags)
        self.redis = RedisServer(workdir / "redis")
        self.secret_key = uuid.uuid4().hex
        self.nodes = [
            ServerProcess(workdir / f"node-{n}", *self._node_flags()) for n in range(size)
        ]
        self.nginx_port = free_port()
        self.nginx: Optional[subprocess.Popen] = None

    def _node_flags(self) -> list[str]:
        return [
            "--message-queue",
            self.redis.url,
            "--database",
            self.database,
            "--secret-key",
            self.secret_key,
            *self.flags,
        ]

    @property
    def url(self) -> str:
        """nginx's address: where a browser would connect."""
        return f"http://127.0.0.1:{self.nginx_port}"

    def start(self) -> Cluster:
        self.redis.start()
        for node in self.nodes:
            node.start()
        ports = [node.port for node in self.nodes]
        self.nginx = deploy.start_nginx(self.workdir / "nginx", self.nginx_port, ports)
        return self

    def stop(self) -> None:
        deploy.stop(self.nginx)
        for node in self.nodes:
            node.stop()
        self.redis.stop()

    def register(self, username: Optional[str] = None) -> dict:
        """A new account, registered through nginx."""
        return register_account(self.url, username)

    def node_behind_nginx(self) -> int:
        """The index of the node that nginx pins this machine's clients to."""
        response = requests.get(self.url + "/healthz", timeout=10)
        port = int(response.headers["X-Playwire-Node"].rsplit(":", 1)[1])
        return next(n for n, node in enumerate(self.nodes) if node.port == port)

    def kill(self, index: int) -> None:
        """SIGKILL one node: it gets no chance to say goodbye."""
        process = self.nodes[index].process
        process.send_signal(signal.SIGKILL)
        process.wait()
        self.nodes[index].process = None
