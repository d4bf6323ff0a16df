"""What a message may say: built from the recorded state, truthful from v3."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from domain.message_context import details_held, message_context
from domain.models import (
    CaseDeadlines,
    CaseRole,
    CaseState,
    ComplaintIntake,
    ComplaintPolicy,
    ComplaintSource,
    Customer,
    Handler,
    Note,
    UpdateSchedule,
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


def test_the_acknowledgement_confirms_the_phone_number_held() -> None:
    with_phone = CUSTOMER.model_copy(update={"phone": "+447700900123"})
    assert details_held(with_phone, INTAKE)["Phone"] == "+447700900123"


def test_before_v3_a_message_carries_the_owner_schedule_next_update_scheme_and_its_own_extras() -> None:
    owner = Handler(
        id="amara.okafor", name="Amara Okafor", role=CaseRole.CASE_HANDLER, phone="+442079460101", email="a@example.com"
    )
    schedule = UpdateSchedule(every=7, contact_time=time(10, 0))
    state = STATE.model_copy(
        update={"owner": owner, "schedule": schedule, "next_update_at": RECEIVED + timedelta(days=7)}
    )
    policy = ComplaintPolicy()
    context = message_context(state, CUSTOMER, INTAKE, policy, truthful=False, escalation_reason="billing error")
    assert context.handler == owner
    assert context.acknowledgement == details_held(CUSTOMER, INTAKE)
    assert context.schedule == schedule
    assert context.next_update_at == RECEIVED + timedelta(days=7)
    assert context.adr_scheme == policy.adr_scheme and context.adr_scheme is not None
    assert context.escalation_reason == "billing error"


def test_a_message_on_a_case_with_no_notes_or_clocks_says_neither() -> None:
    bare = CaseState(reference="CC-2026-ABCDEFGH")
    assert message_context(bare, CUSTOMER, INTAKE, ComplaintPolicy(), truthful=False).progress_note is None
    assert message_context(bare, CUSTOMER, INTAKE, ComplaintPolicy(), truthful=True).eight_weeks_at is None
