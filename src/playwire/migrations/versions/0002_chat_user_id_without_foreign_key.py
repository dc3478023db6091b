"""Chat messages: ``user_id`` without a foreign key to users, and 64 bits wide.

A user authenticated by the game's own backend (a JWT, docs/protocol.md) never registers with
Playwire, so has no ``users`` row; the message keeps the id and username it needs. No index
on ``user_id``: nothing queries by it, and the insert is the hot path.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# PostgreSQL's name for the unnamed foreign key that revision 0001 (and create_all) made;
# SQLite keeps no name, so batch mode's copy of the table is given the same one.
FOREIGN_KEY = "chat_messages_user_id_fkey"
NAMING = {"fk": "%(table_name)s_%(column_0_name)s_fkey"}


def upgrade() -> None:
    with op.batch_alter_table("chat_messages", naming_convention=NAMING) as batch:
        batch.drop_constraint(FOREIGN_KEY, type_="foreignkey")
        batch.alter_column(
            "user_id", existing_type=sa.Integer(), type_=sa.BigInteger(), existing_nullable=False
        )


def downgrade() -> None:
    """Fails while a message's ``user_id`` has no ``users`` row (a JWT user's): delete those
    messages first, if going back is worth it."""
    with op.batch_alter_table("chat_messages") as batch:
        batch.alter_column(
            "user_id", existing_type=sa.BigInteger(), type_=sa.Integer(), existing_nullable=False
        )
        batch.create_foreign_key(FOREIGN_KEY, "users", ["user_id"], ["id"])
