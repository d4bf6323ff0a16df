"""The case archive keeps a compliance record for its retention period, then forgets the customer."""

from datetime import datetime, timedelta, timezone

from activities.archive import CaseArchive, evidence_document
from domain.models import CaseRecord, CaseState
from settings import load_policy
from tests.workflows.harness import intake_at

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


def record(reference: str, at: datetime, name: str = "Gwen Pritchard") -> CaseRecord:
    return CaseRecord(
        reference=reference,
        intake=intake_at(at - timedelta(days=30), name=name),
        state=CaseState(reference=reference),
        policy=load_policy(),
        recorded_at=at,
    )


async def test_records_expire_after_retention_and_lose_their_personal_data(tmp_path) -> None:
    archive = CaseArchive(tmp_path / "archive.sqlite3", retention=timedelta(days=730))
    old = await archive.archive_case(record("CC-2024-AAAAAA", NOW - timedelta(days=731), name="Olwen Expired"))
    await archive.archive_case(record("CC-2026-BBBBBB", NOW - timedelta(days=10)))
    assert old.expires_at == NOW - timedelta(days=1)

    assert archive.purge_expired(NOW) == ["CC-2024-AAAAAA"]
    assert archive.purge_expired(NOW) == []  # nothing twice

    gone, meta = archive.load("CC-2024-AAAAAA")
    assert gone is None and meta["purged_at"]
    kept, _ = archive.load("CC-2026-BBBBBB")
    assert kept is not None and kept.intake.customer.name == "Gwen Pritchard"
    on_disk = b"".join(p.read_bytes() for p in tmp_path.glob("archive.sqlite3*"))
    assert b"Olwen Expired" not in on_disk  # not in the table, the WAL or free pages
    assert b"Gwen Pritchard" in on_disk


async def test_archiving_the_same_case_again_replaces_its_record(tmp_path) -> None:
    archive = CaseArchive(tmp_path / "archive.sqlite3")
    first = record("CC-2026-CCCCCC", NOW)
    await archive.archive_case(first)
    # The same case (same intake) written again later, e.g. at closure after `admin.py evidence`.
    await archive.archive_case(first.model_copy(update={"recorded_at": NOW + timedelta(days=1)}))
    saved, meta = archive.load("CC-2026-CCCCCC")
    assert saved is not None and saved.recorded_at == NOW + timedelta(days=1)
    document = evidence_document(saved, meta)
    assert document["calendar"]["subdivision"] == "ENG" and document["archive"]["expires_at"]


async def test_a_different_case_under_the_same_reference_never_overwrites_the_record(tmp_path) -> None:
    import pytest
    from temporalio.exceptions import ApplicationError

    archive = CaseArchive(tmp_path / "archive.sqlite3")
    await archive.archive_case(record("CC-2026-DDDDDD", NOW, name="Olwen First"))

    with pytest.raises(ApplicationError) as refused:
        await archive.archive_case(record("CC-2026-DDDDDD", NOW + timedelta(days=1), name="Dylan Second"))

    assert refused.value.non_retryable and refused.value.type == "ArchiveReferenceClash"
    kept, _ = archive.load("CC-2026-DDDDDD")
    assert kept is not None and kept.intake.customer.name == "Olwen First"


async def test_a_purged_reference_is_spent_and_never_archived_again(tmp_path) -> None:
    import pytest
    from temporalio.exceptions import ApplicationError

    archive = CaseArchive(tmp_path / "archive.sqlite3", retention=timedelta(days=730))
    await archive.archive_case(record("CC-2024-EEEEEE", NOW - timedelta(days=731)))
    assert archive.purge_expired(NOW) == ["CC-2024-EEEEEE"]

    with pytest.raises(ApplicationError):
        await archive.archive_case(record("CC-2024-EEEEEE", NOW, name="Someone New"))
    assert archive.load("CC-2024-EEEEEE")[0] is None
