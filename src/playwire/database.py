"""The database: one SQLAlchemy engine per process, sessions opened per unit of work.

Socket.IO handlers run outside Flask's request context, so the session is not tied to it:
services open one with :meth:`Database.session` and close it when their work is done.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Optional

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from playwire.errors import ServiceUnavailable
from playwire.migrations import upgrade


class Database:
    """The engine and session factory, bound to a URL by :meth:`init_app`."""

    def __init__(self) -> None:
        self.engine: Optional[Engine] = None
        self._sessions: Optional[sessionmaker] = None

    def init_app(self, url: str) -> None:
        """Connect to ``url`` and upgrade its schema to the newest revision (under a lock, so
        that nodes may start at once)."""
        upgrade(self.connect(url).engine)

    def connect(self, url: str) -> Database:
        """Bind to the database at ``url``, as it is: for tools that only read it."""
        self.engine = _create_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        return self

    def close(self) -> None:
        """Close the pooled connections (a command that is done with the database)."""
        if self.engine is not None:
            self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        """An ORM session committed on success, rolled back on error.

        An unreachable database surfaces as :class:`ServiceUnavailable`, which event handlers
        answer with ``unavailable`` and the HTTP API with 503.
        """
        assert self._sessions is not None, "Database.init_app was not called"
        session = self._sessions()
        try:
            with _unavailable_when_unreachable():
                yield session
                session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A Core connection in a transaction, for hot paths where the ORM's bookkeeping
        costs more than the statement (a chat message: 160 µs through a session, 40 here).
        Errors as in :meth:`session`."""
        assert self.engine is not None, "Database.init_app was not called"
        with _unavailable_when_unreachable(), self.engine.begin() as connection:
            yield connection


@contextmanager
def _unavailable_when_unreachable() -> Iterator[None]:
    try:
        yield
    except (OperationalError, DBAPIError) as exc:
        if exc.connection_invalidated or isinstance(exc, OperationalError):
            raise ServiceUnavailable("the database cannot be reached; try again") from exc
        raise


def _create_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _tune_sqlite)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    if url.startswith("postgresql+psycopg"):
        from playwire.upstream.pypy import patch_ctypes_py_object

        patch_ctypes_py_object()
    return create_engine(url, pool_pre_ping=True)


def _tune_sqlite(dbapi_connection, _record) -> None:
    """WAL lets readers run beside the writer; NORMAL sync is still safe across crashes."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
