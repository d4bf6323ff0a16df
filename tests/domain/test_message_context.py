"""What a message may say: built from the recorded state, truthful from v3."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from domain.message_context import details_held, message_context
from domain.models import (
    CaseDeadlines,
    CaseState,
    ComplaintIntake,
    ComplaintPolicy,
    ComplaintSource,
    Customer,
    Note,
)

RECEIVED = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
CUSTOMER = Customer.model_validate(
    {
        "name": "Alan Rees",
        "title": "Mr",
        "email": "alan@example.com",
        "address": {"lines": ["1 High Street", "Leeds"], "postcode": "ls1 1aa"},
    }
)
INTAKE = ComplaintIntake(
    customer=CUSTOMER,
    account_number="AC-1234",
    source=ComplaintSource.EMAIL,
    received_at=RECEIVED,
    complaint="No broadband.",
)
STATE = CaseState(
    reference="CC-2026-ABCDEFGH",
    notes=[Note(at=RECEIVED, author="h", text="internal: engineer booked")],
    deadlines=CaseDeadlines(
        acknowledgement_due=RECEIVED + timedelta(hours=8),
        introduction_due=RECEIVED + timedelta(hours=48),
        review_due=RECEIVED + timedelta(days=3),
        adr_due=RECEIVED + timedelta(weeks=8),
        calendar_subdivision="ENG",
        holidays_version="test",
        holidays=[date(2026, 12, 25)],
    ),
)


def test_the_acknowledgement_lists_the_details_held_in_the_customers_terms() -> None:
    assert details_held(CUSTOMER, INTAKE) == {
        "Name": "Alan Rees",
        "Account number": "AC-1234",
        "Email": "alan@example.com",
        "Address": "1 High Street, Leeds, LS1 1AA",
        "Written contact by": "email",
    }


def test_from_v3_a_message_never_repeats_an_internal_note_and_knows_the_eight_week_mark() -> None:
    context = message_context(STATE, CUSTOMER, INTAKE, ComplaintPolicy(), truthful=True, adr_reason="eight_weeks")
    assert context.progress_note is None
    assert context.customer_title == "Mr"
    assert context.eight_weeks_at == RECEIVED + timedelta(weeks=8)
    assert context.adr_reason == "eight_weeks"


def test_before_v3_the_latest_note_went_out_whatever_it_said() -> None:
    context = message_context(STATE, CUSTOMER, INTAKE, ComplaintPolicy(), truthful=False)
    assert context.progress_note == "internal: engineer booked"
    assert context.customer_title is None and context.eight_weeks_at is None
