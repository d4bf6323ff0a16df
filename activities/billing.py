"""Compensation as a credit on the customer's next monthly invoice."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select, update
from temporalio import activity

from domain.models import CreditReceipt, InvoiceCredit
from ops import stores


class BillingActivities:
    """Embedded default: a local ledger (SQLite in the data folder, or the shared PostgreSQL
    database with `COMPLAINTS_DATABASE_URL`). The credit key is the table's primary key, so a retry
    applies it once, even on another host."""

    def __init__(self, ledger: stores.StoreLocation) -> None:
        self._store = stores.open_store(stores.BILLING, ledger if isinstance(ledger, str) else Path(ledger))
        self._store.engine  # noqa: B018 - set up (or check) the schema at worker start

    @activity.defn(name="credit_invoice")
    async def credit_invoice(self, credit: InvoiceCredit) -> CreditReceipt:
        # A database round trip (over the network on PostgreSQL) off the worker's event loop.
        return await asyncio.to_thread(self._credit, credit)

    def _credit(self, credit: InvoiceCredit) -> CreditReceipt:
        """Insert-if-absent by key: a retry, even racing the first attempt, credits once."""
        proposed = f"CR-{uuid.uuid4().hex[:10].upper()}"
        _, row = self._store.insert_or_get(
            {
                "key": credit.key,
                "credit_id": proposed,
                "reference": credit.reference,
                "account_number": credit.account_number,
                "amount_pence": int(credit.amount_gbp * 100),
                "reason": credit.reason,
                "applied_at": datetime.now(UTC),
            }
        )
        # The stored credit is the answer, whichever attempt (or worker) inserted it.
        return CreditReceipt(credit_id=row.credit_id, applied_at=row.applied_at, duplicate=row.credit_id != proposed)

    def redact(self, references: list[str]) -> int:
        """Forget the account number and reason of expired cases' credits; keep id and amount.

        The credit itself is a financial record; who it was for is personal data, past retention.
        """
        if not references:
            return 0
        table = stores.invoice_credits
        with self._store.engine.begin() as conn:
            changed = conn.execute(
                update(table)
                .where(table.c.reference.in_(references), table.c.account_number != "")
                .values(account_number="", reason="(purged)")
            ).rowcount
        if changed:
            # No copy of the old values left in the database's files (WAL, free pages).
            self._store.reclaim_freed_space()
        return changed

    def used(self, reference: str) -> bool:
        """Whether any credit was ever made under this reference."""
        table = stores.invoice_credits
        with self._store.engine.connect() as conn:
            return conn.execute(select(table.c.key).where(table.c.reference == reference).limit(1)).first() is not None

    def credits_for(self, reference: str) -> list[tuple[str, int]]:
        table = stores.invoice_credits
        with self._store.engine.connect() as conn:
            rows = conn.execute(
                select(table.c.credit_id, table.c.amount_pence)
                .where(table.c.reference == reference)
                .order_by(table.c.applied_at, table.c.credit_id)
            )
            return [tuple(r) for r in rows]
