"""The ``playwire`` command. ``playwire serve`` runs the server (README, "Configuration").

This module imports only the standard library and the config at load time: ``serve`` must
monkey-patch the standard library with gevent before Flask or Socket.IO are imported.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import resource
import sys
from collections.abc import Sequence
from typing import Optional

from playwire import __version__
from playwire.config import ConfigError, env_name, load_config, settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="playwire", description="Playwire real-time server.")
    parser.add_argument("--version", action="version", version=f"playwire {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the server")
    for name, default, help_text in settings():
        shown = ",".join(default) if isinstance(default, list) else default
        serve.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            default=None,
            metavar=name.upper(),
            help=f"{help_text} [env {env_name(name)}; default: {shown!r}]",
        )
    return parser


def serve(flags: dict) -> int:
    """Run the server until interrupted."""
    from gevent import monkey

    monkey.patch_all()
    _raise_open_file_limit()

    try:
        config = load_config(flags)
    except ConfigError as exc:
        print(f"playwire: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=config.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # gevent-websocket logs every HTTP request at INFO; that is debug detail for us.
    logging.getLogger("geventwebsocket.handler").setLevel(
        logging.DEBUG if config.log_level.lower() == "debug" else logging.WARNING
    )
    from playwire.app import create_app
    from playwire.http_server import serve as serve_http

    app = create_app(config)
    mode = f"cluster node ({config.message_queue})" if config.message_queue else "single node"
    print(
        f"Playwire {__version__} on http://{config.host}:{config.port} ({mode}, "
        f"database {config.database_url.split('@')[-1]})",
        flush=True,
    )
    with contextlib.suppress(KeyboardInterrupt):
        serve_http(app, config.host, config.port)
    return 0


def _raise_open_file_limit() -> None:
    """Every connection is a file descriptor: allow as many as the system lets us."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    flags = {key: value for key, value in vars(args).items() if key != "command"}
    if args.command == "serve":
        return serve(flags)
    return 2
