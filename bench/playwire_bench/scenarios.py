"""What ``loadgen.js`` runs (the scenarios and their sizes), and the figures of each result."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from typing import Callable

from playwire_bench import BENCH_DIR
from playwire_bench.accounts import accounts_for, minted_accounts
from playwire_bench.cluster import run_cluster, run_cluster_connect, run_cluster_fanout
from playwire_bench.servers import LOADGEN_CPU, Context, ProcessRegistry, RunningServer


@dataclass(frozen=True)
class Figure:
    """One number of the final table. ``better`` is "higher", "lower" or "info" (context such as
    the load generator's CPU use, shown without ratios); ``goal`` is its target (bench/README.md,
    "The goals") as (comparison, factor) of the baseline against node-socketio, if it sets one."""

    name: str
    value: float
    better: str
    goal: tuple[str, float] | None = None


@dataclass(frozen=True)
class Scenario:
    name: str
    loadgen_scenario: str
    full_params: dict
    smoke_params: dict
    users_needed: Callable[[dict], int]
    figures: Callable[[dict], list[Figure]]
    transport: str = "websocket"
    repeated: bool = True  # False: run once, whatever --runs says (the soak)
    timeout_s: Callable[[dict], float] = lambda params: 180.0
    minted: bool = False  # users with tokens minted by the runner, none registered
    # Runs the scenario itself, servers included (the cluster scenario), instead of loadgen.js
    # on one running server: (scenario, server spec, ctx, registry) -> result.
    standalone: Callable[..., dict] | None = None


def throughput_figures(transport: str) -> Callable[[dict], list[Figure]]:
    def figures(result: dict) -> list[Figure]:
        goal = ("ge", 1.0) if transport == "websocket" else None
        name = f"forward throughput, {transport}, {result['pairs']} pairs"
        return [
            Figure(f"{name} (msgs/s)", result["msgs_per_s"], "higher", goal),
            Figure(
                f"{name} (msgs per server CPU-second)", result["msgs_per_server_cpu_s"], "higher"
            ),
            Figure(f"{name}: load generator CPU (%)", result["loadgen_cpu_percent"], "info"),
        ]

    return figures


def latency_figures(result: dict) -> list[Figure]:
    figures = []
    for load in result["loads"]:
        rate = load["offered_msgs_per_s"]
        figures.append(Figure(f"forward latency p50 @ {rate} msgs/s (ms)", load["p50_ms"], "lower"))
        figures.append(
            Figure(
                f"forward latency p99 @ {rate} msgs/s (ms)", load["p99_ms"], "lower", ("le", 1.0)
            )
        )
    return figures


def fanout_figures(result: dict) -> list[Figure]:
    name = f"chat fan-out to {result['sessions']} sessions (deliveries/s)"
    return [Figure(name, result["deliveries_per_s"], "higher", ("ge", 1.0))]


def memory_figures(result: dict) -> list[Figure]:
    figures = []
    for level in result["levels"]:
        n = level["connections"]
        per_connection = level["bytes_per_connection"]
        kib = None if per_connection is None else per_connection / 1024
        figures.append(Figure(f"memory per idle connection @ {n} (KiB)", kib, "lower", ("le", 2.0)))
        figures.append(
            Figure(f"connect rate @ {n} (connections/s)", level["connects_per_s"], "higher")
        )
    return figures


def soak_figures(result: dict) -> list[Figure]:
    sessions = result["sessions"]
    growth = result["rss_after_traffic_bytes"] - result["rss_connected_bytes"]
    return [
        Figure(f"soak {sessions} sessions: lost", result["lost"], "lower"),
        Figure(f"soak {sessions} sessions: duplicated", result["duplicated"], "lower"),
        Figure(f"soak {sessions} sessions: reordered", result["reordered"], "lower"),
        Figure(f"soak {sessions} sessions: RSS growth (MiB)", growth / 2**20, "lower"),
    ]


def soak_drops_figures(result: dict) -> list[Figure]:
    name = f"soak with {result['dropping_sessions']} of {result['sessions']} dropping"
    counts = [
        ("lost", "lost", "lower"),
        ("duplicated", "duplicated", "lower"),
        ("reordered", "reordered", "lower"),
        ("drops", "drops", "info"),
        ("recovered", "recoveries", "info"),
        ("not recovered", "failed_recoveries", "lower"),
        ('acks "held"', "held_acks", "info"),
    ]
    return [Figure(f"{name}: {label}", result[key], better) for label, key, better in counts]


def connect_figures(result: dict) -> list[Figure]:
    n = result["users"]
    name = f"connect {n:,} distinct users to /chat"
    return [
        Figure(f"{name} (s)", result["connect_s"], "lower"),
        Figure(
            f"{name}: server CPU per connect (ms)", result["server_cpu_ms_per_connect"], "lower"
        ),
        Figure(
            f"{name}: presence events per connect", result["presence_events_per_connect"], "lower"
        ),
        Figure(f"{name}: load generator CPU (%)", result["loadgen_cpu_percent"], "info"),
    ]


def rooms_figures(result: dict) -> list[Figure]:
    name = f"room fan-out, {result['rooms']:,} rooms of {result['room_size']}"
    rate = result["offered_msgs_per_s"]
    return [
        Figure(
            f"{name} @ {rate:,} msgs/s offered (deliveries/s)", result["deliveries_per_s"], "higher"
        ),
        Figure(f"{name}: latency p99 (ms)", result["latency"]["p99_ms"], "lower"),
        Figure(
            f"{name}: delivered of expected (%)",
            100 * result["delivered"] / max(1, result["expected_deliveries"]),
            "higher",
        ),
        Figure(f"{name}: load generator CPU (%)", result["loadgen_cpu_percent"], "info"),
    ]


def cluster_figures(result: dict) -> list[Figure]:
    name = f"cluster, forward throughput, {result['pairs']} pairs"
    return [
        Figure(f"{name}: single node (msgs/s)", result["single_msgs_per_s"], "higher"),
        Figure(f"{name}: cluster node (msgs/s)", result["cluster_msgs_per_s"], "higher"),
        Figure(f"{name}: cluster node / single node (x)", result["cluster_to_single"], "higher"),
        Figure(
            f"{name}: CPU of the node holding none of the users (% of the serving node's)",
            result["foreign_cpu_percent"],
            "lower",
        ),
    ]


def cluster_comparison_figures(name: str, unit: str) -> Callable[[dict], list[Figure]]:
    def figures(result: dict) -> list[Figure]:
        return [
            Figure(f"{name}: single node ({unit})", result["single"], "higher"),
            Figure(f"{name}: cluster of two ({unit})", result["cluster"], "higher"),
            Figure(f"{name}: cluster / single node (x)", result["cluster_to_single"], "higher"),
        ]

    return figures


def connect_scenario(users: int, smoke_users: int) -> Scenario:
    """``users`` distinct users connecting to a fresh server's /chat, 50 in flight."""
    return Scenario(
        name=f"connect-{users}",
        loadgen_scenario="connect",
        full_params={"users": users, "namespace": "/chat", "settleMs": 2000},
        smoke_params={"users": smoke_users, "namespace": "/chat", "settleMs": 200},
        users_needed=lambda params: params["users"],
        figures=connect_figures,
        minted=True,
        timeout_s=lambda params: 120.0 + params["users"] * 0.1,
    )


