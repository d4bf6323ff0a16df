"""Copy a single-host deployment's stores (SQLite) into the shared database (PostgreSQL).

    python -m ops.migrate_stores --from sqlite:////srv/complaints/data --to postgresql://complaints@db/complaints

`--from` names the worker's data folder (its `sent-messages.sqlite3`, `billing-ledger.sqlite3`,
`archive/case-records.sqlite3` and `inbound.sqlite3`: `ops.stores.SQLITE_FILES`), or one SQLite
file holding every table. Every table of every store is copied (`ops.stores.STORE_TABLES`): the
ledgers, the case records and their addenda (what arrived after a case closed), the inbound queue
and its unmatched replies. A source file from before a table existed has none of its rows. The
target is migrated first (`ops.stores.upgrade`). The password may be left out of `--to` and given
by `COMPLAINTS_DATABASE_PASSWORD_FILE`.

Idempotent and resumable: rows are copied table by table in key order, in batches, each row
inserted only if its key is absent (the same constraint the workers rely on), so a run cut short is
simply run again, and a run against a database workers are already writing to loses none of their
rows. When the target already holds a key, the target's row stands (a ledger's first record wins),
except where `ops.migrate_rules` says otherwise: a newer compliance record from the source replaces
an older one; a record the source has purged is purged in the target too, and its addenda and
inbound rows go with it; an inbound item the source has since forwarded is settled in the target
too. Rows a purge deleted or would delete (a case purged in the target; inbound rows past the
retention, `COMPLAINTS_ARCHIVE_RETENTION_DAYS` as `admin.py purge-expired` reads it) are withheld,
so personal data past its retention never comes back.

Counts are checked at the end, per table: every key of each source table that is not withheld must
be in the target; the command exits 1 (and names each table that is short) if one is not.
docs/production.md says when to run it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Row, Table, func, insert, inspect, select
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from ops import migrate_rules, stores
from settings import PipelineSettings

BATCH = 500


@dataclass
class Copied:
    table: str
    source_rows: int = 0
    inserted: int = 0
    updated: int = 0
    withheld: int = 0  # purged, or past the retention (ops.migrate_rules): never copied
    missing_in_target: int = 0
    target_rows: int = 0

    def line(self) -> str:
        verdict = "ok" if self.missing_in_target == 0 else f"MISSING {self.missing_in_target} in the target"
        return (
            f"{self.table:19} source {self.source_rows:>7}  copied {self.inserted:>7}  updated {self.updated:>5}"
            f"  withheld {self.withheld:>5}  target {self.target_rows:>7}  {verdict}"
        )


def source_locations(source: str) -> dict[str, Path]:
    """Each store's SQLite file in the source: a data folder's files, or one file for all."""
    url = make_url(source)
    if url.get_backend_name() != "sqlite" or not url.database:
        raise ValueError(f"--from must be sqlite:///<data folder or file>, not {source!r}")
    path = Path(url.database)
    if path.is_dir():
        return {store: path / stores.SQLITE_FILES[store] for store in stores.ALL_STORES}
    if path.is_file():
        return {store: path for store in stores.ALL_STORES}
    raise ValueError(f"--from: {path} is neither a data folder nor a SQLite file")


def _rows(source: Path, table: Table) -> Iterator[list[Row[Any]]]:
    """The source's rows in key order, a batch at a time (keyset paging: no OFFSET rescans)."""
    [key] = table.primary_key.columns
    # engine_for, not a Store: the source is read as it is, not migrated (its workers may be the
    # old code, still running), so a file from before a table existed simply has none of its rows.
    engine = stores.engine_for(source)
    if not inspect(engine).has_table(table.name):
        return
    after: Any = None
    while True:
        query = select(table).order_by(key).limit(BATCH)
        if after is not None:
            query = query.where(key > after)
        with engine.connect() as conn:
            batch = list(conn.execute(query))
        if not batch:
            return
        yield batch
        after = batch[-1]._mapping[key.name]


