"""Copy a single-host deployment's stores (SQLite) into the shared database (PostgreSQL).

    python -m ops.migrate_stores --from sqlite:////srv/complaints/data --to postgresql://complaints@db/complaints

`--from` names the worker's data folder (its `sent-messages.sqlite3`, `billing-ledger.sqlite3` and
`archive/case-records.sqlite3`), or one SQLite file holding all three tables. The target is
migrated first (`ops.stores.upgrade`). The password may be left out of `--to` and given by
`COMPLAINTS_DATABASE_PASSWORD_FILE`.

Idempotent and resumable: rows are copied in key order, in batches, each row inserted only if its
key is absent (the same constraint the workers rely on), so a run cut short is simply run again,
and a run against a database workers are already writing to loses none of their rows. When the
target already holds a key, the target's row stands (a ledger's first record wins), except in the
archive: a newer compliance record from the source replaces an older one, and a record the source
has purged is purged in the target too, so personal data past its retention never comes back.

Counts are checked at the end: every key of each source store must be in the target; the command
exits 1 (and says which store) if one is not. docs/production.md says when to run it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Row, and_, func, insert, select, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from ops import stores

BATCH = 500


@dataclass
class Copied:
    store: str
    source_rows: int = 0
    inserted: int = 0
    updated: int = 0
    missing_in_target: int = 0
    target_rows: int = 0

    def line(self) -> str:
        verdict = "ok" if self.missing_in_target == 0 else f"MISSING {self.missing_in_target} in the target"
        return (
            f"{self.store:13} source {self.source_rows:>7}  copied {self.inserted:>7}  updated {self.updated:>5}"
            f"  target {self.target_rows:>7}  {verdict}"
        )


def source_locations(source: str) -> dict[str, Path]:
    """Each store's SQLite file in the source: a data folder's three files, or one file for all."""
    url = make_url(source)
    if url.get_backend_name() != "sqlite" or not url.database:
        raise ValueError(f"--from must be sqlite:///<data folder or file>, not {source!r}")
    path = Path(url.database)
    if path.is_dir():
        return {store: path / stores.SQLITE_FILES[store] for store in stores.ALL_STORES}
    if path.is_file():
        return {store: path for store in stores.ALL_STORES}
    raise ValueError(f"--from: {path} is neither a data folder nor a SQLite file")


def _rows(source: Path, store: str) -> Iterator[list[Row[Any]]]:
    """The source's rows in key order, a batch at a time (keyset paging: no OFFSET rescans)."""
    table = stores.TABLES[store]
    [key] = table.primary_key.columns
    # engine_for, not a Store: the source is read as it is, not migrated (its workers may be the
    # old code, still running).
    engine = stores.engine_for(source)
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


def copy_store(store: str, source: Path, target: stores.Store) -> Copied:
    result = Copied(store)
    table = stores.TABLES[store]
    [key] = table.primary_key.columns
    if not source.exists():
        return result  # a store this deployment never used (no credit given yet)
    for batch in _rows(source, store):
        result.source_rows += len(batch)
        keys = [row._mapping[key.name] for row in batch]
        with target.engine.connect() as conn:
            existing = {r._mapping[key.name]: r for r in conn.execute(select(table).where(key.in_(keys)))}
        fresh = [dict(row._mapping) for row in batch if row._mapping[key.name] not in existing]
        if fresh:
            try:
                with target.engine.begin() as conn:
                    conn.execute(insert(table), fresh)
                result.inserted += len(fresh)
            except sa_exc.IntegrityError:
                # A worker wrote one of these keys since the look-up: row by row, the key decides.
                result.inserted += sum(target.insert_if_absent(row) for row in fresh)
        if store == stores.CASE_ARCHIVE:
            result.updated += _reconcile_archive(
                [r for r in batch if r._mapping[key.name] in existing], existing, target
            )
    with target.engine.connect() as conn:
        result.target_rows = conn.scalar(select(func.count()).select_from(table)) or 0
    result.missing_in_target = _missing(store, source, target)
    return result


def _reconcile_archive(batch: Sequence[Row[Any]], existing: dict[str, Row[Any]], target: stores.Store) -> int:
    """A case archived in both: the newer record stands; a purge is never undone."""
    table = stores.case_records
    changed = 0
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
            )
            changed += done.rowcount
    if changed:
        target.reclaim_freed_space()
    return changed


def _missing(store: str, source: Path, target: stores.Store) -> int:
    """Source keys the target does not hold (0 when the copy is complete)."""
    table = stores.TABLES[store]
    [key] = table.primary_key.columns
    missing = 0
    for batch in _rows(source, store):
        keys = [row._mapping[key.name] for row in batch]
        with target.engine.connect() as conn:
            found = conn.scalar(select(func.count()).select_from(table).where(key.in_(keys))) or 0
        missing += len(keys) - found
    return missing


def migrate(source: str, target_url: str) -> list[Copied]:
    sources = source_locations(source)
    stores.upgrade(target_url)
    return [copy_store(store, sources[store], stores.open_store(store, target_url)) for store in stores.ALL_STORES]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.migrate_stores", description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="source", required=True, help="sqlite:///<data folder> (or one SQLite file)")
    parser.add_argument("--to", dest="target", required=True, help="postgresql://user@host/database")
    args = parser.parse_args(argv)
    try:
        target = stores.database_url(args.target)
        assert target is not None
        results = migrate(args.source, target.render_as_string(hide_password=False))
    except (ValueError, OSError, sa_exc.SQLAlchemyError) as exc:
        print(f"refused: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    print(f"from {args.source} to {stores.describe(target.render_as_string(hide_password=False))}")
    for result in results:
        print("  " + result.line())
    incomplete = [r.store for r in results if r.missing_in_target]
    if incomplete:
        print(f"incomplete: {', '.join(incomplete)}; run it again", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
