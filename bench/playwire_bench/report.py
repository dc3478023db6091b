"""Medians over the runs, the baseline's ratios to the references, the table and its notes."""

from __future__ import annotations

import contextlib
import os
import platform
import statistics
from pathlib import Path

from playwire_bench.servers import LOADGEN_CPU, SERVER_CPU, Context, ServerSpec


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
    """The goal for this figure (bench/README.md, "The goals"), met or not, comparing the
    baseline to node-socketio."""
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
        header.append("parity goal")
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
