"""The "slow readers" scenario: Playwire's memory while sessions never read.

100 raw WebSocket sessions join ``/chat`` and then never read a byte, while 10 honest
sessions chat 1 KB messages at a fixed rate and read everything. Prints the server's RSS
every second, when the slow sessions were dropped (``--max-outbox``), and whether the
honest sessions received every message. Run it twice to see what the cap buys:

    .venv/bin/python bench/slow_readers.py                       # the default cap, 1 MiB
    .venv/bin/python bench/slow_readers.py --max-outbox 1073741824  # effectively no cap

Needs the dev dependencies (python-socketio's client, websocket-client); ``make bench`` runs
it after ``bench/run.py``'s scenarios, with the default cap and without one.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import socketio
import websocket

from playwire.devserver import ServerProcess

PASSWORD = "bench-password-0"


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def slow_session(port: int, token: str) -> websocket.WebSocket:
    url = f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket"
    ws = websocket.create_connection(
        url, sockopt=[(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)], timeout=30
    )
    ws.recv()  # OPEN
    ws.send(f"40/chat,{json.dumps({'token': token})}")
    while not ws.recv().startswith("40/chat,"):
        pass
    return ws  # and never read again


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-outbox", type=int, default=1_048_576)
    parser.add_argument("--slow", type=int, default=100)
    parser.add_argument("--honest", type=int, default=5)
    parser.add_argument("--rate", type=float, default=200.0, help="chat messages/s in total")
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as instance:
        server = ServerProcess(Path(instance), *server_flags(args.max_outbox)).start()
        try:
            return run(args, server.port, server.process, server.log_path)
        finally:
            server.stop()


def server_flags(max_outbox: int) -> list[str]:
    """The cap under test; the rate limits out of the way of 1 KB messages at a fixed rate."""
    flags = ["--max-outbox", str(max_outbox), "--register-limit", "off"]
    return [*flags, "--rate-limit", "100000", "--rate-burst", "100000"]


def run(args, port: int, server: subprocess.Popen, log: Path) -> int:
    url = f"http://127.0.0.1:{port}"
    slow = post(url + "/api/register", {"username": "slow_reader", "password": PASSWORD})
    honest = post(url + "/api/register", {"username": "honest", "password": PASSWORD})
    received = [0] * args.honest
    clients = []
    for n in range(args.honest):
        client = socketio.Client(reconnection=False)
        client.on("message", lambda _data, n=n: received.__setitem__(n, received[n] + 1), "/chat")
        client.connect(url, namespaces=["/chat"], transports=["websocket"], auth=honest)
        clients.append(client)
    baseline = rss_mib(server.pid)
    slow_sockets = [slow_session(port, slow["token"]) for _ in range(args.slow)]
    print(
        f"RSS idle {baseline:.1f} MiB; {args.slow} slow sessions joined: "
        f"{rss_mib(server.pid):.1f} MiB",
        flush=True,
    )
    sent, started = 0, time.monotonic()
    message = {"message": "m" * 1000}
    next_report = 1.0
    while (elapsed := time.monotonic() - started) < args.seconds:
        due = int(elapsed * args.rate)
        while sent < due:
            try:
                clients[sent % args.honest].emit("message", message, namespace="/chat")
            except socketio.exceptions.SocketIOError:
                print("an honest session was disconnected: it did not keep up", flush=True)
                return 1
            sent += 1
        if elapsed >= next_report:
            dropped = log.read_text().count("over --max-outbox")
            print(
                f"t={elapsed:5.1f}s RSS {rss_mib(server.pid):7.1f} MiB  sent {sent:6d}  "
                f"slow sessions dropped {dropped:3d}",
                flush=True,
            )
            next_report += 1.0
        time.sleep(0.002)
    deadline = time.monotonic() + 30
    while min(received) < sent and time.monotonic() < deadline:
        time.sleep(0.05)
    print(
        f"honest sessions received {min(received)}..{max(received)} of {sent} messages; "
        f"final RSS {rss_mib(server.pid):.1f} MiB",
        flush=True,
    )
    for ws in slow_sockets:
        ws.close()
    for client in clients:
        threading.Thread(target=client.disconnect, daemon=True).start()
    return 0 if min(received) == sent else 1


if __name__ == "__main__":
    sys.exit(main())
