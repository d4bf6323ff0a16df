"""What the Web UI tells the owner to do next."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.models import (
    Call,
    CallOutcome,
    CaseRole,
    CaseStage,
    CaseState,
    ChannelKind,
    CustomerReplyRecord,
    DeliveryStatus,
    Handler,
    MessageKind,
    MessageRecord,
    Milestone,
)
from domain.next_action import owner_next_action

OWNER = Handler(
    id="amara.okafor", name="Amara Okafor", role=CaseRole.CASE_HANDLER, phone="+442079460101", email="a@example.com"
)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_an_owed_introduction_asks_the_owner_to_call_by_its_deadline() -> None:
    state = CaseState(
        reference="CC-2030-ABCDEFGH",
        owner=OWNER,
        milestones=[Milestone(name="introduction", due_at=utc(2030, 2, 13, 14, 0))],
    )
    assert owner_next_action(state) == "amara.okafor: call the customer to introduce yourself by Wed 13 Feb 14:00"


def test_after_the_introduction_the_owner_calls_before_each_regular_update() -> None:
    state = CaseState(
        reference="CC-2030-ABCDEFGH",
        owner=OWNER,
        milestones=[Milestone(name="introduction", due_at=utc(2030, 2, 13, 14, 0), done_at=utc(2030, 2, 12, 10, 0))],
        next_update_at=utc(2030, 7, 1, 9, 0),  # 10:00 BST
    )
    assert owner_next_action(state) == "amara.okafor: call the customer before the regular update at Mon 01 Jul 10:00"


def test_a_roster_gap_asks_for_an_owner_and_a_closed_case_asks_nothing() -> None:
    gap = CaseState(reference="CC-2030-ABCDEFGH", awaiting_owner=CaseRole.CASE_HANDLER)
    assert owner_next_action(gap) == "assign an owner: the roster cannot fill this case"
    assert owner_next_action(CaseState(reference="CC-2030-ABCDEFGH", owner=OWNER, stage=CaseStage.CLOSED)) is None


def test_an_escalation_waiting_for_its_new_owner_asks_for_one_though_the_old_owner_remains() -> None:
    waiting = CaseState(reference="CC-2030-ABCDEFGH", owner=OWNER, awaiting_owner=CaseRole.CUSTOMER_SERVICE_MANAGER)
    assert owner_next_action(waiting) == "assign an owner: the roster cannot fill this case"


def test_a_case_with_no_owner_yet_asks_for_one() -> None:
    assert (
        owner_next_action(CaseState(reference="CC-2030-ABCDEFGH"))
        == "assign an owner: the roster cannot fill this case"
    )


def test_without_an_introduction_clock_the_owner_calls_before_the_next_update() -> None:
    state = CaseState(reference="CC-2030-ABCDEFGH", owner=OWNER, next_update_at=utc(2030, 7, 1, 9))
    assert owner_next_action(state) == "amara.okafor: call the customer before the regular update at Mon 01 Jul 10:00"


def test_nothing_is_asked_once_introduced_with_no_update_scheduled() -> None:
    introduced = Milestone(name="introduction", due_at=utc(2030, 2, 13, 14, 0), done_at=utc(2030, 2, 12, 10, 0))
    state = CaseState(reference="CC-2030-ABCDEFGH", owner=OWNER, milestones=[introduced])
    assert owner_next_action(state) is None


def test_at_deadlock_no_regular_update_call_is_asked() -> None:
    introduced = Milestone(name="introduction", due_at=utc(2030, 2, 13, 14, 0), done_at=utc(2030, 2, 12, 10, 0))
    state = CaseState(
        reference="CC-2030-ABCDEFGH",
        owner=OWNER,
        stage=CaseStage.DEADLOCK,
        milestones=[introduced],
        next_update_at=utc(2030, 7, 1, 9),
    )
    assert owner_next_action(state) is None


def reply_at(at: datetime) -> CustomerReplyRecord:
    return CustomerReplyRecord(
        reply_id=f"SM{at.isoformat()}", channel=ChannelKind.SMS, received_at=at, text="hello?", meaning="reply"
    )


def bounced_at(at: datetime, number: int, reason: str | None = None) -> MessageRecord:
    return MessageRecord(
        key=f"CC-2030-ABCDEFGH/{number:03d}-progress_update-email",
        kind=MessageKind.PROGRESS_UPDATE,
        channel=ChannelKind.EMAIL,
        status="sent",
        at=at,
        delivery=DeliveryStatus.BOUNCED,
        delivery_reason=reason,
    )


def test_the_owner_sees_how_many_replies_wait_for_an_answer() -> None:
    one = CaseState(reference="CC-2030-ABCDEFGH", owner=OWNER, customer_replies=[reply_at(utc(2030, 2, 14, 9))])
    assert owner_next_action(one) == "amara.okafor: read and answer the customer's sms reply of Thu 14 Feb 09:00"
    two = one.model_copy(update={"customer_replies": [*one.customer_replies, reply_at(utc(2030, 2, 14, 10))]})
    assert owner_next_action(two) == (
        "amara.okafor: read and answer the customer's sms reply of Thu 14 Feb 10:00 (2 unanswered)"
    )


def test_the_latest_undelivered_message_is_named_with_the_vendors_reason() -> None:
    state = CaseState(
        reference="CC-2030-ABCDEFGH",
        owner=OWNER,
        messages=[
            bounced_at(utc(2030, 2, 18, 10), 4, "550 mailbox unavailable"),
            bounced_at(utc(2030, 2, 25, 10), 5, "552 mailbox full"),
            bounced_at(utc(2030, 3, 4, 10), 6, "554 rejected"),
        ],
    )
    assert owner_next_action(state) == (
        "amara.okafor: reach the customer another way: the progress update by email was bounced (554 rejected)"
    )


def test_a_call_or_corrected_details_since_the_failure_deal_with_it() -> None:
    failed = CaseState(reference="CC-2030-ABCDEFGH", owner=OWNER, messages=[bounced_at(utc(2030, 2, 18, 10), 4)])
    # A call the same minute the update bounced: the owner has dealt with it.
    called = failed.model_copy(
        update={"calls": [Call(at=utc(2030, 2, 18, 10), outcome=CallOutcome.REACHED, by="amara.okafor")]}
    )
    assert owner_next_action(called) is None
    earlier = failed.model_copy(
        update={"calls": [Call(at=utc(2030, 2, 18, 9), outcome=CallOutcome.REACHED, by="amara.okafor")]}
    )
    assert owner_next_action(earlier) == (
        "amara.okafor: reach the customer another way: the progress update by email was bounced"
    )
