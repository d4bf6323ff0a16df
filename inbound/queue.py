"""The inbound queue: every verified event and reply, persisted before the vendor hears 2xx.

A vendor retries until it gets a 2xx, and we answer 2xx only after the row is committed, so an
accepted event survives a crash of this service and an outage of Temporal. The vendor's id is the
primary key: a second delivery of the same event is a no-op here, and the case de-duplicates on the
same id in case a row is forwarded twice (a crash between the signal and marking it forwarded).
Bodies are sealed (codec.at_rest): a reply's text is personal data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Row, and_, delete, func, insert, or_, select, update
from sqlalchemy import exc as sa_exc

from codec.at_rest import AtRest
from domain.models import CustomerReply, DeliveryEvent
from ops import stores

DELIVERY_EVENT = "delivery_event"
CUSTOMER_REPLY = "customer_reply"

PENDING = "pending"
SIGNALLED = "signalled"
ARCHIVED = "archived"  # the case had closed: appended to its archive record
UNMATCHED = "unmatched"  # a reply no open case claims: in the unmatched list
ORPHANED = "orphaned"  # an event for a reference neither Temporal nor the archive knows


@dataclass(frozen=True)
class QueuedItem:
    item_id: str
    kind: str
    reference: str | None
    attempts: int
    item: DeliveryEvent | CustomerReply


@dataclass(frozen=True)
class UnmatchedReply:
    reply: CustomerReply
    reason: str


class InboundQueue:
    def __init__(self, location: stores.StoreLocation, at_rest: AtRest) -> None:
        self._store = stores.open_store(stores.INBOUND, location if isinstance(location, str) else Path(location))
        self._at_rest = at_rest
        self._store.engine  # noqa: B018 - set up (or check) the schema at start, not at the first webhook

    @property
    def where(self) -> str:
        return self._store.describe()

    def accept(self, items: Sequence[tuple[str, DeliveryEvent | CustomerReply, str | None]]) -> int:
        """Persist (item id, event or reply, reference if known) rows; returns how many were new.

        One transaction for a whole batch (a SendGrid post carries up to thousands of events): the
        ids already stored are skipped; a racing duplicate (two vendor retries at once) fails the
        batch on the key and it is redone row by row, where the key decides each.
        """
        now = datetime.now(UTC)
        unique = {item_id: (item, reference) for item_id, item, reference in items}
        if not unique:
            return 0
        table = stores.inbound_items
        with self._store.engine.connect() as conn:
            known = set(conn.scalars(select(table.c.item_id).where(table.c.item_id.in_(list(unique)))))
            conn.rollback()
        rows = [self._row(item_id, item, reference, now) for item_id, (item, reference) in unique.items()]
        rows = [row for row in rows if row["item_id"] not in known]
        if not rows:
            return 0
        try:
            with self._store.engine.begin() as conn:
                conn.execute(insert(table), rows)
            return len(rows)
        except sa_exc.IntegrityError:
            return sum(self._store.insert_if_absent(row) for row in rows)

    def _row(
        self, item_id: str, item: DeliveryEvent | CustomerReply, reference: str | None, now: datetime
    ) -> dict[str, Any]:
        return {
            "item_id": item_id,
            "kind": DELIVERY_EVENT if isinstance(item, DeliveryEvent) else CUSTOMER_REPLY,
            "received_at": now,
            "body": self._at_rest.seal(item.model_dump_json()),
            "reference": reference,
            "state": PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "forwarded_at": None,
            "outcome": None,
        }

    def due(self, limit: int, now: datetime | None = None) -> list[QueuedItem]:
        """The oldest pending rows whose next attempt is due, at most `limit` (bounded memory)."""
        now = now or datetime.now(UTC)
        table = stores.inbound_items
        query = (
            select(table)
            .where(table.c.state == PENDING, table.c.next_attempt_at <= now)
            .order_by(table.c.received_at, table.c.item_id)
            .limit(limit)
        )
        with self._store.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [self._item(row) for row in rows]

    def _item(self, row: Row[Any]) -> QueuedItem:
        model = DeliveryEvent if row.kind == DELIVERY_EVENT else CustomerReply
        return QueuedItem(
            item_id=row.item_id,
            kind=row.kind,
            reference=row.reference,
            attempts=row.attempts,
            item=model.model_validate_json(self._at_rest.open(row.body)),
        )

    def settle(self, settled: Sequence[tuple[str, str, str, str | None]]) -> None:
        """Mark (item id, state, outcome, reference) rows done, in one transaction for a batch."""
        table = stores.inbound_items
        now = datetime.now(UTC)
        with self._store.engine.begin() as conn:
            for item_id, state, outcome, reference in settled:
                values = {"state": state, "outcome": outcome[:1000], "forwarded_at": now}
                if reference:
                    values["reference"] = reference
                conn.execute(update(table).where(table.c.item_id == item_id).values(values))

    def retry_later(self, item_id: str, attempts: int, delay: timedelta, outcome: str) -> None:
        table = stores.inbound_items
        with self._store.engine.begin() as conn:
            conn.execute(
                update(table)
                .where(table.c.item_id == item_id, table.c.state == PENDING)
                .values(attempts=attempts, next_attempt_at=datetime.now(UTC) + delay, outcome=outcome[:1000])
            )

    def counts(self) -> dict[str, int]:
        table = stores.inbound_items
        with self._store.engine.connect() as conn:
            return dict(conn.execute(select(table.c.state, func.count()).group_by(table.c.state)).all())

    def state_of(self, item_id: str) -> str | None:
        row = self._store.fetch({"item_id": item_id})
        return row.state if row else None

    # --- the unmatched list --------------------------------------------------------------------

    def add_unmatched(self, reply: CustomerReply, reason: str) -> None:
        row = {
            "reply_id": reply.reply_id,
            "channel": reply.channel.value,
            "received_at": reply.received_at,
            "reason": reason[:1000],
            "body": self._at_rest.seal(reply.model_dump_json()),
        }
        try:
            with self._store.engine.begin() as conn:
                conn.execute(insert(stores.unmatched_replies).values(row))
        except sa_exc.IntegrityError:
            pass  # already listed: the row was forwarded twice

    def unmatched_between(self, start: datetime, end: datetime) -> int:
        """How many listed replies were received in [start, end): the notices' flood guard."""
        table = stores.unmatched_replies
        with self._store.engine.connect() as conn:
            query = select(func.count()).where(table.c.received_at >= start, table.c.received_at < end)
            return int(conn.execute(query).scalar_one())

    def unmatched(self, limit: int = 500) -> list[UnmatchedReply]:
        table = stores.unmatched_replies
        with self._store.engine.connect() as conn:
            rows = conn.execute(select(table).order_by(table.c.received_at.desc()).limit(limit)).all()
        return [
            UnmatchedReply(CustomerReply.model_validate_json(self._at_rest.open(row.body)), row.reason) for row in rows
        ]

    # --- retention -----------------------------------------------------------------------------

    def purge(self, references: set[str], before: datetime) -> int:
        """Delete what this store holds of purged cases, and anything settled (or listed as
        unmatched) longer ago than the retention: a reply's text is the customer's personal data.
        Pending rows are kept whatever their age: they have not reached a case yet."""
        items, unmatched = stores.inbound_items, stores.unmatched_replies
        with self._store.engine.begin() as conn:
            removed = conn.execute(
                delete(items).where(
                    or_(
                        items.c.reference.in_(sorted(references)),
                        and_(items.c.state != PENDING, items.c.received_at < before),
                    )
                )
            ).rowcount
            removed += conn.execute(delete(unmatched).where(unmatched.c.received_at < before)).rowcount
        if removed:
            self._store.reclaim_freed_space()
        return removed
