"""One store layer for the pipeline's stores, on two engines.

The stores are the sent-message ledger (a retried send does not send twice), the billing ledger (a
credit applies once), the case archive (the compliance record kept past Temporal's retention) and
the inbound queue (vendor events and customer replies, persisted before they are acknowledged).
Each is a table described once here with SQLAlchemy Core, and lives either:

- embedded (the default, for `make run`): its own SQLite file in the worker's data folder, as it
  always has (`sent-messages.sqlite3`, `billing-ledger.sqlite3`, `archive/case-records.sqlite3`,
  `inbound.sqlite3`).
  SQLite's locking holds between processes on one machine only; or
- on PostgreSQL, when `COMPLAINTS_DATABASE_URL=postgresql://...` is set: every table in one
  database that every worker, on any host, and the admin script share.

A store is located by a `Path` (a SQLite file) or a database URL string, so the stores' constructors
keep taking what they took before. The exactly-once promises are database constraints (a primary
key per message key, per credit key, per case reference) used by `insert_if_absent`, never a read
followed by a write, so they hold between hosts as they do between processes.

Schema changes are Alembic migrations (`ops/store_migrations`), one branch per store, which run on
both engines. A SQLite file migrates itself on first use, since nobody runs a setup step for
`make run`; a PostgreSQL database is migrated by the deployment's setup step
(`python -m ops.stores upgrade`) and the stores only check that it was, because a worker fleet
racing to change a shared schema is how deploys go wrong.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import sys
import threading
import time
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    create_engine,
    event,
    insert,
    select,
)
from sqlalchemy import (
    exc as sa_exc,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import QueuePool
from sqlalchemy.types import TypeDecorator

from ops import sqlite_store

# Alembic announces its plugins and context at INFO on every schema check, that is at every worker
# start; what a person needs from it (an error) is WARNING and above.
logging.getLogger("alembic").setLevel(logging.WARNING)

# --- the stores ------------------------------------------------------------------------------------

SENT_MESSAGES = "sent_messages"
BILLING = "billing"
CASE_ARCHIVE = "case_archive"
INBOUND = "inbound"
ALL_STORES = (SENT_MESSAGES, BILLING, CASE_ARCHIVE, INBOUND)

# Where each store's SQLite file lives in the data folder (unchanged from before PostgreSQL, so an
# existing single-host deployment keeps its files and `ops.migrate_stores` finds them).
SQLITE_FILES = {
    SENT_MESSAGES: Path("sent-messages.sqlite3"),
    BILLING: Path("billing-ledger.sqlite3"),
    CASE_ARCHIVE: Path("archive") / "case-records.sqlite3",
    INBOUND: Path("inbound.sqlite3"),
}


class UtcTimestamp(TypeDecorator[datetime]):
    """An aware instant: `timestamptz` on PostgreSQL; on SQLite the ISO 8601 text the files have
    always held, normalised to UTC with microseconds so that text order is time order (the purge
    compares `expires_at` in SQL)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        # SQLAlchemy's own SQLite DateTime drops the offset; the existing files hold ISO text.
        return dialect.type_descriptor(String(40) if dialect.name == "sqlite" else DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Any) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the stores keep aware instants only")
        value = value.astimezone(UTC)
        return value.isoformat(timespec="microseconds") if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
        if value is None:
            return None
        instant: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
        return instant.astimezone(UTC)


metadata = MetaData()

sent_messages = Table(
    "sent_messages",
    metadata,
    # The message key (`<reference>/<sequence>-<kind>-<channel>`): one receipt per key, ever.
    Column("key", Text, primary_key=True),
    Column("channel", Text, nullable=False),
    Column("provider_id", Text),
    Column("sent_at", UtcTimestamp, nullable=False),
    Column("receipt", Text, nullable=False),
)

