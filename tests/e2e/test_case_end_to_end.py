"""One complaint from intake to closure, through the scripts a person would run."""

from __future__ import annotations

import asyncio
import email
import json
import uuid
from datetime import UTC, datetime

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from domain.reference import is_reference
from settings import REPO, load_policy
from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e
EXAMPLE = REPO / "examples" / "broadband-outage-email.json"


def fresh_example(intake_id: str | None = None) -> str:
    data = json.loads(EXAMPLE.read_text())
    data["received_at"] = datetime.now(UTC).isoformat()
    if intake_id is None:
        data.pop("intake_id", None)
    else:
        data["intake_id"] = intake_id
    return json.dumps(data)


def test_a_complaint_is_filed_acknowledged_and_closed_through_the_scripts(stack: Stack) -> None:
    filed = stack.run("starter.py", "-", stdin=fresh_example())
    assert filed.returncode == 0, filed.stderr
    reference = filed.stdout.strip().splitlines()[-1]
    assert is_reference(reference)

    status = stack.wait_for(reference, lambda d: d["stage"] != "received")
    assert status["reference"] == reference
    assert status["stage"] in ("acknowledged", "investigating")
    assert status["owner"] and status["escalation_level"] == 0
    milestones = {m["name"]: m for m in status["milestones"]}
    assert set(milestones) >= {"acknowledgement", "introduction", "review", "adr_rights"}
    ack = milestones["acknowledgement"]
    assert ack["done_at"] is not None
    assert datetime.fromisoformat(ack["done_at"]) <= datetime.fromisoformat(ack["due_at"])
    assert datetime.fromisoformat(ack["due_at"]).tzinfo is not None

    # What the customer received is in the outbox, exactly as sent.
    emails = list((stack.data_dir / "outbox" / reference).glob("*acknowledgement*.eml"))
    assert len(emails) == 1
    message = email.message_from_bytes(emails[0].read_bytes())
    assert reference in message["Subject"]
    assert message["To"].endswith("gwen.pritchard@example.com>") or "gwen.pritchard@example.com" in message["To"]

    note = stack.run("admin.py", "note", reference, "Engineer booked for Friday")
    assert note.returncode == 0, note.stderr

    closed = stack.run("admin.py", "satisfied", reference, "--how", "email")
    assert closed.returncode == 0, closed.stderr
    status = stack.wait_for(reference, lambda d: d["stage"] == "closed")
    assert status["stage"] == "closed"
    assert any(m["kind"] == "closure" and m["status"] == "sent" for m in status["messages"])

    again = stack.run("admin.py", "satisfied", reference, "--how", "email")
    assert again.returncode == 1
    assert "is closed" in again.stderr


def test_the_same_intake_filed_twice_opens_one_case(stack: Stack) -> None:
    complaint = fresh_example(intake_id=f"web-{datetime.now().timestamp()}")
    first = stack.run("starter.py", "-", stdin=complaint)
    second = stack.run("starter.py", "-", stdin=complaint)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert first.stdout.splitlines()[-1] == second.stdout.splitlines()[-1]
    assert "filed before" in second.stdout


def test_another_intake_whose_reference_clashes_gets_its_own_case(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two intake ids hashing to one reference (1 in 10^9 in life): the case's own input tells a
    # retried intake from a different one, and the second complaint is filed under a salted reference.
    import starter

    clash = f"CC-2026-{uuid.uuid4().hex[:6].upper()}"
    monkeypatch.setattr(starter, "reference_for_intake", lambda year, key: clash if "#" not in key else clash + "X")
    policy, queue = load_policy(), stack.env["COMPLAINTS_TASK_QUEUE"]

    async def file_both() -> list[starter.FiledCase]:
        client = await Client.connect(stack.server.address, data_converter=pydantic_data_converter)
        filed = []
        for intake_id in ("web-one", "web-two", "web-one"):
            intake = starter.parse_intake(fresh_example(intake_id=f"{intake_id}-{clash}"))
            filed.append(await starter.file_complaint(client, intake, policy=policy, task_queue=queue))
        return filed

    first, other, retried = asyncio.run(file_both())
    assert (first.reference, first.started) == (clash, True)
    assert (other.reference, other.started) == (clash + "X", True)
    assert (retried.reference, retried.started) == (clash, False)


def test_a_bad_complaint_is_refused_field_by_field_and_starts_nothing(stack: Stack) -> None:
    refused = stack.run("starter.py", str(REPO / "examples" / "invalid-complaint.json"))
    assert refused.returncode == 2
    for field in ("source", "received_at", "customer.email", "customer.phone", "complaint"):
        assert field in refused.stderr, field
    assert refused.stdout.strip() == ""


def test_unknown_reference_is_refused_clearly(stack: Stack) -> None:
    result = stack.run("admin.py", "satisfied", "CC-2026-ZZZZZZ", "--how", "phone")
    assert result.returncode == 1
    assert "no case CC-2026-ZZZZZZ was found" in result.stderr
    result = stack.run("admin.py", "status", "not-a-reference")
    assert result.returncode == 1
    assert "not a case reference" in result.stderr
