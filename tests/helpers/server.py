"""A real Playwire process for a test, and accounts on it.

The process itself is ``playwire.devserver.ServerProcess``, the one ``make cluster`` and
``make bench`` start too; here it runs from the repository root and remembers who registered.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from typing import Optional

import requests

from playwire import devserver
from playwire.devserver import free_port

__all__ = [
    "PASSWORD",
    "REPO_ROOT",
    "ServerProcess",
    "free_port",
    "playwire_children",
    "register_account",
    "run_playwire",
    "unique_name",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct-horse"
# The suite registers hundreds of accounts from one address; a test of the registration
# limit passes --register-limit itself (a later flag wins).
UNLIMITED_REGISTRATIONS = ["--register-limit", "off"]


def unique_name(prefix: str = "u") -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


def register_account(url: str, username: Optional[str] = None) -> dict:
    """A new account on the server at ``url``: ``{"id", "username", "token"}``."""
    response = requests.post(
        url + "/api/register",
        json={"username": username or unique_name(), "password": PASSWORD},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return response.json()


def run_playwire(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run ``python -m playwire ARGS`` (this checkout's) to its end; its output as text."""
    return subprocess.run(
        [sys.executable, "-m", "playwire", *args],
        cwd=REPO_ROOT,
        env=devserver.src_first(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class ServerProcess(devserver.ServerProcess):
    """``python -m playwire serve`` on a free port with its own instance dir, run from the
    repository root with this checkout's ``src`` first on its path."""

    def __init__(self, instance_dir: Path, *flags: str, port: Optional[int] = None) -> None:
        super().__init__(instance_dir, *UNLIMITED_REGISTRATIONS, *flags, port=port, cwd=REPO_ROOT)
        # Ids registered by the current test (conftest clears it between tests): on a server
        # ``shared`` by many tests, presence events about anyone else come from other tests.
        self.accounts: set[int] = set()
        self.shared = False

    def register(self, username: Optional[str] = None) -> dict:
        """A new account: ``{"id", "username", "token"}``."""
        account = register_account(self.url, username)
        self.accounts.add(account["id"])
        return account


def playwire_children(parent: int) -> list[int]:
    """The live child processes of ``parent`` that run Playwire (for the leftover check)."""
    return [pid for pid in _children(parent) if b"playwire" in _cmdline(pid)]


def _children(parent: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent and fields[0] != "Z":
            children.append(int(stat.parent.name))
    return children


def _cmdline(pid: int) -> bytes:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes()
    except OSError:
        return b""
