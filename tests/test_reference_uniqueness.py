"""A case reference is never used twice, even after Temporal has forgotten the first case: the
starter asks the case archive (the same store the workers write, on either engine)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.service import RPCError

import starter
from activities.archive import CaseArchive
from domain.reference import reference_for_intake
from settings import load_policy
from tests.test_case_archive import record
from tests.workflows.harness import intake_at

NOW = datetime.now(UTC)


def archived(archive: CaseArchive, reference: str, intake_id: str | None, *, at: datetime = NOW) -> None:
    case = record(reference, at)
    case = case.model_copy(update={"intake": case.intake.model_copy(update={"intake_id": intake_id})})
    archive._archive(case)


async def test_a_reference_the_archive_holds_is_not_used_again(store_at, time_skipping_env, monkeypatch) -> None:
    client, policy, queue = time_skipping_env.client, load_policy(), f"refs-{uuid.uuid4().hex[:8]}"
    archive = CaseArchive(store_at("archive.sqlite3"), retention=timedelta(days=730))
    run = uuid.uuid4().hex[:8]
    year = NOW.year

    def intake(intake_id: str | None):  # noqa: ANN202
        return intake_at(NOW).model_copy(update={"intake_id": intake_id})

    # Filed before and archived (Temporal may have forgotten it): the same case, nothing started.
    mine = f"web-{run}-archived"
    archived(archive, reference_for_intake(year, mine), mine)
    again = await starter.file_complaint(client, intake(mine), policy=policy, task_queue=queue, archive=archive)
    assert (again.reference, again.started) == (reference_for_intake(year, mine), False)
    with pytest.raises(RPCError):
        await client.get_workflow_handle(again.reference).describe()

    # Another case's reference, and a purged record's: the new complaint gets a salted reference.
    for taken in (f"web-{run}-taken", f"web-{run}-purged"):
        archived(archive, reference_for_intake(year, taken), "someone-else", at=NOW - timedelta(days=800))
    assert len(archive.purge_expired()) == 2
    for taken in (f"web-{run}-taken", f"web-{run}-purged"):
        filed = await starter.file_complaint(client, intake(taken), policy=policy, task_queue=queue, archive=archive)
        assert (filed.reference, filed.started) == (reference_for_intake(year, taken + "#1"), True)

    # A random reference (no intake id) the archive holds is drawn again.
    drawn = iter([reference_for_intake(year, f"x-{run}-1"), reference_for_intake(year, f"x-{run}-2")])
    monkeypatch.setattr(starter, "new_reference", lambda year: next(drawn))
    archived(archive, reference_for_intake(year, f"x-{run}-1"), None)
    filed = await starter.file_complaint(client, intake(None), policy=policy, task_queue=queue, archive=archive)
    assert (filed.reference, filed.started) == (reference_for_intake(year, f"x-{run}-2"), True)

    # Without the archive the check is Temporal's alone, which no longer knows the archived case:
    # its reference is handed out again. The gap the archive closes.
    reused = await starter.file_complaint(client, intake(taken), policy=policy, task_queue=queue)
    assert (reused.reference, reused.started) == (reference_for_intake(year, taken), True)
