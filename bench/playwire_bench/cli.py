"""Runner of ``make bench``: Playwire against its reference servers (bench/README.md).

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
import json
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from playwire_bench import BENCH_DIR, REPO_ROOT, log
from playwire_bench.plan import execute, plan
from playwire_bench.report import (
    load_average,
    medians,
    notes_for,
    render_markdown,
    render_text,
    table_rows,
)
from playwire_bench.scenarios import SCENARIOS
from playwire_bench.servers import SERVERS, Context, ProcessRegistry, ServerSpec


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
    uses_python = any(
        spec.name in ("playwire", "playwire-no-recovery", "flask-socketio") for spec in servers
    )
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
