"""The case archive: each case's compliance record, kept past Temporal's retention.

The regulator can ask about a complaint for 12 months, and the customer has 12 months more to
refer it to ADR, so the default retention is two years from when the record was written. Expiry
deletes the record, and with it the customer's personal data; a tombstone keeps the reference.
Embedded default: SQLite under the data folder.
"""

from __future__ import annotations

import json
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path

from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.compliance_report import case_counts, case_outcome, handler_facts, outcome_clocks
from domain.models import ArchiveReceipt, CaseRecord
from ops.sqlite_store import LocalStore


SCHEMA = """CREATE TABLE IF NOT EXISTS case_records (
    reference TEXT PRIMARY KEY, recorded_at TEXT NOT NULL, expires_at TEXT NOT NULL,
    record TEXT, purged_at TEXT)"""


class CaseArchive:
    def __init__(self, path: Path, retention: timedelta = timedelta(days=730)) -> None:
        self._store = LocalStore(path, SCHEMA)
        self._retention = retention

    @activity.defn(name="archive_case")
    async def archive_case(self, record: CaseRecord) -> ArchiveReceipt:
        """Idempotent: writing the same case again replaces its record with the newer one.

        Never another case's: a record under the same reference for a different complaint (or a
        purged one, whose reference is spent) is evidence the regulator may ask for, so the write
        is refused (non-retryable) instead of overwriting it.
        """
        expires_at = record.recorded_at + self._retention
        with closing(self._store.connect()) as db:
            db.execute("BEGIN IMMEDIATE")  # the check and the write see the same row
            try:
                row = db.execute(
                    "SELECT record FROM case_records WHERE reference = ?", (record.reference,)
                ).fetchone()
                written = record.model_dump_json()
                # Same case = same intake, compared as stored JSON: no re-validation of an old record
                # (a model that changed since could refuse it, or see two intakes as one).
                if row is not None and (
                    row[0] is None or json.loads(row[0]).get("intake") != json.loads(written)["intake"]
                ):
                    raise ApplicationError(
                        f"the archive already holds another case's record under {record.reference};"
                        " refusing to overwrite it",
                        type="ArchiveReferenceClash",
                        non_retryable=True,
                    )
                db.execute(
                    """INSERT INTO case_records (reference, recorded_at, expires_at, record, purged_at)
                       VALUES (?, ?, ?, ?, NULL)
                       ON CONFLICT(reference) DO UPDATE SET
                         recorded_at = excluded.recorded_at, expires_at = excluded.expires_at,
                         record = excluded.record""",
                    (record.reference, record.recorded_at.isoformat(), expires_at.isoformat(), written),
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return ArchiveReceipt(location=f"{self._store.path}#{record.reference}", expires_at=expires_at)

    def load(self, reference: str) -> tuple[CaseRecord | None, dict[str, str]]:
        with closing(self._store.connect()) as db:
            row = db.execute(
                "SELECT record, recorded_at, expires_at, purged_at FROM case_records WHERE reference = ?",
                (reference,),
            ).fetchone()
        if row is None:
            return None, {}
        meta = {"recorded_at": row[1], "expires_at": row[2]}
        if row[3]:
            meta["purged_at"] = row[3]
        return (CaseRecord.model_validate_json(row[0]) if row[0] else None), meta

    def holds(self, reference: str) -> bool:
        """Whether the reference was ever archived (purged records leave a tombstone)."""
        with closing(self._store.connect()) as db:
            return db.execute("SELECT 1 FROM case_records WHERE reference = ?", (reference,)).fetchone() is not None

    def purged_references(self) -> list[str]:
        """Every reference whose personal data has been deleted, for purging the other stores."""
        with closing(self._store.connect()) as db:
            return [r[0] for r in db.execute("SELECT reference FROM case_records WHERE purged_at IS NOT NULL")]

    def purge_expired(self, now: datetime | None = None) -> list[str]:
        """Delete every record past its retention; return the references purged."""
        now = now or datetime.now(timezone.utc)
        with closing(self._store.connect()) as db:
            expired = [
                r[0]
                for r in db.execute(
                    "SELECT reference FROM case_records WHERE purged_at IS NULL AND expires_at <= ?",
                    (now.isoformat(),),
                )
            ]
            db.execute("PRAGMA secure_delete = ON")  # freed pages are zeroed, not left readable
            db.executemany(
                "UPDATE case_records SET record = NULL, purged_at = ? WHERE reference = ?",
                [(now.isoformat(), ref) for ref in expired],
            )
        if expired:
            # Deleted means deleted: no copy left in the write-ahead log or in free pages.
            db = self._store.connect()
            try:
                db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                db.execute("VACUUM")
            finally:
                db.close()
        return expired


def evidence_document(record: CaseRecord, meta: dict[str, str] | None = None) -> dict:
    """The record as a regulator would read it: clocks, messages, escalations, money, notes.

    Each clock's verdict and the case's counts come from the compliance report's own functions,
    judged as at the time the record was written, so the evidence and `admin.py report` agree.
    """
    state, deadlines = record.state, record.state.deadlines
    outcome = case_outcome(state, record.intake.received_at)
    verdicts = {name: verdict for name, _, verdict in outcome_clocks(outcome, record.recorded_at)}
    return {
        "reference": record.reference,
        "customer": record.intake.customer.name,
        "account_number": record.intake.account_number,
        "received_at": record.intake.received_at.isoformat(),
        "received_by": record.intake.source.value,
        "stage": state.stage.value,
        "closed_at": state.closed_at.isoformat() if state.closed_at else None,
        "calendar": {
            "timezone": record.policy.calendar.timezone,
            "subdivision": deadlines.calendar_subdivision if deadlines else record.policy.calendar.subdivision,
            "holidays_version": deadlines.holidays_version if deadlines else None,
            "working_hours": f"{record.policy.calendar.day_start:%H:%M}-{record.policy.calendar.day_end:%H:%M}",
        },
        "clocks": [
            {
                "name": m.name,
                "due_at": m.due_at.isoformat(),
                "done_at": m.done_at.isoformat() if m.done_at else None,
                "met": verdicts[m.name] == "met",
                "breached": verdicts[m.name] == "missed",
                "superseded_at": m.superseded_at.isoformat() if m.superseded_at else None,
                "verdict": verdicts[m.name],
            }
            for m in state.milestones
        ],
        "counts": case_counts(outcome, record.recorded_at),
        "judged_at": record.recorded_at.isoformat(),
        "messages": [json.loads(r.model_dump_json()) for r in state.messages],
        "owners": [
            {
                "handler": a.handler.id,
                "name": a.handler.name,
                "role": a.handler.role.value,
                "reason": a.reason,
                "assigned_at": a.assigned_at.isoformat(),
            }
            for a in state.assignments
        ],
        "escalations": [json.loads(e.model_dump_json()) for e in state.escalations],
        "compensation": [json.loads(c.model_dump_json()) for c in state.compensations],
        "notes": [json.loads(n.model_dump_json()) for n in state.notes],
        # Calls, the customer's confirmation, paused updates, contact corrections: as `status` shows them.
        **handler_facts(state, record.intake.customer),
        "adr_letter_sent_at": state.adr_letter_sent_at.isoformat() if state.adr_letter_sent_at else None,
        "archive": meta or {},
    }
