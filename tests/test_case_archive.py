"""The case archive keeps a compliance record for its retention period, then forgets the customer."""

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from activities.archive import CaseArchive, evidence_document
from domain.models import CaseRecord, CaseState
from settings import load_policy
from tests.workflows.harness import intake_at

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def record(reference: str, at: datetime, name: str = "Gwen Pritchard") -> CaseRecord:
    return CaseRecord(
        reference=reference,
        # One complaint per name: the same case written again (later) has the same intake, as a
        # case's records do; another name under the same reference is another case.
        intake=intake_at(datetime(2024, 1, 2, 10, 0, tzinfo=UTC), name=name),
        state=CaseState(reference=reference),
        policy=load_policy(),
        recorded_at=at,
    )


def bytes_on_disk(location) -> bytes:
    """Every byte of the archive's files: the SQLite file and its WAL, or the PostgreSQL table's
    files (heap and TOAST), read from the cluster's data folder."""
    if isinstance(location, Path):
        return b"".join(p.read_bytes() for p in location.parent.glob(location.name + "*"))
    url = make_url(location)
    with psycopg.connect(host=url.host, port=url.port, user=url.username, dbname=url.database) as conn:
        conn.execute("CHECKPOINT")  # the table's pages reach its files
        data_dir = conn.execute("SHOW data_directory").fetchone()[0]
        files = conn.execute(
            "SELECT pg_relation_filepath(c.oid), pg_relation_filepath(c.reltoastrelid)"
            " FROM pg_class c WHERE c.relname = 'case_records'"
        ).fetchone()
    return b"".join(p.read_bytes() for f in files if f for p in Path(data_dir).glob(f + "*"))


def store_uncompressed(location) -> None:
    """PostgreSQL compresses a long record in TOAST, which would hide a name from a byte search
    whether or not it was deleted; stored uncompressed, the search means something."""
    if isinstance(location, Path):
        return
    url = make_url(location)
    with psycopg.connect(host=url.host, port=url.port, user=url.username, dbname=url.database) as conn:
        conn.execute("ALTER TABLE case_records ALTER COLUMN record SET STORAGE EXTERNAL")


async def test_records_expire_after_retention_and_lose_their_personal_data(store_at) -> None:
    location = store_at("archive.sqlite3")
    store_uncompressed(location)
    archive = CaseArchive(location, retention=timedelta(days=730))
    old = await archive.archive_case(record("CC-2024-AAAAAA", NOW - timedelta(days=731), name="Olwen Expired"))
    await archive.archive_case(record("CC-2026-BBBBBB", NOW - timedelta(days=10)))
    assert old.expires_at == NOW - timedelta(days=1)
    assert b"Olwen Expired" in bytes_on_disk(location)  # the search below can see a name

    assert archive.purge_expired(NOW) == ["CC-2024-AAAAAA"]
    assert archive.purge_expired(NOW) == []  # nothing twice

    gone, meta = archive.load("CC-2024-AAAAAA")
    assert gone is None and meta["purged_at"]
    assert archive.holds("CC-2024-AAAAAA")  # the reference is still known to be used
    kept, _ = archive.load("CC-2026-BBBBBB")
    assert kept is not None and kept.intake.customer.name == "Gwen Pritchard"
    on_disk = bytes_on_disk(location)
    assert b"Olwen Expired" not in on_disk  # not in the table, the WAL, free pages or old row versions
    assert b"Gwen Pritchard" in on_disk


async def test_archiving_the_same_case_again_replaces_its_record(store_at) -> None:
    archive = CaseArchive(store_at("archive.sqlite3"))
    first = record("CC-2026-CCCCCC", NOW)
    await archive.archive_case(first)
    # The same case (same intake) written again later, e.g. at closure after `admin.py evidence`.
    await archive.archive_case(first.model_copy(update={"recorded_at": NOW + timedelta(days=1)}))
    saved, meta = archive.load("CC-2026-CCCCCC")
    assert saved is not None and saved.recorded_at == NOW + timedelta(days=1)
    assert meta["expires_at"] == (NOW + timedelta(days=731)).isoformat()
    document = evidence_document(saved, meta)
    assert document["calendar"]["subdivision"] == "ENG" and document["archive"]["expires_at"]


async def test_a_different_case_under_the_same_reference_never_overwrites_the_record(store_at) -> None:
    import pytest
    from temporalio.exceptions import ApplicationError

    archive = CaseArchive(store_at("archive.sqlite3"))
    await archive.archive_case(record("CC-2026-DDDDDD", NOW, name="Olwen First"))

    with pytest.raises(ApplicationError) as refused:
        await archive.archive_case(record("CC-2026-DDDDDD", NOW + timedelta(days=1), name="Dylan Second"))

    assert refused.value.non_retryable and refused.value.type == "ArchiveReferenceClash"
    kept, _ = archive.load("CC-2026-DDDDDD")
    assert kept is not None and kept.intake.customer.name == "Olwen First"


async def test_a_purged_reference_is_spent_and_never_archived_again(store_at) -> None:
    import pytest
    from temporalio.exceptions import ApplicationError

    archive = CaseArchive(store_at("archive.sqlite3"), retention=timedelta(days=730))
    await archive.archive_case(record("CC-2024-EEEEEE", NOW - timedelta(days=731)))
    assert archive.purge_expired(NOW) == ["CC-2024-EEEEEE"]

    with pytest.raises(ApplicationError):
        await archive.archive_case(record("CC-2024-EEEEEE", NOW, name="Someone New"))
    assert archive.load("CC-2024-EEEEEE")[0] is None


async def test_two_purges_at_once_purge_each_record_once(store_at) -> None:
    """The admin's purge run from two hosts at once: every expired record purged, each reported by
    one of them."""
    location = store_at("archive.sqlite3")
    archive = CaseArchive(location, retention=timedelta(days=1))
    expired = [f"CC-2024-{n:06d}" for n in range(30)]
    for reference in expired:
        await archive.archive_case(record(reference, NOW - timedelta(days=5)))
    with ThreadPoolExecutor(2) as pool:
        reports = list(
            pool.map(lambda _: CaseArchive(location, retention=timedelta(days=1)).purge_expired(NOW), range(2))
        )
    assert sorted(reports[0] + reports[1]) == expired
    assert not set(reports[0]) & set(reports[1])
