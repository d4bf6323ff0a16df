"""Compensation as a credit on the customer's next monthly invoice."""

from __future__ import annotations

import uuid
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path

from temporalio import activity

from domain.models import CreditReceipt, InvoiceCredit
from ops.sqlite_store import LocalStore


SCHEMA = """CREATE TABLE IF NOT EXISTS invoice_credits (
    key TEXT PRIMARY KEY, credit_id TEXT NOT NULL, reference TEXT NOT NULL,
    account_number TEXT NOT NULL, amount_pence INTEGER NOT NULL, reason TEXT NOT NULL,
    applied_at TEXT NOT NULL)"""


class BillingActivities:
    """Embedded default: a local ledger. The credit key is unique, so a retry applies it once."""

    def __init__(self, ledger_path: Path) -> None:
        self._store = LocalStore(ledger_path, SCHEMA)

    @activity.defn(name="credit_invoice")
    async def credit_invoice(self, credit: InvoiceCredit) -> CreditReceipt:
        """Insert-if-absent in one statement: a retry, even racing the first attempt, credits once."""
        proposed = f"CR-{uuid.uuid4().hex[:10].upper()}"
        with closing(self._store.connect()) as db:
            db.execute(
                "INSERT INTO invoice_credits VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO NOTHING",
                (
                    credit.key,
                    proposed,
                    credit.reference,
                    credit.account_number,
                    int(credit.amount_gbp * 100),
                    credit.reason,
                    datetime.now(timezone.utc).isoformat(),
                ),
            )
            credit_id, applied_at = db.execute(
                "SELECT credit_id, applied_at FROM invoice_credits WHERE key = ?", (credit.key,)
            ).fetchone()
        return CreditReceipt(
            credit_id=credit_id, applied_at=datetime.fromisoformat(applied_at), duplicate=credit_id != proposed
        )

    def redact(self, references: list[str]) -> int:
        """Forget the account number and reason of expired cases' credits; keep id and amount.

        The credit itself is a financial record; who it was for is personal data, past retention.
        """
        if not references:
            return 0
        with closing(self._store.connect()) as db:
            db.execute("PRAGMA secure_delete = ON")  # overwritten values are zeroed in freed pages
            changed = db.executemany(
                "UPDATE invoice_credits SET account_number = '', reason = '(purged)'"
                " WHERE reference = ? AND account_number != ''",
                [(reference,) for reference in references],
            ).rowcount
            if changed:
                # No copy left in the write-ahead log or in free pages.
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                db.execute("VACUUM")
        return changed

    def used(self, reference: str) -> bool:
        """Whether any credit was ever made under this reference."""
        with closing(self._store.connect()) as db:
            return db.execute("SELECT 1 FROM invoice_credits WHERE reference = ?", (reference,)).fetchone() is not None

    def credits_for(self, reference: str) -> list[tuple[str, int]]:
        with closing(self._store.connect()) as db:
            return db.execute(
                "SELECT credit_id, amount_pence FROM invoice_credits WHERE reference = ?", (reference,)
            ).fetchall()
