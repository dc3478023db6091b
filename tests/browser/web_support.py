"""Running a Playwire server and Debian's Chromium for the browser tests and the screenshot.

Shared by ``tests/browser/conftest.py`` and ``scripts/screenshot.py``. The browser is
always Debian's (``/usr/bin/chromium``, or ``$PLAYWIRE_CHROMIUM``); Playwright never
downloads one.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Optional

REPO_ROOT = Path(__file__).resolve().parents[2]
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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ServerProcess:
    """``python -m playwire serve`` in a subprocess, on a fixed port and instance folder,
    so that it can be stopped and started again as "the same server"."""

    def __init__(self, instance_dir: Path, port: Optional[int] = None) -> None:
        self.instance_dir = Path(instance_dir)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.instance_dir / "server.log"
        self.process: Optional[subprocess.Popen] = None

    def start(self, timeout: float = 30.0) -> None:
        self.instance_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        # This checkout's package first, whatever is installed in the environment.
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [str(REPO_ROOT / "src"), env.get("PYTHONPATH")])
        )
        command = [
            sys.executable,
            "-m",
            "playwire",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--instance-dir",
            str(self.instance_dir),
        ]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        self._wait_until_healthy(timeout)

    def _wait_until_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.05)  # polling a readiness probe, not synchronising a test
        self.stop()
        raise RuntimeError(f"server not healthy after {timeout} s:\n{self.log()}")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""
