"""The benchmark harness keeps working: a few seconds of every scenario, no thresholds."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from helpers.server import REPO_ROOT
from playwire.devserver import src_first

SCENARIOS = {
    *{"throughput", "throughput-polling", "latency", "fanout", "memory", "soak"},
    *{"connect-1000", "connect-5000", "connect-10000", "rooms"},  # Playwire's only
    *{"cluster", "cluster-fanout"},  # Playwire and Node socket.io with its Redis adapter
    "cluster-connect",  # Playwire's only
    "soak-drops",  # Playwire with recovery on only
}
SERVERS = {"playwire", "playwire-no-recovery", "node-socketio", "flask-socketio", "ws"}


# Every scenario on every server, the cluster's on two nodes and a Redis: 80-130 s here.
@pytest.mark.timeout(600)
def test_bench_smoke_run(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "bench/run.py",
            "--smoke",
            "--python",
            sys.executable,
            "--results-dir",
            str(tmp_path),
        ],
        cwd=REPO_ROOT,
        env=src_first(),  # the runner imports playwire.devserver: this checkout's
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (results,) = tmp_path.glob("*.json")
    records = json.loads(results.read_text())["records"]
    # Every scenario ran on every server, and the table has a column for each.
    assert {r["scenario"] for r in records} == SCENARIOS
    assert {r["server"] for r in records} == SERVERS
    assert all(r["ok"] and r["figures"] for r in records)
    header = result.stdout.splitlines()[0].split()
    assert set(header) >= SERVERS
    # The soak with drops did drop connections, and saw every dropped session come back.
    (drops,) = [r["result"] for r in records if r["scenario"] == "soak-drops"]
    assert drops["drops"] >= drops["dropping_sessions"] > 0
    assert drops["all_reconnected"]
    assert drops["recoveries"] + drops["failed_recoveries"] == drops["drops"]
