"""The ``cluster`` scenario: a cluster node's forward throughput beside a single node's, in one
run, and the CPU of a node that holds none of the users (docs/cluster.md, "What it costs").

The same 50 pairs forward first on a single node, then on one node of a two-node cluster with a
redis-server of its own, while one idle session sits on the second node: that node's CPU in the
measuring window, in % of the serving node's, is what routing by channel saves.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator

from playwire import devserver
from playwire_bench import HOST, log
from playwire_bench.accounts import minted_accounts
from playwire_bench.servers import (
    LOADGEN_CPU,
    READY_TIMEOUT_S,
    SERVER_CPU,
    Context,
    ProcessRegistry,
    RunningServer,
    ServerSpec,
    playwire_command,
    running_server,
)


def run_cluster(scenario, spec: ServerSpec, ctx: Context, registry: ProcessRegistry) -> dict:
    """Both measurements and their ratios; ``ok`` false if either failed."""
    from playwire_bench.scenarios import run_loadgen, scenario_params

    pairs = scenario_params(scenario, ctx)["pairs"]
    with running_server(spec, ctx, registry) as single:
        alone = run_loadgen(scenario, single, ctx, registry)
    if not alone.get("ok"):
        return alone
    with running_cluster(spec, ctx, registry) as (serving, foreign):
        idle = minted_accounts(serving, 2 * pairs + 1)[-1]
        extra = {"idle": {"url": foreign.url, "user": idle}, "foreignPid": foreign.process.pid}
        clustered = run_loadgen(scenario, serving, ctx, registry, extra=extra)
    if not clustered.get("ok"):
        return clustered
    foreign_cpu, serving_cpu = clustered["foreign_cpu_s"], clustered["server_cpu_s"]
    result = {
        "ok": True,
        "pairs": pairs,
        "single_msgs_per_s": alone["msgs_per_s"],
        "cluster_msgs_per_s": clustered["msgs_per_s"],
        "cluster_to_single": clustered["msgs_per_s"] / alone["msgs_per_s"],
        "foreign_cpu_percent": None if not serving_cpu else 100 * foreign_cpu / serving_cpu,
        "single": alone,
        "cluster": clustered,
    }
    log(
        f"  cluster: {result['cluster_msgs_per_s']:,.0f} vs {result['single_msgs_per_s']:,.0f}"
        f" msgs/s single = {result['cluster_to_single']:.2f}x;"
        f" foreign node CPU {result['foreign_cpu_percent']:.1f} % of the serving node's"
    )
    return result


@contextlib.contextmanager
def running_cluster(
    spec: ServerSpec, ctx: Context, registry: ProcessRegistry
) -> Iterator[tuple[RunningServer, RunningServer]]:
    """A redis-server of its own and two Playwire nodes sharing it (and the instance dir);
    the serving node on the server's CPU, Redis and the other node beside the load generator."""
    redis_port = devserver.free_port(HOST)
    command = ["redis-server", "--port", str(redis_port), "--bind", HOST, "--save", ""]
    command += ["--appendonly", "no"]
    redis = registry.start(
        ctx.pinned(LOADGEN_CPU, command), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_port(redis_port)
        url = f"redis://{HOST}:{redis_port}/0"
        with contextlib.ExitStack() as nodes:  # one `with` of two would need Python 3.10
            serving = nodes.enter_context(cluster_node(spec, ctx, registry, url, SERVER_CPU))
            foreign = nodes.enter_context(cluster_node(spec, ctx, registry, url, LOADGEN_CPU))
            yield serving, foreign
    finally:
        registry.stop(redis)


@contextlib.contextmanager
def cluster_node(
    spec: ServerSpec, ctx: Context, registry: ProcessRegistry, url: str, cpu: str
) -> Iterator[RunningServer]:
    port = devserver.free_port(HOST)
    log_path = ctx.work_dir / f"{spec.name}-cluster-{port}.log"
    command = [*playwire_command(ctx, port), "--message-queue", url]
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


def wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not listen on {port}") from None
            time.sleep(0.05)
