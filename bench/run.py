"""Runner of ``make bench``: Playwire against its reference servers, as SPEC §9 asks.

For every run, scenario and server (servers interleaved, their order rotated each run) it starts
a fresh server pinned to CPU 0, waits for ``GET /healthz``, runs ``loadgen.js`` pinned to CPU 1,
and stops the server again. Then it takes the median of each figure over the runs, writes every
raw result to ``bench/results/<timestamp>.json`` and prints a table of the medians with the
baseline's (Playwire's) ratio to each reference; the same table goes to ``--markdown``.

Stdlib only and Python 3.9-compatible, so it runs with any interpreter, including the one under
test. Every process it starts is killed on the way out, also on Ctrl-C and on errors.

    python bench/run.py --smoke                       # a quick check that the harness works
    python bench/run.py                               # the full run (see bench/README.md)
    python bench/run.py --servers node-socketio,ws --scenarios throughput,latency --runs 1
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
HOST = "127.0.0.1"
SERVER_CPU = "0"
LOADGEN_CPU = "1"
READY_TIMEOUT_S = 60.0
STOP_GRACE_S = 5.0
BENCH_PASSWORD = "bench-password-0"
# Playwire's default rate limit (100 events/s per session) would turn a load test into a test
# of the limiter, so the scenarios raise it; the output says so. The load generator registers
# thousands of accounts from one address: registrations are not limited either.
PLAYWIRE_RATE_FLAGS = [
    *("--rate-limit", "100000", "--rate-burst", "100000"),
    *("--register-limit", "off"),
]


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------
# Servers
# ------------------------------------------------------------------------------------------------


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


ALL_SCENARIO_NAMES = frozenset(
    {"throughput", "throughput-polling", "latency", "fanout", "memory", "soak"}
)


def playwire_command(ctx: Context, port: int) -> list[str]:
    instance_dir = ctx.work_dir / "playwire-instance"
    return [
        *(ctx.python, "-m", "playwire", "serve", "--host", HOST, "--port", str(port)),
        *("--instance-dir", str(instance_dir), *PLAYWIRE_RATE_FLAGS),
    ]


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
            env=playwire_env,
            auth="token",
            protocol="socketio",
            supports=ALL_SCENARIO_NAMES,
            note="playwire runs with " + " ".join(PLAYWIRE_RATE_FLAGS),
        ),
        ServerSpec(
            name="node-socketio",
            command=lambda ctx, port: [
                ctx.node,
                str(BENCH_DIR / "ref_node_socketio.js"),
                str(port),
            ],
            auth="user_id",
            protocol="socketio",
            supports=ALL_SCENARIO_NAMES,
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

    def start(self, command: list[str], **kwargs: Any) -> subprocess.Popen:
        # A new session per child: stopping it also stops anything it spawned.
        process = subprocess.Popen(command, start_new_session=True, **kwargs)
        self.processes.append(process)
        return process

    def stop(self, process: subprocess.Popen) -> None:
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        if process in self.processes:
            self.processes.remove(process)

    def stop_all(self) -> None:
        for process in list(self.processes):
            self.stop(process)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def wait_until_ready(process: subprocess.Popen, port: int, log_path: Path) -> None:
    """Polls ``GET /healthz`` until it answers 200; fails early if the server died."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    url = f"http://{HOST}:{port}/healthz"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{tail(log_path)}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as response:
            if response.status == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"server not ready after {READY_TIMEOUT_S} s:\n{tail(log_path)}")


