"""admin.py's pure parts: update ids for retries, and what `status` shows."""

from __future__ import annotations

from datetime import UTC, datetime, time
from decimal import Decimal

from typer.testing import CliRunner

import admin
from domain.models import (
    CaseState,
    ChannelKind,
    CompensationAward,
    MessageKind,
    MessageRecord,
    Milestone,
    Note,
    ProgressNote,
    UpdateSchedule,
)

REF = "CC-2026-4F7K2Q"
AT = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def test_the_same_request_id_and_text_give_the_same_update_id():
    award = CompensationAward(amount_gbp=Decimal("25.00"), reason="Two missed visits")
    again = CompensationAward(amount_gbp=Decimal("25.00"), reason="Two missed visits")
    assert admin.update_id("compensate", REF, award, "7f3c9a1e") == admin.update_id(
        "compensate", REF, again, "7f3c9a1e"
    )
    assert admin.update_id("compensate", REF, award, "7f3c9a1e").startswith("compensate/7f3c9a1e/")


def test_a_different_amount_case_or_request_is_a_different_update():
    award = CompensationAward(amount_gbp=Decimal("25.00"), reason="Two missed visits")
    more = CompensationAward(amount_gbp=Decimal("250.00"), reason="Two missed visits")
    ids = {
        admin.update_id("compensate", REF, award, "7f3c9a1e"),
        admin.update_id("compensate", REF, more, "7f3c9a1e"),
        admin.update_id("compensate", "CC-2026-4F7K2R", award, "7f3c9a1e"),
        admin.update_id("compensate", REF, award, "0000aaaa"),
        admin.update_id("note", REF, ProgressNote(text="Two missed visits"), "7f3c9a1e"),
    }
    assert len(ids) == 5


def test_a_malformed_request_id_is_refused_before_connecting(monkeypatch):
    monkeypatch.setenv("TEMPORAL_ADDRESS", "127.0.0.1:1")
    result = CliRunner().invoke(admin.app, ["note", REF, "hello", "--request-id", "not hex!"])
    assert result.exit_code == 2
    assert result.stderr.startswith("invalid: --request-id: ")


def state() -> CaseState:
    return CaseState(
        reference=REF,
        milestones=[
            Milestone(name="introduction", due_at=AT, superseded_at=AT),
            Milestone(name="introduction_2", due_at=AT, done_at=AT),
        ],
        messages=[
            MessageRecord(
                key=f"{REF}/003-update_schedule-letter",
                kind=MessageKind.UPDATE_SCHEDULE,
                channel=ChannelKind.LETTER,
                status="sent",
                at=AT,
                dispatched_at=datetime(2026, 11, 30, 17, tzinfo=UTC),
                expected_delivery_at=datetime(2026, 12, 2, 17, tzinfo=UTC),
            )
        ],
        notes=[
            Note(at=AT, author="sam", text="Called the exchange"),
            Note(at=AT, author="sam", text="Engineer booked", for_customer=True, sent_at=AT),
            Note(at=AT, author="sam", text="Part on order", for_customer=True),
        ],
        schedule=UpdateSchedule(every=7, contact_time=time(10, 0)),
        refused=["customer_satisfied with unexpected arguments: ignored"],
    )


def test_status_json_tells_internal_from_customer_notes_and_offered_from_agreed():
    document = admin.status_document(state())
    assert [n["audience"] for n in document["notes"]] == ["internal", "customer", "customer"]
    assert [n["sent_at"] for n in document["notes"]] == [None, "2026-11-30T10:00:00Z", None]
    assert document["schedule_status"] == "offered" and document["schedule_agreed_at"] is None
    assert document["refused"] == ["customer_satisfied with unexpected arguments: ignored"]
    assert document["milestones"][0]["superseded_at"] == "2026-11-30T10:00:00Z"
    assert document["messages"][0]["expected_delivery_at"] == "2026-12-02T17:00:00Z"

    agreed = admin.status_document(state().model_copy(update={"schedule_agreed_at": AT}))
    assert agreed["schedule_status"] == "agreed"


def test_status_shows_superseded_clocks_letters_notes_and_refusals(monkeypatch):
    async def fake_state(client, handle):
        return state()

    async def fake_case(client, reference):
        return None

    async def filed(client, handle):
        return None

    monkeypatch.setattr(admin, "_state", fake_state)
    monkeypatch.setattr(admin, "_any_case", fake_case)
    monkeypatch.setattr(admin, "_filed_customer", filed)
    monkeypatch.setattr(admin, "connect", lambda settings: _client())
    result = CliRunner().invoke(admin.app, ["status", REF])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "superseded Mon 30 Nov 10:00" in out
    assert "update schedule: every 7 elapsed days at 10:00 (offered, not agreed)" in out
    assert "Mon 30 Nov 17:00" in out and "Wed 02 Dec 17:00" in out  # posted, expected
    assert "(sam, internal): Called the exchange" in out
    assert "(sam, for the customer, sent Mon 30 Nov 10:00): Engineer booked" in out
    assert "(sam, for the customer, pending): Part on order" in out
    assert "refused: customer_satisfied with unexpected arguments: ignored" in out


async def _client():
    return object()
