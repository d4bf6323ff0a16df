"""The store layer: the migrations build exactly the tables the code describes, on both engines,
and a PostgreSQL database is used only once the setup step has migrated it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from activities.archive import CaseArchive
from channels.sent_log import SentLog
from ops import stores
from settings import PipelineSettings


def test_the_migrations_build_the_tables_the_stores_describe(store_at) -> None:
    location = store_at("all-stores.sqlite3")
    stores.upgrade(location)  # every branch, into one database (as on PostgreSQL)
    stores.upgrade(location)  # and again: nothing to do
    engine = stores.engine_for(location)
    with engine.connect() as conn:
        assert stores.current_revisions(conn) == stores.heads()
        context = MigrationContext.configure(conn, opts={"compare_type": True, "version_table": stores.VERSION_TABLE})
        assert compare_metadata(context, stores.metadata) == []


def test_each_store_lists_every_table_its_migrations_build(tmp_path) -> None:
    """A move copies, and a purge vacuums, the tables in STORE_TABLES: a table a store's migrations
    add without being listed there would be left behind by `ops.migrate_stores`."""
    for store in stores.ALL_STORES:
        location = tmp_path / f"{store}.sqlite3"
        stores.upgrade(location, [store])
        built = set(inspect(stores.engine_for(location)).get_table_names()) - {stores.VERSION_TABLE}
        assert built == {table.name for table in stores.STORE_TABLES[store]}, store
        assert stores.STORE_TABLES[store][0] is stores.TABLES[store]


async def test_a_purge_on_postgresql_rewrites_the_addenda_table_too(postgres) -> None:
    """VACUUM FULL writes a table afresh (a new file): the deleted reply's text is in no file left."""
    from tests.test_case_archive import NOW, record

    url = postgres.new_database()
    stores.upgrade(url)
    archive = CaseArchive(url, retention=timedelta(days=30))
    await archive.archive_case(record("CC-2026-AAAAAA", NOW - timedelta(days=31)))
    archive.append("CC-2026-AAAAAA", "twilio-sms:SM-1", "customer_reply", "sealed reply")

    def file_of(table: str) -> int:
        with stores.engine_for(url).connect() as conn:
            return conn.scalar(text("SELECT relfilenode FROM pg_class WHERE relname = :t"), {"t": table})

    before = file_of("case_record_addenda")
    assert archive.purge_expired(NOW) == ["CC-2026-AAAAAA"]
    assert archive.addenda("CC-2026-AAAAAA") == []
    assert file_of("case_record_addenda") != before


def test_a_postgresql_database_not_yet_migrated_is_refused_with_the_command_to_run(postgres) -> None:
    url = postgres.new_database()
    with pytest.raises(stores.StoreSchemaError, match="python -m ops.stores upgrade"):
        SentLog(url)
    assert stores.main(["upgrade", url]) == 0
    assert SentLog(url).get("k1") is None


def test_settings_put_every_store_in_one_database_or_each_in_its_file(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("COMPLAINTS_DATABASE_URL", raising=False)
    local = PipelineSettings(data_dir=tmp_path)
    assert stores.locate(local, stores.CASE_ARCHIVE) == tmp_path / "archive" / "case-records.sqlite3"
    assert stores.locate(local, stores.SENT_MESSAGES) == tmp_path / "sent-messages.sqlite3"
    secret = tmp_path / "db-password"
    secret.write_text("s3cret\n")
    shared = PipelineSettings(
        data_dir=tmp_path, database_url="postgresql://complaints@db:5432/complaints", database_password_file=secret
    )
    located = {stores.locate(shared, s) for s in stores.ALL_STORES}
    assert located == {"postgresql+psycopg://complaints:s3cret@db:5432/complaints"}
    assert stores.describe(located.pop()) == "postgresql+psycopg://complaints:***@db:5432/complaints"


def test_only_a_row_under_the_same_key_counts_as_already_there(store_at) -> None:
    """Insert-if-absent swallows the key's conflict, never another constraint's failure."""
    from sqlalchemy.exc import IntegrityError

    location = store_at("ledger.sqlite3")
    SentLog(location)  # migrated
    store = stores.open_store(stores.SENT_MESSAGES, location)
    row = {"key": "k1", "channel": "sms", "provider_id": "SM1", "sent_at": datetime.now(UTC), "receipt": "{}"}
    assert store.insert_or_get(row)[0] is True
    inserted, stored = store.insert_or_get(row | {"provider_id": "SM2"})
    assert inserted is False and stored.provider_id == "SM1"
    with pytest.raises(IntegrityError):
        store.insert_or_get(row | {"key": "k2", "channel": None})
    assert store.fetch({"key": "k2"}) is None


def test_insert_if_absent_decides_by_the_key_alone(store_at) -> None:
    """It reads nothing back after an insert, yet still tells a key's conflict (False) from
    another constraint's failure (raised), and leaves the first row as it was."""
    from sqlalchemy.exc import IntegrityError

    location = store_at("ledger.sqlite3")
    SentLog(location)  # migrated
    store = stores.open_store(stores.SENT_MESSAGES, location)
    row = {"key": "k1", "channel": "sms", "provider_id": "SM1", "sent_at": datetime.now(UTC), "receipt": "{}"}
    assert store.insert_if_absent(row) is True
    assert store.insert_if_absent(row | {"provider_id": "SM2"}) is False
    assert store.fetch({"key": "k1"}).provider_id == "SM1"
    with pytest.raises(IntegrityError):
        store.insert_if_absent(row | {"key": "k2", "channel": None})
    assert store.fetch({"key": "k2"}) is None
