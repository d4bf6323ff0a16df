"""The per-table rules of a move (`ops.migrate_stores`): what the target keeps when both hold a row,
and which source rows are withheld because a purge (`ops.purge`) deleted, or would delete, them.

A purge is never undone by a move:
- a case record purged in the source is purged in the target, and its addenda and inbound rows go
  with it (as `CaseArchive.purge_expired` and `InboundQueue.purge` do on one host);
- a case the target has purged (a purge ran on the new host between two runs) gets nothing back:
  its addenda and inbound rows in the source are withheld;
- inbound rows past the retention are withheld as the inbound purge would delete them: settled
  items and unmatched replies received before the cutoff. Pending items are copied whatever their
  age: they have not reached a case yet.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, Table, and_, delete, select, update

from inbound.queue import PENDING
from ops import stores

Key = Any


def withheld(table: Table, batch: Sequence[Row[Any]], target: Connection, cutoff: datetime) -> set[Key]:
    """The keys in this source batch that must not reach the target."""
    [key] = table.primary_key.columns
    if table is stores.case_record_addenda:
        purged = _purged_in(target, {row.reference for row in batch})
        return {row._mapping[key.name] for row in batch if row.reference in purged}
    if table is stores.inbound_items:
        purged = _purged_in(target, {row.reference for row in batch if row.reference})
        return {
            row.item_id
            for row in batch
            if row.reference in purged or (row.state != PENDING and row.received_at < cutoff)
        }
    if table is stores.unmatched_replies:
        return {row.reply_id for row in batch if row.received_at < cutoff}
    return set()


def _purged_in(target: Connection, references: set[str]) -> set[str]:
    if not references:
        return set()
    records = stores.case_records
    return set(
        target.scalars(
            select(records.c.reference).where(
                records.c.reference.in_(sorted(references)), records.c.purged_at.is_not(None)
            )
        )
    )


def reconcile(table: Table, both: Sequence[Row[Any]], existing: dict[Key, Row[Any]], target: stores.Store) -> int:
    """Rows the source and the target both hold: how many target rows the source's version changed.
    Elsewhere the target's row stands (a ledger's first record wins)."""
    if table is stores.case_records:
        return _reconcile_archive(both, existing, target)
    if table is stores.inbound_items:
        return _reconcile_inbound(both, existing, target)
    return 0


def _reconcile_archive(batch: Sequence[Row[Any]], existing: dict[Key, Row[Any]], target: stores.Store) -> int:
    """A case archived in both: the newer record stands; a purge is never undone."""
    table = stores.case_records
    changed = 0
    purged: list[str] = []
    with target.engine.begin() as conn:
        for row in batch:
            mine, theirs = row._mapping, existing[row._mapping["reference"]]._mapping
            if mine["recorded_at"] > theirs["recorded_at"]:
                values = {k: v for k, v in mine.items() if k != "reference"}
                condition = table.c.recorded_at < mine["recorded_at"]
            elif (
                mine["purged_at"] is not None
                and theirs["purged_at"] is None
                and mine["recorded_at"] >= theirs["recorded_at"]
            ):
                values = {"record": None, "purged_at": mine["purged_at"]}
                condition = table.c.recorded_at <= mine["recorded_at"]
            else:
                continue
            # Conditional on what was read, so a worker's newer write in between is not overwritten.
            done = conn.execute(
                update(table).where(and_(table.c.reference == mine["reference"], condition)).values(values)
            ).rowcount
            changed += done
            if done and values.get("purged_at") is not None:
                purged.append(mine["reference"])
        if purged:
            # What the source's purge deleted with the record (the customer's late replies, the
            # queue's rows for the case), in the same transaction as the tombstone.
            addenda, items = stores.case_record_addenda, stores.inbound_items
            conn.execute(delete(addenda).where(addenda.c.reference.in_(purged)))
            conn.execute(delete(items).where(items.c.reference.in_(purged)))
    if purged:
        target.reclaim_freed_space()
        stores.open_store(stores.INBOUND, target.location).reclaim_freed_space()
    return changed


def _reconcile_inbound(batch: Sequence[Row[Any]], existing: dict[Key, Row[Any]], target: stores.Store) -> int:
    """An item the old host forwarded after an earlier run copied it as pending: the target takes the
    settled state, so the new host's forwarder does not send it to its case a second time."""
    table = stores.inbound_items
    changed = 0
    with target.engine.begin() as conn:
        for row in batch:
            if row.state == PENDING or existing[row.item_id].state != PENDING:
                continue
            values = {"state": row.state, "outcome": row.outcome, "forwarded_at": row.forwarded_at}
            values |= {"attempts": row.attempts} | ({"reference": row.reference} if row.reference else {})
            # Still pending in the target: a forwarder on the new host that settled it first wins.
            changed += conn.execute(
                update(table).where(table.c.item_id == row.item_id, table.c.state == PENDING).values(values)
            ).rowcount
    return changed
