"""The archive's addenda: events and replies that arrived after a case's record was written.

Revision ID: case_archive_0002
Revises: case_archive_0001
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

from ops.stores import UtcTimestamp

revision = "case_archive_0002"
down_revision = "case_archive_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_record_addenda",
        sa.Column("item_id", sa.Text, primary_key=True),
        sa.Column("reference", sa.Text, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("appended_at", UtcTimestamp, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
    )
    op.create_index("ix_case_record_addenda_reference", "case_record_addenda", ["reference"])


def downgrade() -> None:
    op.drop_table("case_record_addenda")
