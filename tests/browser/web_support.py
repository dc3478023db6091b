"""Running a Playwire server and Debian's Chromium for the browser tests and the screenshot.

Shared by ``tests/browser/conftest.py`` and ``scripts/screenshot.py``; the server process
is the one of ``tests/support.py``. The browser is
always Debian's (``/usr/bin/chromium``, or ``$PLAYWIRE_CHROMIUM``); Playwright never
downloads one.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "tests"))  # for scripts/screenshot.py; pytest has it

from support import ServerProcess  # noqa: E402,F401  (re-exported for the browser tests)

CHROMIUM = os.environ.get("PLAYWIRE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def launch_chromium(playwright):
    """Headless Debian Chromium driven by Playwright."""
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} not found: install Debian's chromium (make setup)")
    return playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
