"""The case archive: each case's compliance record, kept past Temporal's retention.

The regulator can ask about a complaint for 12 months, and the customer has 12 months more to
refer it to ADR, so the default retention is two years from when the record was written. Expiry
deletes the record, and with it the customer's personal data; a tombstone keeps the reference.
Embedded default: SQLite under the data folder; with `COMPLAINTS_DATABASE_URL`, the PostgreSQL
database every worker and the admin script share (`ops.stores`), so the purge and the evidence
read the records every host wrote.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import update
from temporalio import activity

from domain.models import ArchiveReceipt, CaseRecord
from ops import stores


class CaseArchive:
    def __init__(self, location: stores.StoreLocation, retention: timedelta = timedelta(days=730)) -> None:
        """`location`: the SQLite file, or a database URL (`COMPLAINTS_DATABASE_URL`)."""
        self._store = stores.open_store(
            stores.CASE_ARCHIVE, location if isinstance(location, str) else Path(location)
        )
        self._retention = retention
        self._store.engine  # noqa: B018 - set up (or check) the schema at start, not at the first close

    @property
    def where(self) -> str:
        """Where the archive is, for people (no password)."""
        return self._store.describe()

    @activity.defn(name="archive_case")
    async def archive_case(self, record: CaseRecord) -> ArchiveReceipt:
        # A database round trip (over the network on PostgreSQL) off the worker's event loop.
        return await asyncio.to_thread(self._archive, record)

    def _archive(self, record: CaseRecord) -> ArchiveReceipt:
        """Idempotent: writing the same case again replaces its record with the newer one."""
        expires_at = record.recorded_at + self._retention
        row = {
            "reference": record.reference,
            "recorded_at": record.recorded_at,
            "expires_at": expires_at,
            "record": record.model_dump_json(),
            "purged_at": None,
        }
        if not self._store.insert_if_absent(row):
            # The case was archived before (a close after an on-demand `evidence`, a retry): the
            # newer record replaces it. Insert first, update on the key's conflict: portable, and
            # two writers of one case leave one row. A condition on the stored case's identity
            # (refusing another case's record under this reference) belongs in this WHERE.
            table = stores.case_records
            with self._store.engine.begin() as conn:
                conn.execute(
                    update(table)
                    .where(table.c.reference == record.reference)
                    .values({k: v for k, v in row.items() if k != "reference"})
                )
        return ArchiveReceipt(location=f"{self.where}#{record.reference}", expires_at=expires_at)

    def load(self, reference: str) -> tuple[CaseRecord | None, dict[str, str]]:
        row = self._store.fetch({"reference": reference})
        if row is None:
            return None, {}
        meta = {"recorded_at": row.recorded_at.isoformat(), "expires_at": row.expires_at.isoformat()}
        if row.purged_at:
            meta["purged_at"] = row.purged_at.isoformat()
        return (CaseRecord.model_validate_json(row.record) if row.record else None), meta

    def holds(self, reference: str) -> bool:
        """Whether this reference was ever archived (purged records keep theirs): a reference is
        never reused, and after Temporal's retention only the archive remembers it."""
        return self._store.fetch({"reference": reference}) is not None

    def filed_from(self, reference: str) -> tuple[bool, str | None]:
        """(whether the reference is archived, the intake id its case was filed from, if the record
        still says: a purged record has forgotten it, and so has a case filed without one)."""
        row = self._store.fetch({"reference": reference})
        if row is None:
            return False, None
        if row.record is None:
            return True, None
        return True, CaseRecord.model_validate_json(row.record).intake.intake_id

    def purge_expired(self, now: datetime | None = None) -> list[str]:
        """Delete every record past its retention; return the references purged (by this call:
        two purges racing, from two hosts, each report only what they purged)."""
        now = now or datetime.now(timezone.utc)
        table = stores.case_records
        with self._store.engine.begin() as conn:
            expired = conn.scalars(
                update(table)
                .where(table.c.purged_at.is_(None), table.c.expires_at <= now)
                .values(record=None, purged_at=now)
                .returning(table.c.reference)
            ).all()
        if expired:
            # Deleted means deleted: no copy of the old record left in the database's files.
            self._store.reclaim_freed_space()
        return sorted(expired)


def evidence_document(record: CaseRecord, meta: dict[str, str] | None = None) -> dict:
    """The record as a regulator would read it: clocks, messages, escalations, money, notes."""
    state, deadlines = record.state, record.state.deadlines
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
                "met": m.met,
                "breached": m.breached,
            }
            for m in state.milestones
        ],
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
        "adr_letter_sent_at": state.adr_letter_sent_at.isoformat() if state.adr_letter_sent_at else None,
        "archive": meta or {},
    }
