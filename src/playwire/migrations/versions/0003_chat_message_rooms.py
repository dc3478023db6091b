"""Chat messages: the ``room`` they were sent to (NULL: the global chat), and an index on
``(room, id)`` for "the last N messages of a room" (docs/protocol.md, "Rooms").

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

INDEX = "ix_chat_messages_room_id"


def upgrade() -> None:
    op.add_column("chat_messages", sa.Column("room", sa.String(64), nullable=True))
    op.create_index(INDEX, "chat_messages", ["room", "id"])


def downgrade() -> None:
    """Room messages become global ones: delete them first if they must not."""
    op.drop_index(INDEX, table_name="chat_messages")
    with op.batch_alter_table("chat_messages") as batch:
        batch.drop_column("room")
