"""The runner of ``make bench`` (``bench/run.py``), one module per part:

- ``servers``: the servers under test, and starting and stopping them;
- ``accounts``: the users each server's clients connect as;
- ``scenarios``: what ``loadgen.js`` runs, and the figures each result gives;
- ``plan``: which server runs which scenarios in which order, and running them;
- ``report``: medians, ratios, the table and its notes;
- ``cli``: the command line, and writing the results.

Stdlib only (and ``playwire.devserver``, stdlib only too) and Python 3.9-compatible.
"""

from __future__ import annotations

import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = BENCH_DIR.parent
HOST = "127.0.0.1"


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)
