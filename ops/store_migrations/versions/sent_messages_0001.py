"""The sent-message ledger: one receipt per message key.

Revision ID: sent_messages_0001
Revises:
Create Date: 2026-11-30

A file made before migrations existed already has this table (same columns): it is adopted.
"""

import sqlalchemy as sa
from alembic import op

from ops.stores import UtcTimestamp

revision = "sent_messages_0001"
down_revision = None
branch_labels = ("sent_messages",)
depends_on = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("sent_messages"):
        return
    op.create_table(
        "sent_messages",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("provider_id", sa.Text),
        sa.Column("sent_at", UtcTimestamp, nullable=False),
        sa.Column("receipt", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sent_messages")
