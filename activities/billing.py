"""Compensation as a credit on the customer's next monthly invoice."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import datetime, timezone
from pathlib import Path

from temporalio import activity

from domain.models import CreditReceipt, InvoiceCredit


class BillingActivities:
    """Embedded default: a local ledger. The credit key is unique, so a retry applies it once."""

    def __init__(self, ledger_path: Path) -> None:
        self._path = ledger_path

    def _connect(self) -> sqlite3.Connection:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self._path, timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(
            """CREATE TABLE IF NOT EXISTS invoice_credits (
                key TEXT PRIMARY KEY, credit_id TEXT NOT NULL, reference TEXT NOT NULL,
                account_number TEXT NOT NULL, amount_pence INTEGER NOT NULL, reason TEXT NOT NULL,
                applied_at TEXT NOT NULL)"""
        )
        return db

    @activity.defn(name="credit_invoice")
    async def credit_invoice(self, credit: InvoiceCredit) -> CreditReceipt:
        with self._connect() as db:
            row = db.execute(
                "SELECT credit_id, applied_at FROM invoice_credits WHERE key = ?", (credit.key,)
            ).fetchone()
            if row:
                return CreditReceipt(
                    credit_id=row[0], applied_at=datetime.fromisoformat(row[1]), duplicate=True
                )
            receipt = CreditReceipt(
                credit_id=f"CR-{uuid.uuid4().hex[:10].upper()}", applied_at=datetime.now(timezone.utc)
            )
            db.execute(
                "INSERT INTO invoice_credits VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    credit.key,
                    receipt.credit_id,
                    credit.reference,
                    credit.account_number,
                    int(credit.amount_gbp * 100),
                    credit.reason,
                    receipt.applied_at.isoformat(),
                ),
            )
        return receipt

    def credits_for(self, reference: str) -> list[tuple[str, int]]:
        with self._connect() as db:
            return db.execute(
                "SELECT credit_id, amount_pence FROM invoice_credits WHERE reference = ?", (reference,)
            ).fetchall()
