"""The case archive: one compliance record per case reference.

Revision ID: case_archive_0001
Revises:
Create Date: 2026-11-30

A file made before migrations existed already has the table (same columns): it is adopted, and
gets the index the retention purge searches by.
"""

import sqlalchemy as sa
from alembic import op

from ops.stores import UtcTimestamp

revision = "case_archive_0001"
down_revision = None
branch_labels = ("case_archive",)
depends_on = None


def upgrade() -> None:
    if not sa.inspect(op.get_bind()).has_table("case_records"):
        op.create_table(
            "case_records",
            sa.Column("reference", sa.Text, primary_key=True),
            sa.Column("recorded_at", UtcTimestamp, nullable=False),
            sa.Column("expires_at", UtcTimestamp, nullable=False),
            sa.Column("record", sa.Text),
            sa.Column("purged_at", UtcTimestamp),
        )
    if "ix_case_records_expires_at" not in {i["name"] for i in sa.inspect(op.get_bind()).get_indexes("case_records")}:
        op.create_index("ix_case_records_expires_at", "case_records", ["expires_at"])


def downgrade() -> None:
    op.drop_table("case_records")
