"""A case reference is never reused: wide enough not to collide, and checked against every store
that outlives Temporal's retention before a case is opened under it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

import starter
from activities.archive import CaseArchive
from activities.billing import BillingActivities
from channels.sent_log import SentLog
from domain.models import CaseRecord, CaseState, ChannelKind, DeliveryReceipt, InvoiceCredit
from domain.reference import ALPHABET, CODE_LENGTH, is_reference, new_reference, reference_for_intake
from ops.reference_registry import ReferenceRegistry
from settings import REPO, load_policy

EXAMPLE = REPO / "examples" / "broadband-outage-email.json"
COMPLAINTS_A_YEAR = 50_000


def test_the_code_is_wide_enough_that_a_years_references_do_not_collide() -> None:
    codes = len(ALPHABET) ** CODE_LENGTH
    expected_pairs = COMPLAINTS_A_YEAR * (COMPLAINTS_A_YEAR - 1) / 2 / codes
    assert expected_pairs < 0.01  # six characters gave 1.4 a year
    reference = new_reference(2026)
    assert len(reference.split("-")[2]) == CODE_LENGTH == 8 and is_reference(reference)
    assert is_reference("CC-2026-4F7K2Q")  # references issued before the widening stay valid


def _intake(intake_id: str | None = None):  # noqa: ANN202
    intake = starter.parse_intake(EXAMPLE.read_text())
    return intake.model_copy(update={"intake_id": intake_id})


async def _exists(env: WorkflowEnvironment, reference: str) -> bool:
    try:
        await env.client.get_workflow_handle(reference).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


@pytest.mark.parametrize("store", ["sent-message ledger", "billing ledger", "archive"])
async def test_a_reference_a_store_has_seen_is_never_given_to_a_new_case(
    time_skipping_env: WorkflowEnvironment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: str
) -> None:
    # Temporal has forgotten the old case (past retention); only the stores remember it.
    spent, fresh = f"CC-2026-{uuid.uuid4().hex[:8].upper()}", f"CC-2026-{uuid.uuid4().hex[:8].upper()}"
    data = tmp_path / "data"
    if store == "sent-message ledger":
        SentLog(data / "sent-messages.sqlite3").record(
            DeliveryReceipt(
                key=f"{spent}/001-acknowledgement-email", channel=ChannelKind.EMAIL, sent_at=datetime.now(UTC)
            )
        )
    elif store == "billing ledger":
        await BillingActivities(data / "billing-ledger.sqlite3").credit_invoice(
            InvoiceCredit(
                key=f"{spent}/credit", reference=spent, account_number="ISS-1", amount_gbp=Decimal("5"), reason="x"
            )
        )
    else:
        old = _intake("an-older-intake")
        await CaseArchive(data / "archive" / "case-records.sqlite3").archive_case(
            CaseRecord(
                reference=spent,
                intake=old,
                state=CaseState(reference=spent),
                policy=load_policy(),
                recorded_at=datetime.now(UTC) - timedelta(days=400),
            )
        )
    drawn = iter([spent, fresh])
    monkeypatch.setattr(starter, "new_reference", lambda year: next(drawn))

    filed = await starter.file_complaint(
        time_skipping_env.client,
        _intake(),
        policy=load_policy(),
        task_queue=f"refs-{uuid.uuid4().hex[:8]}",
        registry=ReferenceRegistry(data),
    )

    assert (filed.reference, filed.started) == (fresh, True)
    assert not await _exists(time_skipping_env, spent)


async def test_an_intake_retried_after_retention_gets_its_archived_case_back(
    time_skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    intake_id = f"crm-{uuid.uuid4().hex}"
    intake = _intake(intake_id)
    year = intake.received_at.year
    reference = reference_for_intake(year, intake_id)
    data = tmp_path / "data"
    await CaseArchive(data / "archive" / "case-records.sqlite3").archive_case(
        CaseRecord(
            reference=reference,
            intake=intake,
            state=CaseState(reference=reference),
            policy=load_policy(),
            recorded_at=datetime.now(UTC) - timedelta(days=90),
        )
    )

    filed = await starter.file_complaint(
        time_skipping_env.client,
        intake,
        policy=load_policy(),
        task_queue=f"refs-{uuid.uuid4().hex[:8]}",
        registry=ReferenceRegistry(data),
    )

    assert (filed.reference, filed.started) == (reference, False)
    assert not await _exists(time_skipping_env, reference)  # nothing new was opened


def test_the_registry_sees_nothing_in_an_empty_data_folder_and_creates_nothing(tmp_path: Path) -> None:
    assert ReferenceRegistry(tmp_path / "data").find("CC-2026-4F7K2QXY") is None
    assert not (tmp_path / "data").exists()


def _sent(data: Path, reference: str) -> None:
    receipt = DeliveryReceipt(
        key=f"{reference}/001-acknowledgement-email", channel=ChannelKind.EMAIL, sent_at=datetime.now(UTC)
    )
    SentLog(data / "sent-messages.sqlite3").record(receipt)


def test_one_registry_sees_every_use_recorded_after_it_first_looked(tmp_path: Path) -> None:
    # An intake system keeps one registry for complaint after complaint: its kept connections must
    # see a store that appears later, and each commit made after they were opened.
    data = tmp_path / "data"
    registry = ReferenceRegistry(data)
    first, second = "CC-2026-4F7K2QXY", "CC-2026-9H3M7RTW"
    assert registry.find(first) is None  # no store yet
    _sent(data, first)
    assert registry.find(first) is not None
    assert registry.find(second) is None
    _sent(data, second)
    assert registry.find(second) is not None
    registry.close()


def test_the_registry_opens_each_store_once_however_many_references_it_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    data = tmp_path / "data"
    _sent(data, "CC-2026-4F7K2QXY")
    opened: list[str] = []
    connect = sqlite3.connect

    def counted(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        opened.append(str(args[0]))
        return connect(*args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", counted)
    registry = ReferenceRegistry(data)
    for n in range(50):
        registry.find(f"CC-2026-{n:08d}")
    assert len(opened) == 1, opened  # the ledger; the archive and billing stores do not exist
    registry.close()


async def test_an_intake_filed_under_a_six_character_reference_is_found_after_the_widening(
    time_skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    from domain.models import CaseInput
    from domain.reference import legacy_reference_for_intake
    from workflows.complaint_case import ComplaintCase

    intake_id = f"crm-{uuid.uuid4().hex}"
    intake = _intake(intake_id)
    legacy = legacy_reference_for_intake(intake.received_at.year, intake_id)
    queue = f"refs-{uuid.uuid4().hex[:8]}"
    # Filed by the previous release (no worker needed: the case only has to exist).
    await time_skipping_env.client.start_workflow(
        ComplaintCase.run, CaseInput(reference=legacy, intake=intake, policy=load_policy()), id=legacy, task_queue=queue
    )

    filed = await starter.file_complaint(
        time_skipping_env.client, intake, policy=load_policy(), task_queue=queue, registry=ReferenceRegistry(tmp_path)
    )

    assert (filed.reference, filed.started) == (legacy, False)
    assert not await _exists(time_skipping_env, reference_for_intake(intake.received_at.year, intake_id))
    await time_skipping_env.client.get_workflow_handle(legacy).terminate("test clean-up")


def test_a_store_that_cannot_be_read_stops_the_filing_rather_than_risk_a_reused_reference(tmp_path: Path) -> None:
    from ops.reference_registry import ReferenceRegistryError

    data = tmp_path / "data"
    data.mkdir()
    (data / "sent-messages.sqlite3").write_bytes(b"this is not a database" * 100)

    with pytest.raises(ReferenceRegistryError, match="cannot read"):
        ReferenceRegistry(data).find("CC-2026-4F7K2QXY")
