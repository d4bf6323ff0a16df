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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy import exc as sa_exc
from temporalio import activity
from temporalio.exceptions import ApplicationError

from domain.compliance_report import case_counts, case_outcome, handler_facts, outcome_clocks
from domain.customer_loop import delivery_proof
from domain.models import ArchiveReceipt, CaseRecord
from ops import stores


class CaseArchive:
    def __init__(self, location: stores.StoreLocation, retention: timedelta = timedelta(days=730)) -> None:
        """`location`: the SQLite file, or a database URL (`COMPLAINTS_DATABASE_URL`)."""
        self._store = stores.open_store(stores.CASE_ARCHIVE, location if isinstance(location, str) else Path(location))
        self._retention = retention
        self._store.engine  # noqa: B018 - set up (or check) the schema at start, not at the first close

    @property
    def retention(self) -> timedelta:
        return self._retention

    @property
    def where(self) -> str:
        """Where the archive is, for people (no password)."""
        return self._store.describe()

    @activity.defn(name="archive_case")
    async def archive_case(self, record: CaseRecord) -> ArchiveReceipt:
        # A database round trip (over the network on PostgreSQL) off the worker's event loop.
        return await asyncio.to_thread(self._archive, record)

    def _archive(self, record: CaseRecord) -> ArchiveReceipt:
        """Idempotent: writing the same case again replaces its record with the newer one.

        Never another case's: a record under the same reference for a different complaint (or a
        purged one, whose reference is spent) is evidence the regulator may ask for, so the write
        is refused (non-retryable) instead of overwriting it.
        """
        expires_at = record.recorded_at + self._retention
        written = record.model_dump_json()
        row = {
            "reference": record.reference,
            "recorded_at": record.recorded_at,
            "expires_at": expires_at,
            "record": written,
            "purged_at": None,
        }
        receipt = ArchiveReceipt(location=f"{self.where}#{record.reference}", expires_at=expires_at)
        if self._store.insert_if_absent(row):
            return receipt
        table = stores.case_records
        # The case was archived before (a close after an on-demand `evidence`, a retry). Compare and
        # swap: the stored record is read, checked to be this case's, and replaced only if it is still
        # exactly what was read, so a check and a write from two hosts cannot interleave.
        for _ in range(20):
            stored = self._store.fetch({"reference": record.reference})
            # Same case = same intake, compared as stored JSON: no re-validation of an old record
            # (a model that changed since could refuse it, or see two intakes as one).
            if (
                stored is None
                or stored.record is None
                or (json.loads(stored.record).get("intake") != json.loads(written)["intake"])
            ):
                raise ApplicationError(
                    f"the archive already holds another case's record under {record.reference};"
                    " refusing to overwrite it",
                    type="ArchiveReferenceClash",
                    non_retryable=True,
                )
            with self._store.engine.begin() as conn:
                replaced = conn.execute(
                    update(table)
                    .where(table.c.reference == record.reference, table.c.record == stored.record)
                    .values({k: v for k, v in row.items() if k != "reference"})
                ).rowcount
            if replaced:
                return receipt
        # Another writer kept replacing it: Temporal retries the activity.
        raise RuntimeError(f"the archive record of {record.reference} kept changing during the write")

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

    def append(self, reference: str, item_id: str, kind: str, body: str) -> bool:
        """Add what arrived after the case closed (a late bounce, a reply) beside its record: the
        record itself, the evidence as archived, is never rewritten. `body` is sealed JSON
        (codec.at_rest). Once per item id; False if it was already appended."""
        row = {"item_id": item_id, "reference": reference, "kind": kind, "appended_at": datetime.now(UTC), "body": body}
        try:
            with self._store.engine.begin() as conn:
                conn.execute(insert(stores.case_record_addenda).values(row))
        except sa_exc.IntegrityError:
            return False
        return True

    def addenda(self, reference: str) -> list[tuple[str, datetime, str]]:
        """(kind, appended at, sealed body) of each item appended to this case, oldest first."""
        table = stores.case_record_addenda
        with self._store.engine.connect() as conn:
            rows = conn.execute(
                select(table.c.kind, table.c.appended_at, table.c.body)
                .where(table.c.reference == reference)
                .order_by(table.c.appended_at, table.c.item_id)
            ).all()
        return [(row.kind, row.appended_at, row.body) for row in rows]

    def purged_references(self) -> list[str]:
        """Every reference whose personal data has been deleted, for purging the other stores."""
        table = stores.case_records
        with self._store.engine.connect() as conn:
            return list(conn.scalars(select(table.c.reference).where(table.c.purged_at.is_not(None))))

    def purge_expired(self, now: datetime | None = None) -> list[str]:
        """Delete every record past its retention; return the references purged (by this call:
        two purges racing, from two hosts, each report only what they purged)."""
        now = now or datetime.now(UTC)
        table = stores.case_records
        with self._store.engine.begin() as conn:
            expired = conn.scalars(
                update(table)
                .where(table.c.purged_at.is_(None), table.c.expires_at <= now)
                .values(record=None, purged_at=now)
                .returning(table.c.reference)
            ).all()
            if expired:
                # A reply appended after closing is the customer's words: it goes with the record.
                addenda = stores.case_record_addenda
                conn.execute(delete(addenda).where(addenda.c.reference.in_(expired)))
        if expired:
            # Deleted means deleted: no copy of the old record left in the database's files.
            self._store.reclaim_freed_space()
        return sorted(expired)


def evidence_document(
    record: CaseRecord, meta: dict[str, str] | None = None, appended: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The record as a regulator would read it: clocks, messages, escalations, money, notes, and,
    in their own section, the delivery events and replies that arrived after it was archived.

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
        "messages": [
            json.loads(r.model_dump_json()) | ({"delivery_proof": proof} if (proof := delivery_proof(r)) else {})
            for r in state.messages
        ],
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
        # The Code's "agreed contact time": what the updates follow, and whether (and when) the
        # customer agreed it or it is only the schedule offered.
        "update_schedule": state.schedule.model_dump(mode="json") if state.schedule else None,
        "schedule_status": None if state.schedule is None else "agreed" if state.schedule_agreed_at else "offered",
        "schedule_agreed_at": state.schedule_agreed_at.isoformat() if state.schedule_agreed_at else None,
        # Calls, the customer's confirmation, paused updates, contact corrections: as `status` shows them.
        **handler_facts(state, record.intake.customer),
        "adr_letter_sent_at": state.adr_letter_sent_at.isoformat() if state.adr_letter_sent_at else None,
        "archive": meta or {},
        **({"appended_after_archiving": appended} if appended else {}),
    }
