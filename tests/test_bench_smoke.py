"""The benchmark harness keeps working: a few seconds of every scenario, no thresholds."""

from __future__ import annotations

import subprocess
import sys

from helpers.server import REPO_ROOT


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
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert list(tmp_path.glob("*.json")), "no results written"
