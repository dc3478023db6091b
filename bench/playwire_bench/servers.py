"""The servers under test, and starting and stopping them (each run on a fresh one)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from playwire import devserver
from playwire_bench import BENCH_DIR, HOST

SERVER_CPU = "0"
LOADGEN_CPU = "1"
READY_TIMEOUT_S = 60.0
STOP_GRACE_S = 5.0
# Playwire's default rate limit (100 events/s per session) would turn a load test into a test
# of the limiter, so the scenarios raise it; the output says so. The load generator registers
# thousands of accounts from one address: registrations are not limited either.
PLAYWIRE_RATE_FLAGS = [
    *("--rate-limit", "100000", "--rate-burst", "100000"),
    *("--register-limit", "off"),
]
# A known key, so that the runner can mint the tokens of thousands of users itself
# (accounts.minted_accounts) instead of registering them.
BENCH_SECRET_KEY = "playwire-bench-secret-key"


@dataclass
class Context:
    """What the servers and scenarios need to know about this invocation."""

    python: str
    node: str
    smoke: bool
    pin: bool
    work_dir: Path  # temporary: configs, server logs, Playwire's instance dir
    soak_seconds: float
    duration_seconds: float | None
    playwire_src: Path
    accounts: dict[str, list[dict]] = field(default_factory=dict)

    def pinned(self, cpu: str, command: list[str]) -> list[str]:
        return ["taskset", "-c", cpu, *command] if self.pin else command


@dataclass(frozen=True)
class ServerSpec:
    """A server under test: how to start it and how its clients identify themselves.

    ``auth`` is "token" (accounts registered over HTTP, handshake ``{token}``) or "user_id"
    (handshake ``{user_id: N}``, the reference servers); ``protocol`` is "socketio" or "ws".
    """

    name: str
    command: Callable[[Context, int], list[str]]
    auth: str
    protocol: str
    supports: frozenset
    env: Callable[[Context], dict[str, str]] = lambda ctx: {}
    note: str = ""
    #: How to start it as a node of a cluster on the Redis at a URL (the cluster scenario).
    cluster_command: Callable[[Context, int, str], list[str]] | None = None


ALL_SCENARIO_NAMES = frozenset(
    {"throughput", "throughput-polling", "latency", "fanout", "memory", "soak"}
)
# Presence at scale and rooms (docs/protocol.md, "Presence limit" and "Rooms"): Playwire's
# contract; the references have no rooms and no presence limit.
PLAYWIRE_SCENARIO_NAMES = ALL_SCENARIO_NAMES | {
    "connect-1000",
    "connect-5000",
    "connect-10000",
    "rooms",
    *("cluster", "cluster-fanout", "cluster-connect"),
}
# The soak with drops tests connection state recovery: it needs recovery on.
RECOVERY_SCENARIO_NAMES = PLAYWIRE_SCENARIO_NAMES | {"soak-drops"}


def playwire_command(ctx: Context, port: int, *extra: str) -> list[str]:
    instance_dir = ctx.work_dir / "playwire-instance"
    flags = [*known_flags(ctx.playwire_src, PLAYWIRE_RATE_FLAGS), "--secret-key", BENCH_SECRET_KEY]
    return devserver.serve_command(port, instance_dir, *flags, *extra, python=ctx.python, host=HOST)


def known_flags(playwire_src: Path, flags: list[str]) -> list[str]:
    """``flags`` (name, value pairs) without those the measured checkout does not define: an
    older one, measured with ``--playwire-src`` to compare against, may predate a flag.
    Each flag is a field of its ``playwire/config.py`` (``--rate-limit``: ``rate_limit:``)."""
    config = (playwire_src / "playwire" / "config.py").read_text()
    kept = []
    for name, value in zip(flags[::2], flags[1::2]):
        if f"{name[2:].replace('-', '_')}:" in config:
            kept += [name, value]
    return kept


#: Playwire with connection state recovery off, to measure what recovery (on by default) costs.
NO_RECOVERY = ("--recovery-window", "0")


def playwire_env(ctx: Context) -> dict[str, str]:
    """Puts ``--playwire-src`` (default: this checkout's ``src``) first on the module path, so the
    Playwire measured is the checked-out one, not whatever the venv has installed."""
    paths = [str(ctx.playwire_src), os.environ.get("PYTHONPATH", "")]
    return {"PYTHONPATH": os.pathsep.join(p for p in paths if p)}


SERVERS = {
    spec.name: spec
    for spec in (
        ServerSpec(
            name="playwire",
            command=playwire_command,
            cluster_command=lambda ctx, port, url: playwire_command(
                ctx, port, "--message-queue", url
            ),
            env=playwire_env,
            auth="token",
            protocol="socketio",
            supports=RECOVERY_SCENARIO_NAMES,
            note="playwire runs with " + " ".join(PLAYWIRE_RATE_FLAGS),
        ),
        ServerSpec(
            name="playwire-no-recovery",
            command=lambda ctx, port: playwire_command(ctx, port, *NO_RECOVERY),
            cluster_command=lambda ctx, port, url: playwire_command(
                ctx, port, *NO_RECOVERY, "--message-queue", url
            ),
            env=playwire_env,
            auth="token",
            protocol="socketio",
            supports=PLAYWIRE_SCENARIO_NAMES,
            note="playwire-no-recovery runs with " + " ".join(NO_RECOVERY),
        ),
        ServerSpec(
            name="node-socketio",
            command=lambda ctx, port: [
                ctx.node,
                str(BENCH_DIR / "ref_node_socketio.js"),
                str(port),
            ],
            # With @socket.io/redis-adapter, the cluster reference.
            cluster_command=lambda ctx, port, url: [
                ctx.node,
                str(BENCH_DIR / "ref_node_socketio.js"),
                str(port),
                url,
            ],
            auth="user_id",
            protocol="socketio",
            supports=ALL_SCENARIO_NAMES | {"cluster", "cluster-fanout"},
        ),
        ServerSpec(
            name="flask-socketio",
            command=lambda ctx, port: [
                ctx.python,
                str(BENCH_DIR / "ref_flask_socketio.py"),
                str(port),
            ],
            auth="user_id",
            protocol="socketio",
            supports=ALL_SCENARIO_NAMES,
        ),
        ServerSpec(
            name="ws",
            command=lambda ctx, port: [ctx.node, str(BENCH_DIR / "ref_ws.js"), str(port)],
            auth="user_id",
            protocol="ws",
            supports=frozenset({"throughput", "latency", "memory", "soak"}),
        ),
    )
}


class ProcessRegistry:
    """Every process the runner started, so that all of them die with it, whatever happens."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen] = []

    def track(self, process: subprocess.Popen) -> subprocess.Popen:
        self.processes.append(process)
        return process

    def start(self, command: list[str], **kwargs: Any) -> subprocess.Popen:
        # A new session per child: stopping it also stops anything it spawned.
        return self.track(subprocess.Popen(command, start_new_session=True, **kwargs))

    def stop(self, process: subprocess.Popen) -> None:
        devserver.stop(process, STOP_GRACE_S, group=True)
        if process in self.processes:
            self.processes.remove(process)

    def stop_all(self) -> None:
        for process in list(self.processes):
            self.stop(process)


@dataclass
class RunningServer:
    spec: ServerSpec
    process: subprocess.Popen
    port: int

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


@contextlib.contextmanager
def running_server(
    spec: ServerSpec,
    ctx: Context,
    registry: ProcessRegistry,
    message_queue: str | None = None,
    cpu: str = SERVER_CPU,
) -> Iterator[RunningServer]:
    """A fresh server, ready; with ``message_queue``, a node of a cluster on that Redis."""
    port = devserver.free_port(HOST)
    if message_queue is None:
        command, log_path = spec.command(ctx, port), ctx.work_dir / f"{spec.name}-{port}.log"
    else:
        command = spec.cluster_command(ctx, port, message_queue)
        log_path = ctx.work_dir / f"{spec.name}-cluster-{port}.log"
    process = devserver.start(
        ctx.pinned(cpu, command),
        log_path,
        append=False,
        env={**os.environ, **spec.env(ctx)},
        cwd=ctx.work_dir,
        new_session=True,
    )
    registry.track(process)
    try:
        devserver.wait_for_healthz(process, f"http://{HOST}:{port}", log_path, READY_TIMEOUT_S)
        yield RunningServer(spec, process, port)
    finally:
        registry.stop(process)