def pairs_users(params: dict) -> int:
    return 2 * params["pairs"]


THROUGHPUT_FULL = {"pairs": 50, "window": 8, "warmupMs": 2000, "durationMs": 10000}
THROUGHPUT_SMOKE = {"pairs": 2, "window": 4, "warmupMs": 200, "durationMs": 500}
FANOUT_FULL = {
    **{"sessions": 200, "senders": 10, "startRate": 10, "maxRate": 5000},
    **{"refineSteps": 2, "stepMs": 5000, "drainMs": 3000},
}
FANOUT_SMOKE = {
    **{"sessions": 5, "senders": 2, "startRate": 20, "maxRate": 40},
    **{"refineSteps": 0, "stepMs": 300, "drainMs": 1000},
}

SCENARIOS = {
    scenario.name: scenario
    for scenario in (
        Scenario(
            name="throughput",
            loadgen_scenario="throughput",
            full_params=THROUGHPUT_FULL,
            smoke_params=THROUGHPUT_SMOKE,
            users_needed=pairs_users,
            figures=throughput_figures("websocket"),
        ),
        Scenario(
            name="throughput-polling",
            loadgen_scenario="throughput",
            transport="polling",
            full_params=THROUGHPUT_FULL,
            smoke_params=THROUGHPUT_SMOKE,
            users_needed=pairs_users,
            figures=throughput_figures("polling"),
        ),
        Scenario(
            name="latency",
            loadgen_scenario="latency",
            full_params={
                **{"pairs": 50, "rates": [500, 2000], "warmupMs": 2000, "durationMs": 10000},
                "drainMs": 3000,
            },
            smoke_params={
                **{"pairs": 2, "rates": [50, 200], "warmupMs": 200, "durationMs": 500},
                "drainMs": 1000,
            },
            users_needed=pairs_users,
            figures=latency_figures,
        ),
        Scenario(
            name="fanout",
            loadgen_scenario="fanout",
            full_params=FANOUT_FULL,
            smoke_params=FANOUT_SMOKE,
            users_needed=lambda params: params["sessions"],
            figures=fanout_figures,
            timeout_s=lambda params: 300.0,
        ),
        Scenario(
            name="memory",
            loadgen_scenario="memory",
            full_params={"levels": [100, 1000, 5000], "distinctUsers": 100, "settleMs": 3000},
            smoke_params={"levels": [10, 20], "distinctUsers": 4, "settleMs": 200},
            users_needed=lambda params: min(params["distinctUsers"], max(params["levels"])),
            figures=memory_figures,
            timeout_s=lambda params: 400.0,
        ),
        Scenario(
            name="soak",
            loadgen_scenario="soak",
            full_params={
                "sessions": 1000,
                "totalRate": 500,
                "drainMs": 5000,
                "sampleEveryMs": 10000,
            },
            smoke_params={"sessions": 4, "totalRate": 100, "drainMs": 1000, "sampleEveryMs": 200},
            users_needed=lambda params: params["sessions"],
            figures=soak_figures,
            repeated=False,
            timeout_s=lambda params: params["durationMs"] / 1000 + 180,
        ),
        Scenario(
            name="soak-drops",
            loadgen_scenario="soakDrops",
            full_params={
                **{"sessions": 1000, "totalRate": 500, "drainMs": 10000},
                **{"dropFraction": 0.05, "dropEveryMs": 3000, "reconnectionDelayMs": 1000},
                "reconnectWaitMs": 30000,
            },
            smoke_params={
                **{"sessions": 8, "totalRate": 100, "drainMs": 3000},
                **{"dropFraction": 0.25, "dropEveryMs": 200, "reconnectionDelayMs": 100},
                "reconnectWaitMs": 10000,
            },
            users_needed=lambda params: params["sessions"],
            figures=soak_drops_figures,
            minted=True,  # registering 1,000 accounts (argon2) took longer than the soak
            repeated=False,
            timeout_s=lambda params: params["durationMs"] / 1000 + 180,
        ),
        Scenario(
            name="cluster",
            loadgen_scenario="throughput",
            full_params=THROUGHPUT_FULL,
            smoke_params=THROUGHPUT_SMOKE,
            users_needed=pairs_users,
            figures=cluster_figures,
            minted=True,
            standalone=run_cluster,
            timeout_s=lambda params: 240.0,
        ),
        Scenario(
            name="cluster-fanout",
            loadgen_scenario="fanout",
            full_params=FANOUT_FULL,
            smoke_params=FANOUT_SMOKE,
            users_needed=lambda params: params["sessions"],
            figures=cluster_comparison_figures(
                "cluster, chat fan-out, half the sessions on each node", "deliveries/s"
            ),
            minted=True,
            standalone=run_cluster_fanout,
            timeout_s=lambda params: 300.0,
        ),
        Scenario(
            name="cluster-connect",
            loadgen_scenario="connect",
            full_params={"users": 1000, "namespace": "/chat", "settleMs": 2000},
            smoke_params={"users": 10, "namespace": "/chat", "settleMs": 200},
            users_needed=lambda params: params["users"],
            figures=cluster_comparison_figures(
                "cluster, distinct users connecting to one node", "connections/s"
            ),
            minted=True,
            standalone=run_cluster_connect,
            timeout_s=lambda params: 120.0 + params["users"] * 0.1,
        ),
        connect_scenario(1000, 10),
        connect_scenario(5000, 20),
        connect_scenario(10000, 30),
        Scenario(
            name="rooms",
            loadgen_scenario="rooms",
            full_params={
                **{"rooms": 1000, "roomSize": 10, "ratePerPlayer": 5},
                **{"warmupMs": 2000, "durationMs": 10000, "drainMs": 5000},
            },
            smoke_params={
                **{"rooms": 2, "roomSize": 3, "ratePerPlayer": 5},
                **{"warmupMs": 200, "durationMs": 500, "drainMs": 1000},
            },
            users_needed=lambda params: params["rooms"] * params["roomSize"],
            figures=rooms_figures,
            minted=True,
            timeout_s=lambda params: 600.0,
        ),
    )
}


