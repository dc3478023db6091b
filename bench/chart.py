"""Draws the charts of docs/benchmarks.md from results files of ``bench/run.py``.

- ``presence``: connect time and server CPU per connect against the number of distinct
  users, before (no presence limit) and after (with it); each point the median of that
  file's runs of ``connect-N``.
- ``cluster``: a node's forward throughput alone and as one node of a two-node cluster, one
  line per server, and the CPU of the node holding none of the users; medians of the
  ``cluster`` scenario's runs. ``make bench`` draws it from the run it just made.

    .venv/bin/python bench/chart.py presence --before RESULTS.json --after RESULTS.json \\
        [--output docs/benchmarks-presence.png]
    .venv/bin/python bench/chart.py cluster [RESULTS.json] [--output docs/benchmarks-cluster.png]

Needs matplotlib (the ``bench`` extra, installed by ``make bench``).
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
PANELS = (
    ("connect_s", "connect time (s), 50 in flight"),
    ("server_cpu_ms_per_connect", "server CPU per connect (ms)"),
)


def connect_points(path: Path) -> dict[int, dict[str, float]]:
    """users → {figure: median over the runs} for every ``connect-N`` record that succeeded."""
    values: dict[int, dict[str, list[float]]] = {}
    for record in json.loads(path.read_text())["records"]:
        result = record["result"]
        if not (record["scenario"].startswith("connect-") and record["ok"]):
            continue
        per_users = values.setdefault(result["users"], {})
        for key, _ in PANELS:
            if result.get(key) is not None:
                per_users.setdefault(key, []).append(result[key])
    return {
        users: {key: statistics.median(series) for key, series in figures.items()}
        for users, figures in sorted(values.items())
    }


def cluster_medians(path: Path) -> dict[str, dict[str, float]]:
    """server → {figure: median over the runs} of the ``cluster`` records that succeeded."""
    keys = ("pairs", "single_msgs_per_s", "cluster_msgs_per_s", "foreign_cpu_percent")
    values: dict[str, dict[str, list[float]]] = {}
    for record in json.loads(path.read_text())["records"]:
        if record["scenario"] != "cluster" or not record["ok"]:
            continue
        per_server = values.setdefault(record["server"], {})
        for key in keys:
            if record["result"].get(key) is not None:
                per_server.setdefault(key, []).append(record["result"][key])
    return {
        server: {key: statistics.median(series) for key, series in figures.items()}
        for server, figures in values.items()
    }


def pyplot_to_file():
    import matplotlib

    matplotlib.use("Agg")  # no display: render to a file
    from matplotlib import pyplot

    return pyplot


def draw_cluster(medians: dict[str, dict[str, float]], output: Path) -> None:
    pyplot = pyplot_to_file()
    figure, (rates, foreign) = pyplot.subplots(1, 2, figsize=(10, 4))
    servers = sorted(medians)
    for server in servers:
        figures = medians[server]
        points = [figures.get("single_msgs_per_s"), figures.get("cluster_msgs_per_s")]
        rates.plot(["single node", "cluster node"], points, "o-", label=server)
    pairs = {int(figures["pairs"]) for figures in medians.values() if "pairs" in figures}
    rates.set_title(f"forward throughput of a node, {'/'.join(map(str, pairs))} pairs (msgs/s)")
    rates.set_ylim(bottom=0)
    rates.grid(alpha=0.3)
    rates.legend()
    cpu = [medians[server].get("foreign_cpu_percent") or 0.0 for server in servers]
    foreign.bar(servers, cpu, color=[f"C{n}" for n in range(len(servers))])
    foreign.axhline(5, color="grey", linestyle="--", label="goal: at most 5 %")
    foreign.set_title("CPU of the node holding none of the users\n(% of the serving node's)")
    foreign.set_ylim(bottom=0)
    foreign.grid(alpha=0.3, axis="y")
    foreign.legend()
    save(figure, output)


def save(figure, output: Path) -> None:
    figure.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=100)


def draw(before: dict, after: dict, output: Path) -> None:
    pyplot = pyplot_to_file()
    figure, axes = pyplot.subplots(1, len(PANELS), figsize=(10, 4))
    for axis, (key, label) in zip(axes, PANELS):
        for name, points, style in (
            ("before (no presence limit)", before, "o--"),
            ("after (--presence-limit 1000)", after, "s-"),
        ):
            users = [n for n, figures in points.items() if key in figures]
            axis.plot(users, [points[n][key] for n in users], style, label=name)
        axis.set_xlabel("distinct users connecting to /chat")
        axis.set_title(label)
        axis.set_ylim(bottom=0)
        axis.grid(alpha=0.3)
    axes[0].legend()
    save(figure, output)


def newest_results() -> Path:
    """The results file ``bench/run.py`` wrote last (not a smoke run's)."""
    runs = [p for p in (REPO_ROOT / "bench" / "results").glob("*.json") if "smoke" not in p.name]
    if not runs:
        raise SystemExit("no results in bench/results: run bench/run.py first")
    return max(runs, key=lambda p: p.stat().st_mtime)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    charts = parser.add_subparsers(dest="chart", required=True)
    presence = charts.add_parser("presence", help="connect time and CPU, before and after")
    presence.add_argument("--before", type=Path, required=True)
    presence.add_argument("--after", type=Path, required=True)
    presence.add_argument(
        "--output", type=Path, default=REPO_ROOT / "docs" / "benchmarks-presence.png"
    )
    cluster = charts.add_parser("cluster", help="a node's throughput alone and in a cluster")
    cluster.add_argument("results", type=Path, nargs="?", help="default: the newest run")
    cluster.add_argument(
        "--output", type=Path, default=REPO_ROOT / "docs" / "benchmarks-cluster.png"
    )
    args = parser.parse_args()
    if args.chart == "presence":
        draw(connect_points(args.before), connect_points(args.after), args.output)
    else:
        medians = cluster_medians(args.results or newest_results())
        if not medians:
            print("no cluster scenario in these results: no chart drawn")
            return 0
        draw_cluster(medians, args.output)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
