"""Schema migrations with Alembic: bring a database to the newest revision, safely at start.

Every ``playwire serve`` upgrades its database before it serves, so N nodes started at once
race for it; a lock makes them take turns, and all but the first find nothing to do. The lock
is PostgreSQL's advisory lock, held by the transaction that runs the migrations, or for SQLite
an exclusive ``flock`` on a file beside the database. The scripts live in ``versions/``; a
change to ``playwire.models`` needs a new one there.
"""

from __future__ import annotations

import fcntl
import logging
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Optional

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.util import CommandError
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

FIRST_REVISION = "0001"
# The advisory lock's key: any fixed 64-bit number that every Playwire process agrees on
# (the bytes of "playwire").
POSTGRES_LOCK_KEY = 0x706C617977697265
log = logging.getLogger(__name__)


class SchemaError(Exception):
    """The database's schema cannot be brought to this version's (e.g. a newer one made it)."""


def upgrade(engine: Engine) -> tuple[Optional[str], Optional[str]]:
    """Upgrade the schema to the newest revision; return (revision before, revision after).

    A database made by ``create_all`` before migrations existed (tables, no
    ``alembic_version``) is first stamped at the first revision, so its rows are kept.
    """
    try:
        with _locked_transaction(engine) as connection:
            before = current_revision(connection)
            if before is None and inspect(connection).has_table("users"):
                log.info("database made before migrations: stamped at %s", FIRST_REVISION)
                command.stamp(alembic_config(connection), FIRST_REVISION)
                before = FIRST_REVISION
            command.upgrade(alembic_config(connection), "head")
            after = current_revision(connection)
    except CommandError as exc:
        raise SchemaError(f"cannot upgrade the database schema: {exc}") from exc
    if after != before:
        log.info("database schema upgraded from %s to %s", before or "empty", after)
    return before, after


def current_revision(connection: Connection) -> Optional[str]:
    """The revision the database is at; None for a database without ``alembic_version``."""
    return MigrationContext.configure(connection).get_current_revision()


def alembic_config(connection: Connection) -> Config:
    """Alembic's config without an ``alembic.ini``: the scripts beside this module, and the
    connection that env.py runs them on. For any ``alembic.command`` (a new revision:
    ``command.revision(alembic_config(connection), "what", autogenerate=True)``)."""
    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent).replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


@contextmanager
def _locked_transaction(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that no other Playwire process migrating this database
    holds at the same time; committed on success."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            # Released by the commit or rollback, even if this process dies mid-migration.
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": POSTGRES_LOCK_KEY}
            )
            yield connection
        return
    with _sqlite_file_lock(engine), engine.begin() as connection:
        yield connection


def _sqlite_file_lock(engine: Engine):
    """An exclusive flock on ``<database file>.migrate-lock`` (released when the process
    dies); nothing for an in-memory database or another kind of database."""
    path = engine.url.database
    if engine.dialect.name != "sqlite" or not path or path == ":memory:":
        return nullcontext()
    return _flock(Path(path + ".migrate-lock"))


@contextmanager
def _flock(path: Path) -> Iterator[None]:
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