invoice_credits = Table(
    "invoice_credits",
    metadata,
    # The credit key: a retried credit meets this constraint and is not applied again.
    Column("key", Text, primary_key=True),
    Column("credit_id", Text, nullable=False),
    Column("reference", Text, nullable=False, index=True),
    Column("account_number", Text, nullable=False),
    Column("amount_pence", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("applied_at", UtcTimestamp, nullable=False),
)

case_records = Table(
    "case_records",
    metadata,
    # One compliance record per case reference, kept after Temporal forgets the case: the archive
    # is also what says a reference was used.
    Column("reference", Text, primary_key=True),
    Column("recorded_at", UtcTimestamp, nullable=False),
    Column("expires_at", UtcTimestamp, nullable=False, index=True),
    Column("record", Text),  # NULL once purged: the personal data is gone, the reference stays
    Column("purged_at", UtcTimestamp),
)

# What arrived for a case after its record was archived (a late bounce, a reply to a closed case):
# appended beside the record, never written into it, so the evidence as archived stays as it was.
case_record_addenda = Table(
    "case_record_addenda",
    metadata,
    Column("item_id", Text, primary_key=True),  # the vendor's event id: appended once
    Column("reference", Text, nullable=False, index=True),
    Column("kind", Text, nullable=False),  # "delivery_event" or "customer_reply"
    Column("appended_at", UtcTimestamp, nullable=False),
    Column("body", Text, nullable=False),  # sealed JSON (inbound.sealing): a reply's text is personal data
)

# The inbound service's queue: each verified vendor event or customer reply, written before the
# vendor gets its 2xx, then forwarded to its case. The vendor's own id is the key, so a vendor that
# delivers the same event twice changes nothing the second time.
inbound_items = Table(
    "inbound_items",
    metadata,
    Column("item_id", Text, primary_key=True),
    Column("kind", Text, nullable=False),  # "delivery_event" or "customer_reply"
    Column("received_at", UtcTimestamp, nullable=False),
    Column("body", Text, nullable=False),  # sealed JSON of the DeliveryEvent / CustomerReply
    Column("reference", Text),  # known for events and e-mail replies; found by lookup for SMS
    # "pending" until forwarded; then "signalled", "archived" (case closed), "unmatched" or "orphaned".
    Column("state", Text, nullable=False, index=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UtcTimestamp, nullable=False),
    Column("forwarded_at", UtcTimestamp),
    Column("outcome", Text),
)

# Replies that match no open case: a list for staff (`admin.py replies --unmatched`), never dropped.
unmatched_replies = Table(
    "unmatched_replies",
    metadata,
    Column("reply_id", Text, primary_key=True),
    Column("channel", Text, nullable=False),
    Column("received_at", UtcTimestamp, nullable=False, index=True),
    Column("reason", Text, nullable=False),  # why it matched nothing: for the person who reads it
    Column("body", Text, nullable=False),  # sealed JSON of the CustomerReply
)

TABLES: dict[str, Table] = {
    SENT_MESSAGES: sent_messages,
    BILLING: invoice_credits,
    CASE_ARCHIVE: case_records,
    INBOUND: inbound_items,
}

# Every table of each store, the main one first: what a move copies (`ops.migrate_stores`) and what
# a purge vacuums. A table added by a store's migration is added here, or a move leaves it behind
# (tests/test_stores.py holds this list to the migrations).
STORE_TABLES: dict[str, tuple[Table, ...]] = {
    SENT_MESSAGES: (sent_messages,),
    BILLING: (invoice_credits,),
    CASE_ARCHIVE: (case_records, case_record_addenda),
    INBOUND: (inbound_items, unmatched_replies),
}

# --- locating a store -------------------------------------------------------------------------------

StoreLocation = Path | str

DATABASE_URL_VARIABLE = "COMPLAINTS_DATABASE_URL"
PASSWORD_FILE_VARIABLE = "COMPLAINTS_DATABASE_PASSWORD_FILE"


def location_for(store: str, *, data_dir: Path, database_url: str | None) -> StoreLocation:
    """The database URL when one is configured (every store in it), else the store's SQLite file."""
    if store not in SQLITE_FILES:
        raise ValueError(f"unknown store {store!r}")
    return database_url if database_url else Path(data_dir) / SQLITE_FILES[store]


def locate(settings: Any, store: str) -> StoreLocation:
    """Where a process configured by `settings.PipelineSettings` finds `store`."""
    url = database_url(
        settings.database_url or "",
        str(settings.database_password_file) if settings.database_password_file else "",
    )
    return location_for(
        store,
        data_dir=settings.data_dir,
        database_url=url.render_as_string(hide_password=False) if url else None,
    )


def database_url(url: str | None = None, password_file: str | None = None) -> URL | None:
    """`COMPLAINTS_DATABASE_URL` as SQLAlchemy reads it: `postgresql://` means psycopg 3, and the
    password may come from a file (a compose secret) instead of the URL, so it is in no environment."""
    url = url if url is not None else os.environ.get(DATABASE_URL_VARIABLE) or None
    if not url:
        return None
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    password_file = password_file if password_file is not None else os.environ.get(PASSWORD_FILE_VARIABLE)
    if password_file:
        parsed = parsed.set(password=Path(password_file).read_text().strip())
    if parsed.get_backend_name() not in ("postgresql", "sqlite"):
        raise ValueError(f"{DATABASE_URL_VARIABLE}: only postgresql:// and sqlite:/// are supported")
    return parsed


def describe(location: StoreLocation) -> str:
    """Where a store is, for messages and receipts: never with the password."""
    if isinstance(location, Path):
        return str(location)
    return _url(location).render_as_string(hide_password=True)


def _url(location: StoreLocation) -> URL:
    if isinstance(location, Path):
        return URL.create("sqlite", database=str(location))
    # Taken as given: a URL passed in already carries whatever password it needs.
    parsed = database_url(location, password_file="")
    if parsed is None:
        raise ValueError("an empty database URL")
    return parsed


# --- engines ---------------------------------------------------------------------------------------

# Weak: an engine (and its pooled connections) lives as long as a store uses it, so a process that
# opens many short-lived stores (the tests: one per test folder) does not keep their files open.
_engines: weakref.WeakValueDictionary[tuple[str, float], Engine] = weakref.WeakValueDictionary()
_engines_lock = threading.Lock()


def engine_for(location: StoreLocation, busy_timeout: float = 30.0) -> Engine:
    """One engine per database per process while in use (the stores in one PostgreSQL database share
    its connection pool)."""
    url = _url(location)
    cache_key = (url.render_as_string(hide_password=False), busy_timeout)
    with _engines_lock:
        engine = _engines.get(cache_key)
        if engine is None:
            engine = _sqlite_engine(url, busy_timeout) if url.get_backend_name() == "sqlite" else _postgres_engine(url)
            _engines[cache_key] = engine
        return engine


def _sqlite_engine(url: URL, busy_timeout: float) -> Engine:
    path = Path(url.database or "")
    # The file (and its folder, and WAL mode) is made in one place, sqlite_store, so rules about
    # how a store file is created (permissions, journal mode) are written once.
    sqlite_store.create_file(path, busy_timeout)
    engine = create_engine(
        url,
        # A few connections kept open and handed to one activity thread at a time
        # (check_same_thread=False in sqlite_store.connect): opening one, with its pragmas, cost
        # about as much as the statements of a send.
        poolclass=QueuePool,
        pool_size=4,
        max_overflow=16,
        creator=lambda: sqlite_store.connect(path, busy_timeout),
    )

    # pysqlite's own transaction handling is off (isolation_level=None in sqlite_store.connect), so
    # SQLAlchemy's transactions are real SQLite ones: BEGIN here, COMMIT/ROLLBACK by SQLAlchemy.
    # IMMEDIATE where asked (schema changes): take the write lock first, waiting on busy_timeout,
    # instead of failing when a read lock cannot be upgraded.
    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("sqlite_immediate") else "BEGIN")

    return engine


