"""The ``playwire`` command: ``serve`` runs the server, ``db upgrade`` migrates the database,
``token`` prints a login token (README, "Configuration" and "Operating Playwire").

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
from typing import TYPE_CHECKING, Optional

from playwire import __version__
from playwire.config import (
    SECRET_KEY_FILE,
    Config,
    ConfigError,
    env_name,
    load_config,
    settings,
    with_secret_key,
)

if TYPE_CHECKING:
    from playwire.identity import Member

# The settings each command reads (all of them for serve); the rest of the config layering
# (config.json, PLAYWIRE_*) applies to every command.
DB_SETTINGS = ("instance_dir", "database", "log_level")
TOKEN_SETTINGS = ("instance_dir", "database", "secret_key", "token_ttl")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="playwire", description="Playwire real-time server.")
    parser.add_argument("--version", action="version", version=f"playwire {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="run the server")
    _add_settings(serve_parser, [name for name, _, _ in settings()])
    serve_parser.set_defaults(run=serve)
    db = commands.add_parser("db", help="manage the database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_commands.add_parser(
        "upgrade", help="upgrade the database schema to this version's (serve does it too)"
    )
    _add_settings(upgrade, DB_SETTINGS)
    upgrade.set_defaults(run=db_upgrade)
    _add_token_parser(commands)
    return parser


def _add_token_parser(commands) -> None:
    token_parser = commands.add_parser("token", help="print a login token for an account")
    token_parser.add_argument("--user-id", type=int, required=True, help="the account's id")
    token_parser.add_argument(
        "--username", help="the account's username, checked (default: the account's)"
    )
    token_parser.add_argument(
        "--ttl", type=int, help="seconds the token lives, at most token_ttl (default: token_ttl)"
    )
    _add_settings(token_parser, TOKEN_SETTINGS)
    token_parser.set_defaults(run=token)


def _add_settings(parser: argparse.ArgumentParser, names: Sequence[str]) -> None:
    """A flag for each named setting, documented from the config."""
    for name, default, help_text in settings():
        if name not in names:
            continue
        shown = ",".join(default) if isinstance(default, list) else default
        parser.add_argument(
            "--" + name.replace("_", "-"),
            dest=name,
            default=None,
            metavar=name.upper(),
            help=f"{help_text} [env {env_name(name)}; default: {shown!r}]",
        )


def _load(args: argparse.Namespace) -> Optional[Config]:
    """The config from the command's setting flags and the other layers; None (after saying
    why) if it is invalid."""
    names = {name for name, _, _ in settings()}
    flags = {key: value for key, value in vars(args).items() if key in names}
    try:
        return load_config(flags)
    except ConfigError as exc:
        print(f"playwire: {exc}", file=sys.stderr)
        return None


def _fail(message: str) -> int:
    print(f"playwire: {message}", file=sys.stderr)
    return 1


def _shown(url: str) -> str:
    """A database URL without its credentials."""
    return url.split("@")[-1]


def serve(args: argparse.Namespace) -> int:
    """Run the server until interrupted."""
    from gevent import monkey

    monkey.patch_all()
    _raise_open_file_limit()

    config = _load(args)
    if config is None:
        return 2
    _configure_logging(config)
    from playwire.app import create_app
    from playwire.http_server import serve as serve_http
    from playwire.migrations import SchemaError

    try:
        app = create_app(config)
    except SchemaError as exc:
        return _fail(str(exc))
    mode = f"cluster node ({config.message_queue})" if config.message_queue else "single node"
    print(
        f"Playwire {__version__} on http://{config.host}:{config.port} ({mode}, "
        f"database {_shown(config.database_url)})",
        flush=True,
    )
    with contextlib.suppress(KeyboardInterrupt):
        serve_http(app, config.host, config.port, app.extensions.get("playwire_shutdown"))
    return 0


def _configure_logging(config: Config) -> None:
    logging.basicConfig(
        level=config.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # gevent-websocket logs every HTTP request at INFO, Alembic each context it opens; that is
    # debug detail for us (playwire.migrations logs what changed).
    detail = logging.DEBUG if config.log_level.lower() == "debug" else logging.WARNING
    for name in ("geventwebsocket.handler", "alembic.runtime.migration"):
        logging.getLogger(name).setLevel(detail)


def _raise_open_file_limit() -> None:
    """Every connection is a file descriptor: allow as many as the system lets us."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def db_upgrade(args: argparse.Namespace) -> int:
    """Upgrade the configured database's schema to the newest revision, and say what it did."""
    config = _load(args)
    if config is None:
        return 2
    _configure_logging(config)
    from playwire.database import Database
    from playwire.migrations import SchemaError, upgrade

    config.instance_path.mkdir(parents=True, exist_ok=True)  # the default SQLite file's home
    db = Database().connect(config.database_url)
    try:
        before, after = upgrade(db.engine)
    except SchemaError as exc:
        return _fail(str(exc))
    finally:
        db.close()
    change = (
        f"already at revision {after}" if before == after else f"{before or 'empty'} -> {after}"
    )
    print(f"database {_shown(config.database_url)}: {change}")
    return 0


def token(args: argparse.Namespace) -> int:
    """Print a token for an existing account, signed as the server signs them."""
    config = _load(args)
    if config is None:
        return 2
    if args.ttl is not None and not 0 < args.ttl <= config.token_ttl:
        return _fail(f"--ttl must be 1 to {config.token_ttl} (token_ttl: servers refuse older)")
    if not config.secret_key and not (config.instance_path / SECRET_KEY_FILE).exists():
        return _fail(
            f"no secret key in {config.instance_path}: give the server's --instance-dir "
            "or --secret-key, or a token would be refused"
        )
    try:
        member = _account(config.database_url, args.user_id)
    except LookupError as exc:
        return _fail(str(exc))
    if args.username is not None and args.username != member.username:
        return _fail(f"account {member.id} is {member.username!r}, not {args.username!r}")
    from playwire.tokens import TokenSigner

    signer = TokenSigner(with_secret_key(config).secret_key, config.token_ttl)
    print(signer.issue(member, args.ttl))
    return 0


def _account(url: str, user_id: int) -> Member:
    """The member with this account id; LookupError saying why there is none."""
    from playwire.database import Database
    from playwire.errors import ServiceUnavailable
    from playwire.users import UserService

    db = Database().connect(url)
    try:
        member = UserService(db).find(user_id)
    except ServiceUnavailable as exc:
        raise LookupError(f"cannot read accounts from {_shown(url)}: {exc.__cause__}") from exc
    finally:
        db.close()
    if member is None:
        raise LookupError(f"no account has id {user_id} in {_shown(url)}")
    return member


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Parse the command line and run the command it names."""
    args = build_parser().parse_args(argv)
    return args.run(args)
