"""``make bench``: ``python bench/run.py --help`` says what it does and how to call it.

The runner itself is the ``playwire_bench`` package beside this file (bench/playwire_bench/),
one module per part; see bench/README.md.
"""

from __future__ import annotations

import sys

from playwire_bench.cli import main

if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