def _postgres_engine(url: URL) -> Engine:
    return create_engine(
        url,
        # Workers outlive database restarts and failovers: test a pooled connection before use.
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=10,
        connect_args={"connect_timeout": 10, "application_name": "complaints-pipeline"},
    )


def dispose_all() -> None:
    """Close every pooled connection (tests dropping a database; a process about to fork)."""
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


# --- the store handle ------------------------------------------------------------------------------


class StoreSchemaError(RuntimeError):
    """The database's schema is not what this code needs: run the migrations."""


@dataclass
class Store:
    """One store's table in its database, schema checked (or, for SQLite, migrated) on first use."""

    name: str
    location: StoreLocation
    busy_timeout: float = 30.0

    def __post_init__(self) -> None:
        self.table = TABLES[self.name]
        self._engine: Engine | None = None  # held: it keeps the shared engine alive while in use
        self._lock = threading.Lock()
        # Built once, values bound per call: a statement built per call (`insert().values(**row)`,
        # a `where` per key) costs its construction and cache key every time, about as much CPU as
        # SQLite's own work for a ledger insert (issue #15, bench.message_cpu_cuts `ledger_statements`).
        self._insert = insert(self.table)
        self._select_by_key = select(self.table).where(
            *(column == bindparam(f"pk_{column.name}") for column in self.table.primary_key.columns)
        )

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            with self._lock:
                if self._engine is None:
                    engine = engine_for(self.location, self.busy_timeout)
                    ensure_schema(engine, [self.name], self.busy_timeout)
                    self._engine = engine
        return self._engine

    @property
    def is_sqlite(self) -> bool:
        return isinstance(self.location, Path) or _url(self.location).get_backend_name() == "sqlite"

    def describe(self) -> str:
        return describe(self.location)

    def insert_if_absent(self, row: Mapping[str, Any]) -> bool:
        """Insert the row unless one with its primary key exists; True if this call inserted it.

        The same decision as `insert_or_get`, but a row this call inserted is not read back: the
        caller holds what it wrote, and the read cost as much CPU as the insert (issue #15). Only a
        conflict reads, to tell the key's conflict (False) from another constraint's (raised).
        """
        key = {c.name: row[c.name] for c in self.table.primary_key.columns}
        with self.engine.connect() as conn:
            try:
                with conn.begin():
                    conn.execute(self._insert, dict(row))
                return True
            except sa_exc.IntegrityError as exc:
                conflict = exc
            stored = conn.execute(self._select_by_key, self._key_params(key)).first()
            conn.rollback()
        if stored is None:
            raise conflict
        return False

    def insert_or_get(self, row: Mapping[str, Any]) -> tuple[bool, Any]:
        """Insert the row unless one with its primary key exists; (inserted by this call, the row
        stored under the key, whoever wrote it).

        The primary key decides, in the database: of two workers racing (on one host or two), one
        inserts and the other meets the constraint. Portable: no dialect's ON CONFLICT spelling. The
        insert is its own transaction, so a conflict on PostgreSQL aborts nothing else; the read
        that follows uses the same connection (one connect, or one pooled checkout, per call).
        """
        key = {c.name: row[c.name] for c in self.table.primary_key.columns}
        with self.engine.connect() as conn:
            conflict: sa_exc.IntegrityError | None = None
            try:
                with conn.begin():
                    conn.execute(self._insert, dict(row))
            except sa_exc.IntegrityError as exc:
                conflict = exc
            stored = conn.execute(self._select_by_key, self._key_params(key)).first()
            conn.rollback()
        if stored is None:
            # Another constraint (a NOT NULL) fails the same way: only a row with this key makes a
            # duplicate; anything else is the caller's bug, and it is raised.
            raise conflict or RuntimeError(f"{self.table.name}: nothing stored under {key} after inserting it")
        return conflict is None, stored

    def _key_params(self, key: Mapping[str, Any]) -> dict[str, Any]:
        """The values for `_select_by_key`: every primary-key column, by name."""
        return {f"pk_{column.name}": key[column.name] for column in self.table.primary_key.columns}

    def reclaim_freed_space(self) -> None:
        """Make data just deleted from this store unreadable in the database's files.

        How is the engine's business, so it is the one place here that differs by engine. SQLite:
        every connection has secure_delete on (freed pages are zeroed), then the WAL, which still
        holds the old page images, is checkpointed and truncated and the file vacuumed. PostgreSQL:
        an UPDATE leaves the old row version in the table file until vacuumed, and only VACUUM FULL
        rewrites the table (and its TOAST) without it; it locks the table for the moment it takes.
        Old versions in PostgreSQL's WAL and in backups age out under the server's own retention.
        """
        if self.is_sqlite:
            # On the driver's own connection: VACUUM runs outside any transaction.
            raw = self.engine.raw_connection()
            try:
                sqlite = raw.driver_connection
                assert sqlite is not None  # None only once the pool has invalidated it
                sqlite.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                sqlite.execute("VACUUM")
            finally:
                raw.close()
        else:
            # Every table of the store: a purge deletes from the side tables too (the archive's
            # addenda, the inbound queue's unmatched replies).
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                for table in STORE_TABLES[self.name]:
                    conn.exec_driver_sql(f"VACUUM FULL {table.name}")

    def fetch(self, key: Mapping[str, Any]) -> Any:
        """The row with this primary key, or None."""
        with self.engine.connect() as conn:
            return conn.execute(self._select_by_key, self._key_params(key)).first()


