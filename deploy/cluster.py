"""A local Playwire cluster: Redis, N nodes and nginx in front of them (``make cluster``).

Uses the Redis on ``--redis`` when one answers there, else starts one; starts the nodes with a
shared message queue, database and secret key; runs nginx unprivileged from a prefix of its
own with ``deploy/nginx.conf``; prints the URL and stops everything on Ctrl-C.
The cluster tests start Redis and nginx with the same functions; the nodes, here and there,
are ``playwire.devserver``'s server processes.

Rolling restart (``make cluster-restart``, or SIGHUP to this process, whose pid is in
``STATE/cluster.pid``): the nodes are restarted one after another, each stopped with
SIGTERM, which hands its sessions over to the others (docs/cluster.md, "Rolling restart"),
and the next one only once it answers again: players keep their sessions and lose nothing.
"""

from __future__ import annotations

import argparse
import getpass
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Optional
from urllib.parse import urlparse

from playwire.devserver import ServerProcess, port_open, start, stop, wait_until_ready

NGINX_CONF = Path(__file__).resolve().parent / "nginx.conf"


def nginx_binary() -> str:
    """nginx from PATH, else Debian's /usr/sbin/nginx (not on a normal user's PATH)."""
    return shutil.which("nginx") or "/usr/sbin/nginx"


def nginx_site(listen_port: int, node_ports: list[int], host: str = "127.0.0.1") -> str:
    """deploy/nginx.conf with its node list and listen port replaced."""
    site = NGINX_CONF.read_text()
    servers = "".join(f"    server {host}:{port};\n" for port in node_ports)
    site, found = re.subn(r"(    server \S+;\n)+", servers, site, count=1)
    site, listens = re.subn(r"listen \S+;", f"listen {host}:{listen_port};", site, count=1)
    if not (found and listens):
        raise ValueError(f"{NGINX_CONF} has no upstream servers or listen line to replace")
    return site


def nginx_main_config(prefix: Path, listen_port: int, node_ports: list[int]) -> str:
    """A whole nginx.conf that runs in the foreground from ``prefix``, for any user."""
    # `user` only matters when started as root: then the workers stay the current user, so
    # they can use the prefix; for anyone else nginx ignores it.
    return f"""daemon off;
worker_processes 1;
user {getpass.getuser()};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
{nginx_site(listen_port, node_ports)}
}}
"""


def start_nginx(prefix: Path, listen_port: int, node_ports: list[int]) -> subprocess.Popen:
    """nginx in front of the nodes, listening on ``listen_port``; returns once it listens."""
    (prefix / "tmp").mkdir(parents=True, exist_ok=True)
    config = prefix / "nginx.conf"
    config.write_text(nginx_main_config(prefix, listen_port, node_ports))
    error_log = prefix / "error.log"
    command = [nginx_binary(), "-p", str(prefix), "-c", str(config), "-e", str(error_log)]
    process = start(command, prefix / "nginx.out")
    _wait_for_port(process, listen_port, error_log)
    return process


def start_redis(
    port: int, workdir: Path, *options: str, config: Optional[Path] = None
) -> subprocess.Popen:
    """A redis-server on ``port`` that keeps nothing on disk; returns once it answers.

    ``options`` are more ``--name value`` settings (``--replicaof``, ``--cluster-enabled``);
    ``config`` a configuration file read first (a Sentinel's, which it rewrites).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "redis.log"
    command = ["redis-server", *([str(config)] if config else [])]
    command += ["--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    command += ["--appendonly", "no", "--dir", str(workdir), "--logfile", str(log), *options]
    # redis-server writes its log itself; what it prints before that goes to redis.out.
    process = start(command, workdir / "redis.out")
    _wait_for_port(process, port, log)
    return process


def start_node(
    port: int, instance_dir: Path, queue: str, database: str, secret_key: str, *flags: str
) -> ServerProcess:
    """``python -m playwire serve`` as one node; returns once /healthz answers."""
    flags = ("--message-queue", queue, "--database", database, "--secret-key", secret_key, *flags)
    # nginx, on this host, is the proxy whose X-Forwarded-For names the client.
    flags = ("--trusted-proxies", "127.0.0.1", *flags)
    return ServerProcess(instance_dir, *flags, port=port).start()


def rolling_restart(nodes: list[ServerProcess], report: Callable[[str], None] = print) -> None:
    """Restart ``nodes`` one by one: SIGTERM (the node hands its sessions over to the
    others and exits), start again, wait until it answers, then the next one."""
    for n, node in enumerate(nodes):
        report(f"restarting node {n + 1} (port {node.port})")
        node.restart()
    report("rolling restart done")


def _wait_for_port(process: subprocess.Popen, port: int, log: Path) -> None:
    try:
        wait_until_ready(process, lambda: port_open(port), log, f"{process.args[0]} on {port}")
    except RuntimeError:
        stop(process)
        raise


def _secret_key(state: Path) -> str:
    path = state / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--port", type=int, default=8080, help="nginx's port")
    parser.add_argument("--first-node-port", type=int, default=5001)
    parser.add_argument(
        "--node-ports",
        help="the nodes' ports, comma-separated, instead of --nodes from --first-node-port",
    )
    parser.add_argument(
        "--redis",
        default="redis://127.0.0.1:6379/0",
        help="the nodes' --message-queue: redis://, redis+sentinel:// or redis+cluster:// "
        "(docs/cluster.md); only a redis:// one that does not answer is started here",
    )
    parser.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--state", default="instance/cluster", help="folder for logs and state")
    args = parser.parse_args(argv)

    state = Path(args.state).resolve()
    state.mkdir(parents=True, exist_ok=True)
    redis_url = urlparse(args.redis)
    others: list[subprocess.Popen] = []  # Redis (if started here) and nginx
    nodes: list[ServerProcess] = []
    restart_wanted: list[int] = []
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGHUP, lambda *_: restart_wanted.append(1))
    pid_file = state / "cluster.pid"
    pid_file.write_text(f"{os.getpid()}\n")
    try:
        single = redis_url.scheme in ("redis", "rediss")
        if single and not port_open(redis_url.port or 6379, redis_url.hostname or "127.0.0.1"):
            print(f"No Redis at {args.redis}: starting one", flush=True)
            others.append(start_redis(redis_url.port or 6379, state / "redis"))
        ports = [args.first_node_port + n for n in range(args.nodes)]
        if args.node_ports:
            ports = [int(port) for port in args.node_ports.split(",")]
        key = _secret_key(state)
        for n, port in enumerate(ports):
            node_dir = state / f"node-{n + 1}"
            nodes.append(start_node(port, node_dir, args.redis, args.database, key))
            print(f"node {n + 1}: http://127.0.0.1:{port} (log: {node_dir}/server.log)")
        others.append(start_nginx(state / "nginx", args.port, ports))
        print(
            f"\nPlaywire cluster: http://127.0.0.1:{args.port}   (Ctrl-C stops it; "
            "make cluster-restart restarts its nodes one by one)",
            flush=True,
        )
        while all(p.poll() is None for p in others) and all(n.is_running() for n in nodes):
            if restart_wanted:
                restart_wanted.clear()
                rolling_restart(nodes, lambda line: print(line, flush=True))
            time.sleep(0.5)
        print("a process of the cluster exited; stopping the rest", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for node in reversed(nodes):
            node.stop()
        for child in reversed(others):
            stop(child)
        pid_file.unlink(missing_ok=True)
        print("cluster stopped", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
