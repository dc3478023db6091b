"""``make cluster`` and ``make cluster-restart`` (README, "Try it locally"; docs/cluster.md,
"Rolling restart"): ``deploy/cluster.py`` runs as a process, as ``make cluster`` runs it, on
free ports and with a Redis of its own; SIGHUP to it (what ``make cluster-restart`` sends,
to the pid in its state folder) restarts every node while an official client plays on.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers.cluster import REPO_ROOT
from helpers.components import require_binary
from helpers.node import NodeClient, connected
from helpers.server import free_port, register_account

pytestmark = pytest.mark.cluster

NODES = 2
#: Seconds for the runner to start Redis, its nodes and nginx, or to restart every node.
RUNNER_TIMEOUT = 120.0


class ClusterRunner:
    """``deploy/cluster.py`` as a process; what it prints is queued line by line."""

    def __init__(self, state: Path, database: str) -> None:
        require_binary("redis-server")
        require_binary("nginx")
        self.state = state
        self.port = free_port()
        # Each node's port free on its own: the ports after a free one may be another
        # test's (once seen: a node of this cluster could not bind its port).
        node_ports = ",".join(str(free_port()) for _ in range(NODES))
        command = [
            *(sys.executable, str(REPO_ROOT / "deploy" / "cluster.py")),
            *("--port", str(self.port), "--node-ports", node_ports),
            *("--redis", f"redis://127.0.0.1:{free_port()}/0"),  # none there: it starts one
            *("--database", database, "--state", str(state)),
        ]
        self.process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT / "src")},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, text: str) -> list[str]:
        """The lines printed until one containing ``text``, that one included."""
        seen = []
        while True:
            try:
                line = self.lines.get(timeout=RUNNER_TIMEOUT)
            except queue.Empty:
                raise AssertionError(f"no {text!r} from deploy/cluster.py: {seen}") from None
            seen.append(line)
            if text in line:
                return seen

    def restart_nodes(self) -> None:
        """What ``make cluster-restart`` does: SIGHUP to the pid in the state folder."""
        pid = int((self.state / "cluster.pid").read_text())
        assert pid == self.process.pid
        os.kill(pid, signal.SIGHUP)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGINT)  # Ctrl-C: it stops its nodes, nginx, Redis
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def lines_until_event(client: NodeClient, event: str) -> list[dict]:
    """What the client printed until its next ``event``, that one included."""
    before, line = client.until("event")
    lines = [*before, line]
    while line["event"] != event:
        before, line = client.until("event")
        lines += [*before, line]
    return lines


@pytest.fixture
def runner(tmp_path, cluster_database) -> Iterator[ClusterRunner]:
    running = ClusterRunner(tmp_path / "cluster", cluster_database)
    try:
        yield running
    finally:
        running.stop()


# Longer than RUNNER_TIMEOUT, so that a runner stuck in a step says which (its lines so far)
# instead of being cut off by the suite's timeout: 20-50 s usually, once over 120 s in CI.
@pytest.mark.timeout(3 * RUNNER_TIMEOUT)
@pytest.mark.parametrize("transport", ["websocket", "polling"])
def test_make_cluster_restart_goes_unnoticed(runner, transport):
    runner.wait_for("Playwire cluster:")
    alice, bob = register_account(runner.url), register_account(runner.url)
    alice_client = NodeClient(runner.url, "/forward", {"token": alice["token"]}, transport)
    bob_client = None
    try:
        alice_first = connected(alice_client)
        bob_client = NodeClient(runner.url, "/forward", {"token": bob["token"]}, transport)
        bob_first = connected(bob_client)
        assert alice_client.expect_event("user_joined")["id"] == bob["id"]
        assert alice_client.call("forward", {"target": bob["id"], "n": 0}) == {"ok": True}
        assert bob_client.expect_event("forwarded")["n"] == 0

        runner.restart_nodes()
        restarted = runner.wait_for("rolling restart done")
        assert sum("restarting node" in line for line in restarted) == NODES
        # (Bob may be held still, his client waiting out its reconnection delay.)
        assert alice_client.call("forward", {"target": bob["id"], "n": 1})["ok"] is True
        bob_lines = lines_until_event(bob_client, "forwarded")
        assert bob_lines[-1]["data"]["n"] == 1
        alice_lines = alice_client.drain()  # before the ack (call() leaves them)

        # Each player came back (once per node it was on) on a node started after its own
        # stopped: recovered, the same session, nobody told of a leave or a join.
        for lines, first in ((alice_lines, alice_first), (bob_lines, bob_first)):
            connects = [line for line in lines if line["type"] == "connect"]
            assert connects, lines
            assert all(line == {**first, "recovered": True} for line in connects), connects
            news = {line["event"] for line in lines if line["type"] == "event"}
            assert not {"user_left", "user_joined"} & news, lines
    finally:
        alice_client.close()
        if bob_client is not None:
            bob_client.close()
