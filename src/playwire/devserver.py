"""Servers as child processes: start one, wait until it answers, stop it.

The one runner behind everything that starts servers on this machine: the tests
(``tests/helpers/server.py``), ``make cluster`` (``deploy/cluster.py``) and ``make bench``
(``bench/``). Standard library only, and it imports nothing of Playwire's server (no Flask, no
gevent), so that any interpreter can run it, including one other than the server's.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Callable, Optional

HOST = "127.0.0.1"
# The directory holding this playwire package: put first on a server's PYTHONPATH, the server
# runs the same Playwire as its starter, whatever else the environment has installed.
SRC_DIR = Path(__file__).resolve().parents[1]
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
POLL_INTERVAL_S = 0.05
# Readiness checks go to 127.0.0.1: never through a proxy from the environment.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


#: Every port :func:`free_port` returned in this process.
_HANDED_OUT: set[int] = set()


def free_port(host: str = HOST) -> int:
    """A port nothing listens on right now (the kernel's pick), never the same one twice in
    this process: ports picked before anything binds them (a Redis set-up's, nginx's, the
    nodes') stay distinct. Without it, the likely cause of a test's request to nginx being
    closed unanswered, as Redis closes an HTTP request: nginx's port was also a sentinel's."""
    while True:
        with socket.socket() as probe:
            probe.bind((host, 0))
            port = probe.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


def port_open(port: int, host: str = HOST) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def answers_200(url: str, timeout: float = 1.0) -> bool:
    """Whether ``GET url`` answers 200 (any failure is a no: the server may be starting)."""
    try:
        with _DIRECT.open(url, timeout=timeout) as response:
            return response.status == 200
    except OSError:
        return False


def serve_command(
    port: int, instance_dir: Path, *flags: str, python: str = sys.executable, host: str = ""
) -> list[str]:
    """``python -m playwire serve`` on ``port`` with its own instance folder."""
    command = [python, "-m", "playwire", "serve", *(("--host", host) if host else ())]
    return [*command, "--port", str(port), "--instance-dir", str(instance_dir), *flags]


def src_first(src: Path = SRC_DIR, environ: Optional[dict] = None) -> dict[str, str]:
    """``environ`` (default ``os.environ``) with ``src`` first on PYTHONPATH and unbuffered
    output, so that a server's log is complete when it dies."""
    environ = dict(os.environ if environ is None else environ)
    path = os.pathsep.join(filter(None, [str(src), environ.get("PYTHONPATH")]))
    return {**environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": path}


def start(
    command: list[str],
    log_path: Path,
    *,
    append: bool = True,
    env: Optional[dict] = None,
    cwd: Optional[Path] = None,
    new_session: bool = False,
) -> subprocess.Popen:
    """``command`` with its output (both streams) in ``log_path``, reading nothing.

    ``new_session``: the child leads a process group of its own, so that ``stop(group=True)``
    also stops whatever it spawned (a ``taskset`` wrapper, a Node server's workers).
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab" if append else "wb") as log:
        return subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=None if cwd is None else str(cwd),
            start_new_session=new_session,
        )


def wait_until_ready(
    process: subprocess.Popen,
    ready: Callable[[], bool],
    log_path: Path,
    what: str,
    timeout: float = READY_TIMEOUT_S,
) -> None:
    """Poll ``ready()`` until it is true; raise RuntimeError (with the log's end) if the
    process exits first or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}:\n{tail(log_path)}")
        if ready():
            return
        time.sleep(POLL_INTERVAL_S)  # polling a process that is starting up
    raise RuntimeError(f"{what} not ready after {timeout:g} s:\n{tail(log_path)}")


def wait_for_healthz(
    process: subprocess.Popen,
    url: str,
    log_path: Path,
    timeout: float = READY_TIMEOUT_S,
    path: str = "/healthz",
) -> None:
    """Return once ``url + path`` answers 200 (see :func:`wait_until_ready`)."""
    wait_until_ready(process, lambda: answers_200(url + path), log_path, url, timeout)


def stop(
    process: Optional[subprocess.Popen], timeout: float = STOP_TIMEOUT_S, *, group: bool = False
) -> None:
    """SIGTERM, and SIGKILL if the process has not ended within ``timeout``; ``group``: signal
    its whole process group (a child started with ``new_session``)."""
    if process is None or process.poll() is not None:
        return
    _signal(process, signal.SIGTERM, group)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        _signal(process, signal.SIGKILL, group)
        process.wait()


def _signal(process: subprocess.Popen, signum: int, group: bool) -> None:
    with contextlib.suppress(ProcessLookupError):
        if group:
            os.killpg(process.pid, signum)
        else:
            process.send_signal(signum)


def tail(path: Path, chars: int = 4000) -> str:
    """The end of a log, for an error message."""
    with contextlib.suppress(OSError):
        return path.read_text(errors="replace")[-chars:]
    return ""


class ServerProcess:
    """``python -m playwire serve`` on a free port (or ``port``) with its own instance folder
    and a log, ``server.log``, in it; :meth:`start` returns once ``/readyz`` answers."""

    def __init__(
        self,
        instance_dir: Path,
        *flags: str,
        port: Optional[int] = None,
        python: str = sys.executable,
        src: Path = SRC_DIR,
        cwd: Optional[Path] = None,
    ) -> None:
        self.instance_dir = Path(instance_dir)
        self.flags = list(flags)
        self.port = port or free_port()
        self.python = python
        self.src = src
        self.cwd = cwd
        self.log_path = self.instance_dir / "server.log"
        self.process: Optional[subprocess.Popen] = None

    @property
    def host(self) -> str:
        """``--host`` if among the flags (any of 127/8 is this machine), else 127.0.0.1."""
        if "--host" in self.flags:
            return self.flags[self.flags.index("--host") + 1]
        return HOST

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = READY_TIMEOUT_S) -> ServerProcess:
        """Start the process and wait until it answers ``/readyz`` (``timeout`` seconds)."""
        self.instance_dir.mkdir(parents=True, exist_ok=True)
        command = serve_command(self.port, self.instance_dir, *self.flags, python=self.python)
        self.process = start(command, self.log_path, env=src_first(self.src), cwd=self.cwd)
        try:
            # /readyz: a cluster node is subscribed to the message queue by then.
            wait_for_healthz(self.process, self.url, self.log_path, timeout, "/readyz")
        except RuntimeError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        stop(self.process)
        self.process = None

    def kill(self) -> None:
        """SIGKILL: the server gets no chance to say goodbye (a crash, as far as peers see)."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
        self.process = None

    def restart(self) -> ServerProcess:
        self.stop()
        return self.start()

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""
