"""Which server runs which scenarios, in which order; and running the plan."""

from __future__ import annotations

from dataclasses import dataclass

from playwire_bench import log
from playwire_bench.report import format_value
from playwire_bench.scenarios import Scenario, run_loadgen
from playwire_bench.servers import (
    Context,
    ProcessRegistry,
    RunningServer,
    ServerSpec,
    running_server,
)


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
        standalone = [s for s in step.scenarios if s.standalone is not None]
        for scenario in standalone:
            records.append(run_standalone(scenario, step.server, ctx, registry, step.run))
        step_scenarios = tuple(s for s in step.scenarios if s.standalone is None)
        if not step_scenarios:
            continue
        try:
            with running_server(step.server, ctx, registry) as server:
                for scenario in step_scenarios:
                    records.append(run_one(scenario, server, ctx, registry, step.run))
        except RuntimeError as error:
            log(f"  {step.server.name} failed: {error}")
            for scenario in step_scenarios:
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


def run_standalone(
    scenario: Scenario, spec: ServerSpec, ctx: Context, registry: ProcessRegistry, run: int
) -> dict:
    """A scenario that starts its own servers (the cluster scenario)."""
    try:
        result = scenario.standalone(scenario, spec, ctx, registry)
    except RuntimeError as error:
        result = {"ok": False, "error": str(error)}
    entry = record(run, scenario, spec, result)
    if not result.get("ok"):
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
