"""Draws the presence-at-scale chart of docs/benchmarks.md from two results files of
``bench/run.py``: connect time and server CPU per connect against the number of distinct
users, before (no presence limit) and after (with it).

    .venv/bin/python bench/chart.py --before RESULTS.json --after RESULTS.json \\
        [--output docs/benchmarks-presence.png]

Each point is the median of that file's runs of ``connect-N``. Needs matplotlib (the
``bench`` extra, installed by ``make bench``).
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


def draw(before: dict, after: dict, output: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display: render to a file
    from matplotlib import pyplot

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
    figure.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=100)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True)
    parser.add_argument("--after", type=Path, required=True)
    parser.add_argument(
        "--output", type=Path, default=REPO_ROOT / "docs" / "benchmarks-presence.png"
    )
    args = parser.parse_args()
    draw(connect_points(args.before), connect_points(args.after), args.output)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
