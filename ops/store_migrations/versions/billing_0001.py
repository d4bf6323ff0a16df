"""The billing ledger: one credit per credit key.

Revision ID: billing_0001
Revises:
Create Date: 2026-11-30

A file made before migrations existed already has the table (same columns): it is adopted, and
gets the index on reference.
"""

import sqlalchemy as sa
from alembic import op

from ops.stores import UtcTimestamp

revision = "billing_0001"
down_revision = None
branch_labels = ("billing",)
depends_on = None


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table("invoice_credits"):
        op.create_table(
            "invoice_credits",
            sa.Column("key", sa.Text, primary_key=True),
            sa.Column("credit_id", sa.Text, nullable=False),
            sa.Column("reference", sa.Text, nullable=False),
            sa.Column("account_number", sa.Text, nullable=False),
            sa.Column("amount_pence", sa.Integer, nullable=False),
            sa.Column("reason", sa.Text, nullable=False),
            sa.Column("applied_at", UtcTimestamp, nullable=False),
        )
    if "ix_invoice_credits_reference" not in {i["name"] for i in sa.inspect(op.get_bind()).get_indexes("invoice_credits")}:
        op.create_index("ix_invoice_credits_reference", "invoice_credits", ["reference"])


def downgrade() -> None:
    op.drop_table("invoice_credits")