def open_store(name: str, location: StoreLocation, busy_timeout: float = 30.0) -> Store:
    return Store(name, location if isinstance(location, str) else Path(location), busy_timeout)


# --- schema ----------------------------------------------------------------------------------------

MIGRATIONS = Path(__file__).resolve().parent / "store_migrations"
VERSION_TABLE = "store_schema_version"


def _alembic_config(conn: Connection) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    return config


def heads(stores: Iterable[str] = ALL_STORES) -> set[str]:
    """The newest revision of each store's migration branch."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory(str(MIGRATIONS))
    return {script.get_revision(f"{store}@head").revision for store in stores}


def current_revisions(conn: Connection) -> set[str]:
    from alembic.runtime.migration import MigrationContext

    context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
    return set(context.get_current_heads())


def upgrade(location: StoreLocation, stores: Iterable[str] = ALL_STORES, busy_timeout: float = 30.0) -> None:
    """Bring the stores' tables in this database to the newest schema; safe to run again."""
    engine = engine_for(location, busy_timeout)
    stores = list(stores)
    if engine.dialect.name == "sqlite":
        _retry_while_locked(lambda: _upgrade(engine, stores), busy_timeout)
    else:
        _upgrade(engine, stores)


def _upgrade(engine: Engine, stores: list[str]) -> None:
    from alembic import command

    with engine.connect().execution_options(sqlite_immediate=True) as conn, conn.begin():
        for store in stores:
            command.upgrade(_alembic_config(conn), f"{store}@head")


