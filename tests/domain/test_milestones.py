"""The case's clocks: when one is still owed, when a message meets it, when the 8-week letter goes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from domain.milestones import (
    ADR_RIGHTS,
    adr_send_at,
    clock,
    current_introduction,
    eight_weeks,
    pending,
    reaches_customer_at,
    settled,
)
from domain.models import (
    CaseDeadlines,
    CaseState,
    ChannelKind,
    ComplaintPolicy,
    Customer,
    MessageKind,
    MessageRecord,
    Milestone,
)

RECEIVED = datetime(2030, 2, 11, 9, 0, tzinfo=UTC)
MARK = RECEIVED + timedelta(weeks=8)
ADDRESS = {"lines": ["1 High Street", "Leeds"], "postcode": "LS1 1AA"}


def deadlines() -> CaseDeadlines:
    return CaseDeadlines(
        acknowledgement_due=RECEIVED + timedelta(hours=8),
        introduction_due=RECEIVED + timedelta(hours=48),
        review_due=RECEIVED + timedelta(days=3),
        adr_due=MARK,
        calendar_subdivision="ENG",
        holidays_version="test",
        holidays=[date(2030, 4, 19)],
    )


def test_a_clock_warns_at_the_policys_share_of_its_time_unless_told_not_to() -> None:
    policy = ComplaintPolicy(warning_share=0.75)
    due = RECEIVED + timedelta(hours=48)
    assert clock(policy, "introduction", RECEIVED, due).warn_at == RECEIVED + timedelta(hours=36)
    assert clock(policy, "review", RECEIVED, due, warn=False).warn_at is None
    assert clock(ComplaintPolicy(warning_share=0), "introduction", RECEIVED, due).warn_at is None


def test_a_milestone_is_pending_until_done_undeliverable_superseded_or_being_sent() -> None:
    owed = Milestone(name="review", due_at=MARK)
    assert pending(owed, set())
    assert not pending(owed, {"review"})  # its send is in flight
    assert not pending(None, set())
    for closed in ("done_at", "undeliverable_at", "superseded_at"):
        assert not pending(owed.model_copy(update={closed: RECEIVED}), set())


def test_a_milestone_is_settled_once_nothing_more_will_be_sent_for_it() -> None:
    owed = Milestone(name="acknowledgement", due_at=MARK)
    done = owed.model_copy(update={"done_at": RECEIVED})
    assert settled(None, set())  # not owed at all
    assert not settled(owed, set())
    assert settled(done, set())
    assert not settled(done, {"acknowledgement"})  # its follow-up is still being sent


def test_the_current_introduction_is_the_latest_owners() -> None:
    state = CaseState(
        reference="CC-2030-ABCDEFGH",
        milestones=[
            Milestone(name="introduction", due_at=MARK),
            Milestone(name="review", due_at=MARK),
            Milestone(name="introduction_2", due_at=MARK),
        ],
    )
    assert current_introduction(state) is state.milestones[2]
    assert current_introduction(CaseState(reference="CC-2030-ABCDEFGH")) is None


def test_the_adr_letter_goes_at_the_mark_or_by_post_the_policys_lead_ahead_of_it() -> None:
    state = CaseState(reference="CC-2030-ABCDEFGH", deadlines=deadlines())
    by_email = Customer.model_validate({"name": "Alan Rees", "email": "alan@example.com"})
    by_letter = Customer.model_validate(
        {"name": "Alan Rees", "address": ADDRESS, "preferred_written_channel": "letter"}
    )
    lead = ComplaintPolicy(adr_notice_lead_hours=48)
    assert eight_weeks(state) == MARK
    assert adr_send_at(state, lead, by_email) == MARK
    assert adr_send_at(state, lead, by_letter) == MARK - timedelta(hours=48)
    assert adr_send_at(state, ComplaintPolicy(), by_letter) == MARK


def test_a_letter_meets_an_introduction_when_delivered_and_other_steps_when_dispatched() -> None:
    sent, dispatched, delivered = RECEIVED, RECEIVED + timedelta(hours=8), RECEIVED + timedelta(days=2)
    letter = MessageRecord(
        key="CC-2030-ABCDEFGH/002-introduction-letter",
        kind=MessageKind.INTRODUCTION,
        channel=ChannelKind.LETTER,
        status="sent",
        at=sent,
        dispatched_at=dispatched,
        expected_delivery_at=delivered,
    )
    assert reaches_customer_at(letter, "introduction_2") == delivered
    assert reaches_customer_at(letter, ADR_RIGHTS) == dispatched
    email = letter.model_copy(update={"channel": ChannelKind.EMAIL})
    assert reaches_customer_at(email, "introduction") == sent


def test_a_milestone_no_channel_could_deliver_is_settled() -> None:
    undeliverable = Milestone(name="introduction", due_at=MARK, undeliverable_at=RECEIVED)
    assert settled(undeliverable, set())
    superseded = Milestone(name="introduction", due_at=MARK, superseded_at=RECEIVED)
    assert settled(superseded, set())
