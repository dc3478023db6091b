"""Alembic's environment: run on the connection that :func:`playwire.migrations.upgrade` locked.

Playwire runs Alembic from code, never from an ``alembic.ini``: the connection, already in a
transaction and holding the migration lock, arrives in ``config.attributes["connection"]``.
"""

from __future__ import annotations

from alembic import context

from playwire.models import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `playwire db upgrade`, not the alembic command")
# Batch mode: SQLite cannot drop a constraint or change a column in place, so Alembic copies
# the table; on PostgreSQL the same operations are plain ALTER TABLE statements.
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
