"""Clusters for the tests: our own Redis, several nodes and nginx in front of them.

Redis and nginx are started with the functions of ``deploy/cluster.py``, the same that
``make cluster`` uses, so the tests run the nginx configuration that ships; the nodes are
``helpers.server.ServerProcess``es.
"""

from __future__ import annotations

import importlib.util
import subprocess
import uuid
from pathlib import Path
from typing import Optional

import requests

from helpers.components import require_binary
from helpers.server import REPO_ROOT, ServerProcess, free_port, register_account


def _load_deploy():
    """``deploy/cluster.py``, a script rather than a module of a package, loaded from its file."""
    path = REPO_ROOT / "deploy" / "cluster.py"
    spec = importlib.util.spec_from_file_location("playwire_deploy", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


deploy = _load_deploy()


class RedisServer:
    """A redis-server of our own on a free port (never the machine's 6379); restartable."""

    def __init__(self, workdir: Path) -> None:
        require_binary("redis-server")
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


def redis_topology(name: str, workdir: Path):
    """A Redis of the named topology (``redis``, ``sentinel``, ``cluster``), not started."""
    from helpers.redis_topologies import ClusterSetup, SentinelSetup

    kinds = {"redis": RedisServer, "sentinel": SentinelSetup, "cluster": ClusterSetup}
    return kinds[name](workdir)


class Cluster:
    """Redis, ``size`` nodes sharing it, a database and a secret key, and nginx in front.

    ``topology``: the Redis the nodes share, one of :func:`redis_topology`'s names.
    """

    def __init__(
        self, workdir: Path, database: str, size: int = 3, *flags: str, topology: str = "redis"
    ) -> None:
        require_binary("nginx", deploy.nginx_binary())
        self.workdir = workdir
        self.database = database
        self.flags = list(flags)
        self.topology = topology
        self.redis = redis_topology(topology, workdir / "redis")
        self.secret_key = uuid.uuid4().hex
        self.nodes = [
            ServerProcess(workdir / f"node-{n}", *self._node_flags()) for n in range(size)
        ]
        self.nginx_port = free_port()
        self.nginx: Optional[subprocess.Popen] = None

    def _node_flags(self) -> list[str]:
        return [
            *("--message-queue", self.redis.url),
            *("--database", self.database),
            *("--secret-key", self.secret_key),
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

    def rolling_restart(self) -> None:
        """Restart every node in turn with SIGTERM, as ``make cluster-restart`` does."""
        deploy.rolling_restart(self.nodes, report=lambda line: None)

    def kill(self, index: int) -> None:
        """SIGKILL one node: it gets no chance to say goodbye."""
        self.nodes[index].kill()
