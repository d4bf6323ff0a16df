"""The inbound queue and the unmatched-replies list.

Revision ID: inbound_0001
Revises:
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

from ops.stores import UtcTimestamp

revision = "inbound_0001"
down_revision = None
branch_labels = ("inbound",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbound_items",
        sa.Column("item_id", sa.Text, primary_key=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("received_at", UtcTimestamp, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("reference", sa.Text),
        sa.Column("state", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", UtcTimestamp, nullable=False),
        sa.Column("forwarded_at", UtcTimestamp),
        sa.Column("outcome", sa.Text),
    )
    op.create_index("ix_inbound_items_state", "inbound_items", ["state"])
    op.create_table(
        "unmatched_replies",
        sa.Column("reply_id", sa.Text, primary_key=True),
        sa.Column("channel", sa.Text, nullable=False),
        sa.Column("received_at", UtcTimestamp, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
    )
    op.create_index("ix_unmatched_replies_received_at", "unmatched_replies", ["received_at"])


def downgrade() -> None:
    op.drop_table("unmatched_replies")
    op.drop_table("inbound_items")
