"""The Redis topologies a cluster runs on, each started for real on free ports (never 6379):
one server (:class:`~helpers.cluster.RedisServer`), a Sentinel set-up (one master, one
replica, three sentinels) and a three-shard Redis Cluster. Each has ``url`` (what
``--message-queue`` takes), ``start()`` and ``stop()``; docs/cluster.md describes them."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path
from typing import Callable, Optional

import redis

from helpers.components import require_binary
from helpers.server import free_port

SERVICE = "playwire"
#: Short, so that a test's failover takes seconds: Sentinel calls the master down after
#: this long without an answer, then elects a leader and promotes the replica.
DOWN_AFTER_MS = 1000
STARTUP_TIMEOUT_S = 30.0


def _deploy():
    from helpers.cluster import deploy  # deploy/cluster.py, loaded once by helpers.cluster

    return deploy


def wait_until(condition: Callable[[], bool], what: str, timeout: float = STARTUP_TIMEOUT_S):
    """Poll ``condition`` (Redis answers it) until true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except redis.RedisError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not within {timeout:.0f}s")
        time.sleep(0.1)  # polling a server's state, not synchronising with the test


def _client(port: int) -> redis.Redis:
    return redis.Redis(port=port, decode_responses=True, socket_connect_timeout=1)


class RedisProcess:
    """One redis-server (or sentinel) of a set-up, restartable with the same settings."""

    def __init__(self, workdir: Path, *options: str, sentinel_conf: Optional[str] = None):
        self.workdir = workdir
        self.port = free_port()
        self.options = list(options)
        self.sentinel_conf = sentinel_conf
        self.process: Optional[subprocess.Popen] = None

    def start(self) -> RedisProcess:
        config = None
        if self.sentinel_conf is not None:
            config = self.workdir / "sentinel.conf"
            if not config.exists():  # a restart keeps what the sentinel learnt
                self.workdir.mkdir(parents=True, exist_ok=True)
                config.write_text(self.sentinel_conf)
        self.process = _deploy().start_redis(self.port, self.workdir, *self.options, config=config)
        return self

    def stop(self) -> None:
        _deploy().stop(self.process)
        self.process = None

    def kill(self) -> None:
        """SIGKILL: the server gets no chance to hand over."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def client(self) -> redis.Redis:
        return _client(self.port)


class SentinelSetup:
    """A master, its replica and three sentinels watching it as service ``playwire``."""

    def __init__(self, workdir: Path) -> None:
        require_binary("redis-server")
        self.master = RedisProcess(workdir / "master")
        self.replica = RedisProcess(
            workdir / "replica", "--replicaof", "127.0.0.1", str(self.master.port)
        )
        self.sentinels = [
            RedisProcess(workdir / f"sentinel-{n}", "--sentinel", sentinel_conf=self._conf())
            for n in range(3)
        ]

    def _conf(self) -> str:
        return (
            f"sentinel monitor {SERVICE} 127.0.0.1 {self.master.port} 2\n"
            f"sentinel down-after-milliseconds {SERVICE} {DOWN_AFTER_MS}\n"
            f"sentinel failover-timeout {SERVICE} 10000\n"
        )

    @property
    def url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{sentinel.port}" for sentinel in self.sentinels)
        return f"redis+sentinel://{hosts}/0/{SERVICE}"

    def start(self) -> SentinelSetup:
        self.master.start()
        self.replica.start()
        for sentinel in self.sentinels:
            sentinel.start()
        wait_until(self._replica_in_sync, "the replica's sync")
        wait_until(self._sentinels_agree, "three sentinels that know master and replica")
        return self

    def _replica_in_sync(self) -> bool:
        return self.replica.client().info("replication")["master_link_status"] == "up"

    def _sentinels_agree(self) -> bool:
        for sentinel in self.sentinels:
            # Raw replies: redis-py 7.0.1's parser of SENTINEL MASTER takes no options.
            flat = sentinel.client().execute_command("SENTINEL", "MASTER", SERVICE)
            state = dict(zip(flat[::2], flat[1::2]))
            if int(state["num-other-sentinels"]) < 2 or int(state["num-slaves"]) < 1:
                return False
        return True

    @staticmethod
    def _named_master_port(sentinel: RedisProcess) -> int:
        reply = sentinel.client().execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)
        return int(reply[1])

    def kill_master(self) -> None:
        self.master.kill()

    def replica_promoted(self) -> bool:
        """Whether every sentinel names the replica as master, and it is one."""
        try:
            named = [self._named_master_port(s) for s in self.sentinels]
            role = self.replica.client().info("replication")["role"]
        except redis.RedisError:
            return False
        return role == "master" and all(port == self.replica.port for port in named)

    def stop(self) -> None:
        for process in (*self.sentinels, self.replica, self.master):
            process.stop()


class ClusterSetup:
    """A Redis Cluster of three shards (masters without replicas), made by redis-cli.

    Full coverage is not required, so a shard that is down fails only its own slots.
    """

    def __init__(self, workdir: Path, shards: int = 3) -> None:
        require_binary("redis-server")
        self.cli = require_binary("redis-cli")
        self.shards = []
        for n in range(shards):
            options = ["--cluster-enabled", "yes", "--cluster-port", str(free_port())]
            options += ["--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000"]
            options += ["--cluster-require-full-coverage", "no"]
            self.shards.append(RedisProcess(workdir / f"shard-{n}", *options))

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{s.port}" for s in self.shards)

    def start(self) -> ClusterSetup:
        for shard in self.shards:
            shard.start()
        addresses = [f"127.0.0.1:{shard.port}" for shard in self.shards]
        subprocess.run(
            [
                self.cli,
                "--cluster",
                "create",
                *addresses,
                "--cluster-replicas",
                "0",
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        wait_until(self._healthy, "the Redis Cluster's state ok on every shard")
        return self

    def _healthy(self) -> bool:
        return all(shard.client().cluster("info")["cluster_state"] == "ok" for shard in self.shards)

    def shard_of(self, key: str) -> int:
        """The index of the shard that owns ``key``'s slot."""
        client = self.shards[0].client()
        slot = client.cluster("keyslot", key)
        for start, end, (_host, port, *_), *_ in client.cluster("slots"):
            if start <= slot <= end:
                return next(n for n, shard in enumerate(self.shards) if shard.port == port)
        raise LookupError(f"no shard owns slot {slot}")

    def kill_shard(self, index: int) -> None:
        self.shards[index].kill()

    def restart_shard(self, index: int) -> None:
        """The shard again, on its port with its nodes.conf: it takes its slots back."""
        self.shards[index].start()
        wait_until(self._healthy, "the Redis Cluster's state ok after the restart")

    def stop(self) -> None:
        for shard in self.shards:
            shard.stop()