def tail(path: Path, lines: int = 20) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


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
    spec: ServerSpec, ctx: Context, registry: ProcessRegistry
) -> Iterator[RunningServer]:
    port = free_port()
    log_path = ctx.work_dir / f"{spec.name}-{port}.log"
    with log_path.open("wb") as log_file:
        process = registry.start(
            ctx.pinned(SERVER_CPU, spec.command(ctx, port)),
            env={**os.environ, **spec.env(ctx)},
            cwd=str(ctx.work_dir),
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        wait_until_ready(process, port, log_path)
        yield RunningServer(spec, process, port)
    finally:
        registry.stop(process)


# ------------------------------------------------------------------------------------------------
# Accounts
# ------------------------------------------------------------------------------------------------


def post_json(url: str, payload: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def token_account(server: RunningServer, index: int) -> dict:
    """Registers ``bench_<index>`` (or logs in if a previous start already registered it)."""
    credentials = {"username": f"bench_{index}", "password": BENCH_PASSWORD}
    status, body = post_json(server.url + "/api/register", credentials)
    if status == 409:
        status, body = post_json(server.url + "/api/login", credentials)
    if status not in (200, 201):
        raise RuntimeError(f"cannot get an account for bench_{index}: {status} {body}")
    return {"id": body["id"], "auth": {"token": body["token"]}}


def accounts_for(server: RunningServer, ctx: Context, count: int) -> list[dict]:
    """The first ``count`` users in the form loadgen.js takes: ``{"id", "auth"}``.

    Token accounts are registered once per invocation and kept: Playwire keeps its secret key in
    the instance directory, so the tokens stay valid across the restarts between scenarios, and
    password hashing (argon2) is slow on purpose.
    """
    if server.spec.auth == "user_id":
        return [{"id": i, "auth": {"user_id": i}} for i in range(1, count + 1)]
    known = ctx.accounts.setdefault(server.spec.name, [])
    if len(known) < count:
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=4) as pool:
            known.extend(pool.map(lambda i: token_account(server, i), range(len(known), count)))
        log(f"{server.spec.name}: {count} accounts ready in {time.monotonic() - started:.1f} s")
    return known[:count]


# ------------------------------------------------------------------------------------------------
# Scenarios and their figures
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One number of the final table. ``better`` is "higher", "lower" or "info" (context such as
    the load generator's CPU use, shown without ratios); ``goal`` is SPEC §9's target as
    (comparison, factor) of the baseline against node-socketio, if it sets one."""

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


def pairs_users(params: dict) -> int:
    return 2 * params["pairs"]


THROUGHPUT_FULL = {"pairs": 50, "window": 8, "warmupMs": 2000, "durationMs": 10000}
THROUGHPUT_SMOKE = {"pairs": 2, "window": 4, "warmupMs": 200, "durationMs": 500}

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
            full_params={
                **{"sessions": 200, "senders": 10, "startRate": 10, "maxRate": 5000},
                **{"refineSteps": 2, "stepMs": 5000, "drainMs": 3000},
            },
            smoke_params={
                **{"sessions": 5, "senders": 2, "startRate": 20, "maxRate": 40},
                **{"refineSteps": 0, "stepMs": 300, "drainMs": 1000},
            },
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
    )
}


def scenario_params(scenario: Scenario, ctx: Context) -> dict:
    params = dict(scenario.smoke_params if ctx.smoke else scenario.full_params)
    if scenario.name == "soak":
        params["durationMs"] = int(ctx.soak_seconds * 1000)
        params["closeSettleMs"] = 200 if ctx.smoke else 2000
    elif ctx.duration_seconds is not None and "durationMs" in params:
        params["durationMs"] = int(ctx.duration_seconds * 1000)
    return params


def run_loadgen(
    scenario: Scenario, server: RunningServer, ctx: Context, registry: ProcessRegistry
) -> dict:
    """Runs loadgen.js once and returns its JSON result line (``ok`` false on any failure)."""
    params = scenario_params(scenario, ctx)
    timeout_s = scenario.timeout_s(params)
    config = {
        "scenario": scenario.loadgen_scenario,
        "url": server.url,
        "protocol": server.spec.protocol,
        "transport": scenario.transport,
        "users": accounts_for(server, ctx, scenario.users_needed(params)),
        "serverPid": server.process.pid,
        "clockTicks": os.sysconf("SC_CLK_TCK"),
        "timeoutMs": int((timeout_s - 5) * 1000),
        "params": params,
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


# ------------------------------------------------------------------------------------------------
# The plan: which server runs which scenarios, in which order
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    run: int
    server: ServerSpec
    scenarios: tuple


def plan(
    servers: list[ServerSpec], scenarios: list[Scenario], runs: int, smoke: bool
) -> list[Step]:
    """Full runs: a fresh server per figure, servers interleaved and rotated every run, so that
    drift of the machine (heat, other load) spreads evenly. Smoke runs: one server start for all
    scenarios, which is all a harness check needs."""
    steps = []
    for run in range(runs):
        rotation = run % len(servers)
        order = servers[rotation:] + servers[:rotation]
        wanted = [s for s in scenarios if s.repeated or run == 0]
        if smoke:
            for server in order:
                supported = tuple(s for s in wanted if s.name in server.supports)
                if supported:
                    steps.append(Step(run, server, supported))
            continue
        for scenario in wanted:
            steps.extend(
                Step(run, server, (scenario,))
                for server in order
                if scenario.name in server.supports
            )
    return steps


def execute(steps: list[Step], ctx: Context, registry: ProcessRegistry) -> list[dict]:
    records = []
    for number, step in enumerate(steps, 1):
        names = ", ".join(s.name for s in step.scenarios)
        log(f"step {number}/{len(steps)}: run {step.run + 1}, {step.server.name}: {names}")
        try:
            with running_server(step.server, ctx, registry) as server:
                for scenario in step.scenarios:
                    records.append(run_one(scenario, server, ctx, registry, step.run))
        except RuntimeError as error:
            log(f"  {step.server.name} failed: {error}")
            for scenario in step.scenarios:
                records.append(
                    record(step.run, scenario, step.server, {"ok": False, "error": str(error)})
                )
    return records


def run_one(
    scenario: Scenario, server: RunningServer, ctx: Context, registry: ProcessRegistry, run: int
) -> dict:
    try:
        result = run_loadgen(scenario, server, ctx, registry)
    except RuntimeError as error:
        result = {"ok": False, "error": str(error)}
    entry = record(run, scenario, server.spec, result)
    if result.get("ok"):
        summary = "; ".join(f"{f['name']} = {format_value(f['value'])}" for f in entry["figures"])
        log(f"  {scenario.name}: {summary}")
    else:
        log(f"  {scenario.name} FAILED: {result.get('error')}")
    return entry


def record(run: int, scenario: Scenario, server: ServerSpec, result: dict) -> dict:
    figures = scenario.figures(result) if result.get("ok") else []
    return {
        "run": run,
        "scenario": scenario.name,
        "server": server.name,
        "ok": bool(result.get("ok")),
        "figures": [figure.__dict__ for figure in figures],
        "result": result,
    }


# ------------------------------------------------------------------------------------------------
# Medians, ratios and the table
# ------------------------------------------------------------------------------------------------


def medians(records: list[dict]) -> dict[str, dict[str, dict]]:
    """figure name → server → {"median", "values", "better", "goal"}, in first-seen order."""
    table: dict[str, dict[str, dict]] = {}
    for entry in records:
        for figure in entry["figures"]:
            cell = table.setdefault(figure["name"], {}).setdefault(
                entry["server"], {"values": [], "better": figure["better"], "goal": figure["goal"]}
            )
            if figure["value"] is not None:
                cell["values"].append(figure["value"])
    for row in table.values():
        for cell in row.values():
            cell["median"] = statistics.median(cell["values"]) if cell["values"] else None
    return table


def format_value(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:.2f}" if abs(value) >= 1 else f"{value:.3f}"


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """None where a ratio means nothing: a missing value, or a zero or negative one (soak counts,
    RSS that shrank)."""
    if numerator is None or denominator is None or numerator < 0 or denominator <= 0:
        return None
    return numerator / denominator


def goal_verdict(row: dict[str, dict], baseline: str) -> str:
    """SPEC §9's goal for this figure, met or not, comparing the baseline to node-socketio."""
    cell = row.get(baseline)
    reference = row.get("node-socketio")
    if not cell or not cell["goal"] or not reference:
        return ""
    comparison, factor = cell["goal"]
    value = ratio(cell["median"], reference["median"])
    if value is None:
        return ""
    met = value >= factor if comparison == "ge" else value <= factor
    sign = ">=" if comparison == "ge" else "<="
    return f"{'met' if met else 'NOT met'} ({sign} {factor:g}x node)"


def table_rows(
    table: dict[str, dict[str, dict]], servers: list[str], baseline: str
) -> list[list[str]]:
    references = [s for s in servers if s != baseline] if baseline in servers else []
    header = ["figure", *servers, *(f"{baseline} ÷ {r}" for r in references)]
    if references:
        header.append("SPEC §9 goal")
    rows = [header]
    for name, row in table.items():
        cells = [name, *(format_value(row.get(s, {}).get("median")) for s in servers)]
        informative = any(cell["better"] == "info" for cell in row.values())
        for reference in references:
            value = ratio(row.get(baseline, {}).get("median"), row.get(reference, {}).get("median"))
            cells.append("-" if value is None or informative else f"{value:.2f}x")
        if references:
            cells.append(goal_verdict(row, baseline))
        rows.append(cells)
    return rows


def render_text(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)) for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def render_markdown(rows: list[list[str]], notes: list[str]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    return "\n".join(lines + [""] + [f"- {note}" for note in notes]) + "\n"


def load_average() -> str:
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "unknown"


def others_cpu(records: list[dict]) -> list[float]:
    """CPU use of all but server and load generator in each measuring window (% of a core)."""
    windows = []
    for entry in records:
        result = entry["result"]
        windows += [result, *result.get("loads", []), *result.get("steps", [])]
    return [w["others_cpu_percent"] for w in windows if w.get("others_cpu_percent") is not None]


def notes_for(
    ctx: Context, servers: list[ServerSpec], runs: int, load_before: str, records: list[dict]
) -> list[str]:
    notes = [
        f"Medians of {runs} run(s); higher is better for msgs/s, deliveries/s and connections/s,"
        " lower for latency, memory and soak counts. The soak runs once.",
        f"Server pinned to CPU {SERVER_CPU}, load generator to CPU {LOADGEN_CPU}"
        if ctx.pin
        else "No CPU pinning (taskset unavailable or --no-pin).",
        f"{platform.node()}: {os.cpu_count()} CPUs, {platform.platform()}; load average"
        f" {load_before} before, {load_average()} after (anything else running skews the figures)",
    ]
    others = others_cpu(records)
    if others:
        notes.append(
            f"Other processes used {statistics.median(others):.0f} % of a core (median; max"
            f" {max(others):.0f} %) during the measuring windows; near 0 is a clean run."
        )
    notes += [spec.note for spec in servers if spec.note]
    if ctx.smoke:
        notes.append("SMOKE RUN: tiny sizes, the numbers mean nothing.")
    return notes


# ------------------------------------------------------------------------------------------------
# Command line
# ------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--smoke", action="store_true", help="seconds, tiny sizes: checks the harness"
    )
    parser.add_argument(
        "--servers", default=",".join(SERVERS), help="comma-separated subset of: %(default)s"
    )
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help="comma-separated subset of: %(default)s"
    )
    parser.add_argument("--runs", type=int, default=None, help="repetitions (default 3, smoke 1)")
    parser.add_argument(
        "--python",
        default=".venv/bin/python",
        help="interpreter of the Python servers; relative to the repo root",
    )
    parser.add_argument("--node", default="node", help="Node.js executable")
    parser.add_argument(
        "--playwire-src",
        default=str(REPO_ROOT / "src"),
        help="directory holding the playwire package to measure (default: %(default)s)",
    )
    parser.add_argument("--baseline", default="playwire", help="server the ratios are computed for")
    parser.add_argument(
        "--soak-seconds", type=float, default=None, help="soak duration (default 300, smoke 0.5)"
    )
    parser.add_argument(
        "--duration-seconds",
        type=float,
        default=None,
        help="override the measuring time of throughput and latency",
    )
    parser.add_argument(
        "--markdown",
        default=None,
        help="table path (default docs/benchmarks-table.md; none in smoke runs)",
    )
    parser.add_argument("--results-dir", default=str(BENCH_DIR / "results"))
    parser.add_argument(
        "--no-pin", action="store_true", help="do not pin processes to CPUs with taskset"
    )
    return parser.parse_args(argv)