def scenario_params(scenario: Scenario, ctx: Context) -> dict:
    params = dict(scenario.smoke_params if ctx.smoke else scenario.full_params)
    if scenario.name in ("soak", "soak-drops"):
        params["durationMs"] = int(ctx.soak_seconds * 1000)
    if scenario.name == "soak":
        params["closeSettleMs"] = 200 if ctx.smoke else 2000
    elif ctx.duration_seconds is not None and "durationMs" in params:
        params["durationMs"] = int(ctx.duration_seconds * 1000)
    return params


def users_for(scenario: Scenario, server: RunningServer, ctx: Context, params: dict) -> list[dict]:
    count = scenario.users_needed(params)
    if scenario.minted:
        return minted_accounts(server, count)
    return accounts_for(server, ctx, count)


def run_loadgen(
    scenario: Scenario,
    server: RunningServer,
    ctx: Context,
    registry: ProcessRegistry,
    extra: dict | None = None,
) -> dict:
    """Runs loadgen.js once and returns its JSON result line (``ok`` false on any failure)."""
    params = scenario_params(scenario, ctx)
    timeout_s = scenario.timeout_s(params)
    config = {
        "scenario": scenario.loadgen_scenario,
        "url": server.url,
        "protocol": server.spec.protocol,
        "transport": scenario.transport,
        "users": users_for(scenario, server, ctx, params),
        "serverPid": server.process.pid,
        "clockTicks": os.sysconf("SC_CLK_TCK"),
        "timeoutMs": int((timeout_s - 5) * 1000),
        "params": params,
        **(extra or {}),
    }
    config_path = ctx.work_dir / "loadgen-config.json"
    config_path.write_text(json.dumps(config))
    command = ctx.pinned(
        LOADGEN_CPU, [ctx.node, str(BENCH_DIR / "loadgen.js"), "--config", str(config_path)]
    )
    process = registry.start(command, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
    try:
        stdout, _ = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"ok": False, "error": f"loadgen did not finish within {timeout_s} s"}
    finally:
        registry.stop(process)
    lines = stdout.strip().splitlines()
    if not lines:
        return {"ok": False, "error": f"loadgen printed nothing (exit {process.returncode})"}
    return json.loads(lines[-1])