def ensure_schema(engine: Engine, stores: list[str], busy_timeout: float = 30.0) -> None:
    needed = heads(stores)
    with engine.connect() as conn:
        missing = needed - current_revisions(conn)
    if not missing:
        return
    if engine.dialect.name == "sqlite":
        # Embedded: nobody runs a setup step for `make run`, so the file migrates itself (under
        # SQLite's write lock, so workers starting together do it once).
        _retry_while_locked(lambda: _upgrade(engine, stores), busy_timeout)
        return
    raise StoreSchemaError(
        f"the stores' schema in {engine.url.render_as_string(hide_password=True)} lacks revisions "
        f"{sorted(missing)}: run `python -m ops.stores upgrade` (compose's setup step does)"
    )


def _retry_while_locked(action: Any, busy_timeout: float) -> None:
    # A schema change on a file another process is setting up can fail at once with "locked"
    # (SQLite does not wait on a lock held across a schema change); it then finds the work done.
    deadline = time.monotonic() + busy_timeout
    delay = 0.01
    while True:
        try:
            action()
            return
        except (sa_exc.OperationalError, sqlite3.OperationalError) as exc:
            text = str(exc)
            if ("locked" not in text and "busy" not in text) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


def main(argv: list[str] | None = None) -> int:
    """`python -m ops.stores upgrade [URL]`: the deployment's setup step for the stores' schema."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m ops.stores", description=main.__doc__)
    parser.add_argument("command", choices=["upgrade", "check"])
    parser.add_argument(
        "url",
        nargs="?",
        help=f"database URL (default: {DATABASE_URL_VARIABLE}, password from {PASSWORD_FILE_VARIABLE})",
    )
    parser.add_argument("--wait", type=float, default=0, help="seconds to wait for the database to accept connections")
    args = parser.parse_args(argv)
    url = database_url(args.url)
    if url is None:
        parser.error(f"give a database URL or set {DATABASE_URL_VARIABLE}")
    location = url.render_as_string(hide_password=False)
    deadline = time.monotonic() + args.wait
    while True:
        try:
            if args.command == "upgrade":
                upgrade(location)
            else:
                ensure_schema(engine_for(location), list(ALL_STORES))
            break
        except StoreSchemaError as exc:
            print(f"refused: {exc}", file=sys.stderr)
            return 1
        except sa_exc.OperationalError as exc:
            if time.monotonic() > deadline:
                print(f"refused: {describe(location)}: {str(exc.orig or exc).splitlines()[0]}", file=sys.stderr)
                return 1
            print(f"waiting for the database: {str(exc.orig or exc).splitlines()[0]}", flush=True)
            dispose_all()
            time.sleep(2)
    print(f"stores schema at {sorted(heads())} in {describe(location)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