def pick(names: str, known: dict, what: str) -> list:
    chosen = [name.strip() for name in names.split(",") if name.strip()]
    unknown = [name for name in chosen if name not in known]
    if unknown:
        raise SystemExit(f"unknown {what}: {', '.join(unknown)}; known: {', '.join(known)}")
    return [known[name] for name in chosen]


def resolve_python(python: str) -> str:
    if os.sep in python and not os.path.isabs(python):
        return str(REPO_ROOT / python)
    return python


def raise_open_file_limit() -> None:
    """5,000 connections need more descriptors than some default soft limits allow."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = 65536 if hard == resource.RLIM_INFINITY else hard
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def check_tools(ctx: Context, servers: list[ServerSpec]) -> None:
    if not (BENCH_DIR / "node_modules" / "socket.io-client").is_dir():
        raise SystemExit(f"run `npm ci` in {BENCH_DIR} first")
    uses_python = any(spec.name in ("playwire", "flask-socketio") for spec in servers)
    if uses_python and shutil.which(ctx.python) is None:
        raise SystemExit(f"Python interpreter not found: {ctx.python} (use --python)")


def write_results(
    args: argparse.Namespace, ctx: Context, records: list[dict], table: dict, started: str
) -> Path:
    results_dir = Path(args.results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{started}{'-smoke' if ctx.smoke else ''}.json"
    meta = {
        "started": started,
        "argv": sys.argv,
        "python": ctx.python,
        "node": subprocess.run(
            [ctx.node, "--version"], capture_output=True, text=True
        ).stdout.strip(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
    }
    path.write_text(json.dumps({"meta": meta, "medians": table, "records": records}, indent=1))
    return path


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    servers = pick(args.servers, SERVERS, "servers")
    scenarios = pick(args.scenarios, SCENARIOS, "scenarios")
    runs = args.runs if args.runs is not None else (1 if args.smoke else 3)
    started = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    registry = ProcessRegistry()
    # Both signals unwind through the ``finally`` below, which stops every child. SIGINT is set
    # explicitly because a shell starting us in the background makes Python ignore it.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="playwire-bench-") as work_dir:
        ctx = Context(
            python=resolve_python(args.python),
            node=args.node,
            smoke=args.smoke,
            pin=not args.no_pin
            and shutil.which("taskset") is not None
            and (os.cpu_count() or 1) >= 2,
            work_dir=Path(work_dir),
            soak_seconds=args.soak_seconds
            if args.soak_seconds is not None
            else (0.5 if args.smoke else 300),
            duration_seconds=args.duration_seconds,
            playwire_src=Path(args.playwire_src).resolve(),
        )
        check_tools(ctx, servers)
        raise_open_file_limit()
        began = time.monotonic()
        load_before = load_average()
        try:
            records = execute(plan(servers, scenarios, runs, args.smoke), ctx, registry)
        finally:
            registry.stop_all()
    table = medians(records)
    server_names = [spec.name for spec in servers]
    rows = table_rows(table, server_names, args.baseline)
    notes = notes_for(ctx, servers, runs, load_before, records)
    print(render_text(rows))
    for note in notes:
        print(f"  note: {note}")
    path = write_results(args, ctx, records, table, started)
    log(f"raw results: {path}; took {time.monotonic() - began:.0f} s")
    markdown = args.markdown or (None if args.smoke else "docs/benchmarks-table.md")
    if markdown:
        markdown_path = Path(markdown) if os.path.isabs(markdown) else REPO_ROOT / markdown
        markdown_path.parent.mkdir(parents=True, exist_ok=True)
        markdown_path.write_text(render_markdown(rows, notes))
        log(f"markdown table: {markdown_path}")
    failures = [entry for entry in records if not entry["ok"]]
    return 1 if failures or not records else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