def copy_store(store: str, source: Path, target: stores.Store, cutoff: datetime) -> list[Copied]:
    """Every table of the store, the main one first (its purges decide what the others withhold)."""
    if not source.exists():
        # A store this deployment never used (no credit given yet).
        return [Copied(table.name) for table in stores.STORE_TABLES[store]]
    return [copy_table(table, source, target, cutoff) for table in stores.STORE_TABLES[store]]


def copy_table(table: Table, source: Path, target: stores.Store, cutoff: datetime) -> Copied:
    result = Copied(table.name)
    [key] = table.primary_key.columns
    for batch in _rows(source, table):
        result.source_rows += len(batch)
        keys = [row._mapping[key.name] for row in batch]
        with target.engine.connect() as conn:
            existing = {r._mapping[key.name]: r for r in conn.execute(select(table).where(key.in_(keys)))}
            withheld = migrate_rules.withheld(table, batch, conn, cutoff)
        result.withheld += len(withheld)
        batch = [row for row in batch if row._mapping[key.name] not in withheld]
        fresh = [dict(row._mapping) for row in batch if row._mapping[key.name] not in existing]
        if fresh:
            try:
                with target.engine.begin() as conn:
                    conn.execute(insert(table), fresh)
                result.inserted += len(fresh)
            except sa_exc.IntegrityError:
                # A worker wrote one of these keys since the look-up: row by row, the key decides.
                result.inserted += sum(_insert_if_absent(target, table, row) for row in fresh)
        both = [row for row in batch if row._mapping[key.name] in existing]
        result.updated += migrate_rules.reconcile(table, both, existing, target)
    with target.engine.connect() as conn:
        result.target_rows = conn.scalar(select(func.count()).select_from(table)) or 0
    result.missing_in_target = _missing(table, source, target, cutoff)
    return result


def _insert_if_absent(target: stores.Store, table: Table, row: dict[str, Any]) -> bool:
    """`Store.insert_if_absent` for any table of the store (the key decides, in the database)."""
    try:
        with target.engine.begin() as conn:
            conn.execute(insert(table).values(row))
    except sa_exc.IntegrityError:
        return False
    return True


def _missing(table: Table, source: Path, target: stores.Store, cutoff: datetime) -> int:
    """Source keys the target does not hold and should (0 when the copy is complete)."""
    [key] = table.primary_key.columns
    missing = 0
    for batch in _rows(source, table):
        with target.engine.connect() as conn:
            withheld = migrate_rules.withheld(table, batch, conn, cutoff)
            keys = [row._mapping[key.name] for row in batch if row._mapping[key.name] not in withheld]
            found = conn.scalar(select(func.count()).select_from(table).where(key.in_(keys))) or 0
        missing += len(keys) - found
    return missing


def migrate(source: str, target_url: str, retention: timedelta) -> list[Copied]:
    sources = source_locations(source)
    stores.upgrade(target_url)
    # The inbound purge's cutoff, as `admin.py purge-expired` would take it now.
    cutoff = datetime.now(UTC) - retention
    results: list[Copied] = []
    for store in stores.ALL_STORES:
        # ALL_STORES has the archive before the inbound queue: its purges reach the target first.
        results += copy_store(store, sources[store], stores.open_store(store, target_url), cutoff)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.migrate_stores", description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="source", required=True, help="sqlite:///<data folder> (or one SQLite file)")
    parser.add_argument("--to", dest="target", required=True, help="postgresql://user@host/database")
    args = parser.parse_args(argv)
    try:
        target = stores.database_url(args.target)
        assert target is not None
        # The deployment's own retention (COMPLAINTS_ARCHIVE_RETENTION_DAYS), as its purge reads it.
        retention = timedelta(days=PipelineSettings().archive_retention_days)
        results = migrate(args.source, target.render_as_string(hide_password=False), retention)
    except (ValueError, OSError, sa_exc.SQLAlchemyError) as exc:
        print(f"refused: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    print(f"from {args.source} to {stores.describe(target.render_as_string(hide_password=False))}")
    for result in results:
        print("  " + result.line())
    incomplete = [r.table for r in results if r.missing_in_target]
    if incomplete:
        print(f"incomplete: {', '.join(incomplete)}; run it again", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
