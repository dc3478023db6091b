"""The ``cluster`` scenario: a cluster node's forward throughput beside a single node's, in one
run, and the CPU of a node that holds none of the users (docs/cluster.md, "What a message
costs on a cluster").

The same 50 pairs forward first on a single node, then on one node of a two-node cluster with a
redis-server of its own, while one idle session sits on the second node: that node's CPU in the
measuring window, in % of the serving node's, is what it spends reading the serving node's
messages, which are not for it. Node socket.io runs it as well, with its Redis adapter.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time
from collections.abc import Callable, Iterator

from playwire import devserver
from playwire_bench import HOST, log
from playwire_bench.accounts import minted_accounts
from playwire_bench.servers import (
    LOADGEN_CPU,
    SERVER_CPU,
    Context,
    ProcessRegistry,
    RunningServer,
    ServerSpec,
    running_server,
)


def beside_single(
    scenario, spec: ServerSpec, ctx: Context, registry: ProcessRegistry, extra_for: Callable
) -> tuple[dict, dict]:
    """The scenario's loadgen result on a single node, then on the serving node of a two-node
    cluster, with ``extra_for(serving, foreign, params)`` added to its config there. If the
    single node's run failed, that failure stands for both (the cluster is not started)."""
    from playwire_bench.scenarios import run_loadgen, scenario_params  # it imports this module

    params = scenario_params(scenario, ctx)
    with running_server(spec, ctx, registry) as single:
        alone = run_loadgen(scenario, single, ctx, registry)
    if not alone.get("ok"):
        return alone, alone
    with running_cluster(spec, ctx, registry) as (serving, foreign):
        extra = extra_for(serving, foreign, params)
        clustered = run_loadgen(scenario, serving, ctx, registry, extra=extra)
    return alone, clustered


def run_cluster(scenario, spec: ServerSpec, ctx: Context, registry: ProcessRegistry) -> dict:
    """Forward throughput alone and on a cluster node, and the idle node's CPU meanwhile."""

    def idle_session_there(serving, foreign, params):
        idle = minted_accounts(serving, 2 * params["pairs"] + 1)[-1]
        return {"idle": {"url": foreign.url, "user": idle}, "foreignPid": foreign.process.pid}

    alone, clustered = beside_single(scenario, spec, ctx, registry, idle_session_there)
    if not clustered.get("ok"):
        return clustered
    foreign_cpu, serving_cpu = clustered["foreign_cpu_s"], clustered["server_cpu_s"]
    result = {
        "ok": True,
        "pairs": alone["pairs"],
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


def run_cluster_fanout(scenario, spec: ServerSpec, ctx: Context, registry: ProcessRegistry) -> dict:
    """Chat fan-out on a single node, then with every other session on the second node."""
    alone, clustered = beside_single(
        scenario, spec, ctx, registry, lambda serving, foreign, params: {"spreadUrl": foreign.url}
    )
    if not clustered.get("ok"):
        return clustered
    return compared(alone, clustered, "deliveries_per_s", "sessions", "deliveries/s")


def run_cluster_connect(
    scenario, spec: ServerSpec, ctx: Context, registry: ProcessRegistry
) -> dict:
    """Distinct users connecting to a single node, then to one node of a cluster."""
    alone, clustered = beside_single(scenario, spec, ctx, registry, lambda *_: {})
    if not clustered.get("ok"):
        return clustered
    alone["connects_per_s"] = alone["users"] / alone["connect_s"]
    clustered["connects_per_s"] = clustered["users"] / clustered["connect_s"]
    return compared(alone, clustered, "connects_per_s", "users", "connections/s")


def compared(alone: dict, clustered: dict, figure: str, size: str, unit: str) -> dict:
    """``figure`` of both runs, and the cluster node's ratio to the single node."""
    ratio = clustered[figure] / alone[figure] if alone[figure] else 0.0
    log(f"  {figure}: {clustered[figure]:,.0f} vs {alone[figure]:,.0f} {unit}, {ratio:.2f}x")
    return {
        "ok": True,
        size: alone[size],
        "single": alone[figure],
        "cluster": clustered[figure],
        "cluster_to_single": ratio,
        "single_run": alone,
        "cluster_run": clustered,
    }


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
            serving = nodes.enter_context(running_server(spec, ctx, registry, url, SERVER_CPU))
            foreign = nodes.enter_context(running_server(spec, ctx, registry, url, LOADGEN_CPU))
            yield serving, foreign
    finally:
        registry.stop(redis)


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
