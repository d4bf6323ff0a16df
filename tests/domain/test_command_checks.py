"""Why a handler's command is refused: the field named, the reason given, from the state alone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal

from domain.command_checks import (
    Refusal,
    agreement_refusal,
    closed_refusal,
    closure_refusal,
    compensation_refusal,
    contact_changes,
    contact_refusal,
    contact_time_refusal,
    deadlock_refusal,
    note_refusal,
    pause_refusal,
    reassign_refusal,
    updates_stopped_refusal,
)
from domain.models import (
    CaseClosure,
    CaseRole,
    CaseStage,
    CaseState,
    ChannelKind,
    ClosureOutcome,
    Compensation,
    CompensationAward,
    ComplaintPolicy,
    ContactCorrection,
    Customer,
    Handler,
    HowSaid,
    Note,
    NotSatisfied,
    ProgressNote,
    Reassignment,
    Satisfied,
    ScheduleAgreed,
    UpdatesPaused,
    WrittenChannel,
)

REF = "CC-2030-ABCDEFGH"
POLICY = ComplaintPolicy()
AT = datetime(2030, 2, 11, 10, 0, tzinfo=UTC)
BY_EMAIL = Customer.model_validate({"name": "Alan Rees", "email": "alan@example.com"})


def handler(id: str, role: CaseRole = CaseRole.CASE_HANDLER) -> Handler:
    return Handler(id=id, name="Amara Okafor", role=role, phone="+442079460101", email="a@example.com")


def test_a_closed_or_closing_case_refuses_every_command() -> None:
    open_case = CaseState(reference=REF)
    assert closed_refusal(open_case, [], closing=False) is None
    assert closed_refusal(open_case, [NotSatisfied(reason="still no broadband")], closing=False) is None
    closed = Refusal("CaseClosed", f"case {REF} is closed")
    assert closed_refusal(CaseState(reference=REF, stage=CaseStage.CLOSED), [], closing=False) == closed
    assert closed_refusal(open_case, ["satisfied"], closing=False) == closed  # about to close
    assert closed_refusal(open_case, [Satisfied(how=HowSaid.PHONE, recorded_by="h")], closing=False) == closed
    assert closed_refusal(open_case, [], closing=True) == closed


def test_a_contact_time_at_night_is_refused_with_the_hours_allowed() -> None:
    assert contact_time_refusal(POLICY, time(8, 0)) is None
    assert contact_time_refusal(POLICY, time(20, 0)) == Refusal(
        "OutsideContactHours", "contact_time: 20:00 is outside the hours a customer may be phoned (08:00-20:00 UK time)"
    )


def test_notes_past_the_policys_limit_are_refused_from_v3() -> None:
    policy = ComplaintPolicy(max_note_characters=5_000)
    state = CaseState(reference=REF, notes=[Note(at=AT, author="h", text="x" * 4_990)])
    assert note_refusal(state, policy, ProgressNote(text="x" * 10), bounded=True) is None
    refusal = note_refusal(state, policy, ProgressNote(text="x" * 11), bounded=True)
    assert refusal is not None and refusal.type == "NotesFull"
    assert refusal.message.startswith(f"text: case {REF} already carries 4,990 characters of notes (limit 5,000)")
    assert note_refusal(state, policy, ProgressNote(text="x" * 11), bounded=False) is None


def test_deadlock_is_declared_once_and_before_v3_only_while_the_adr_letter_has_not_gone() -> None:
    state = CaseState(reference=REF)
    assert deadlock_refusal(state, set(), v3=True) is None
    assert deadlock_refusal(state.model_copy(update={"stage": CaseStage.DEADLOCK}), set(), v3=True) == Refusal(
        "AlreadyDeadlocked", f"case {REF} is already in deadlock"
    )
    assert deadlock_refusal(state.model_copy(update={"adr_letter_sent_at": AT}), set(), v3=True) is None
    sent = Refusal("AdrAlreadySent", f"the ADR-rights letter was already sent for {REF}")
    assert deadlock_refusal(state.model_copy(update={"adr_letter_sent_at": AT}), set(), v3=False) == sent
    assert deadlock_refusal(state, {"adr_rights"}, v3=False) == sent


NO_AWARDS = CaseState(reference=REF)


def test_compensation_above_the_handlers_limit_is_refused() -> None:
    policy = ComplaintPolicy(max_compensation_gbp=Decimal("100"))
    assert (
        compensation_refusal(policy, CompensationAward(amount_gbp=Decimal("100"), reason="outage"), NO_AWARDS) is None
    )
    refusal = compensation_refusal(policy, CompensationAward(amount_gbp=Decimal("100.01"), reason="outage"), NO_AWARDS)
    assert refusal is not None and refusal.type == "CompensationTooLarge"
    assert refusal.message.startswith("amount_gbp: £100.01 is above the £100 a handler may award")


def test_the_handlers_limit_counts_every_award_on_the_case_so_splitting_does_not_get_round_it() -> None:
    policy = ComplaintPolicy(max_compensation_gbp=Decimal("100"))
    state = CaseState(
        reference=REF,
        compensations=[Compensation(amount_gbp=Decimal("60"), reason="a", recorded_at=AT, credit_id="CR-1")],
        pending_compensations=[Compensation(amount_gbp=Decimal("30"), reason="b", recorded_at=AT)],
    )
    assert compensation_refusal(policy, CompensationAward(amount_gbp=Decimal("10"), reason="c"), state) is None
    assert compensation_refusal(policy, CompensationAward(amount_gbp=Decimal("10.01"), reason="c"), state) == Refusal(
        "CompensationTooLarge",
        "amount_gbp: £10.01 would bring this case's awards to £100.01, above the £100 a handler may award on one "
        "case; ask the Head of Professional Services",
    )


def test_closing_for_no_response_waits_for_the_adr_letter_and_a_duplicate_names_another_case() -> None:
    state = CaseState(reference=REF)
    no_response = CaseClosure(outcome=ClosureOutcome.NO_RESPONSE, reason="silent", recorded_by="h")
    refusal = closure_refusal(state, no_response, v3=True)
    assert refusal is not None and refusal.type == "TooEarly" and refusal.message.startswith("outcome: no_response")
    assert closure_refusal(state.model_copy(update={"adr_letter_sent_at": AT}), no_response, v3=True) is None
    itself = CaseClosure(outcome=ClosureOutcome.DUPLICATE, reason="dup", duplicate_of=REF, recorded_by="h")
    assert closure_refusal(state, itself, v3=True) == Refusal(
        "NotADuplicate", f"duplicate_of: {REF!r} must be another case's reference"
    )
    other = itself.model_copy(update={"duplicate_of": "CC-2030-BCDEFGHJ"})
    assert closure_refusal(state, other, v3=True) is None
    withdrawn = CaseClosure(outcome=ClosureOutcome.WITHDRAWN, reason="withdrawn", recorded_by="h")
    assert closure_refusal(state, withdrawn, v3=False) == Refusal(
        "NotSupported", "this case predates close_case; close it with satisfied"
    )


def test_an_agreed_channel_must_reach_the_customer_at_a_time_they_may_be_phoned() -> None:
    by_text = ScheduleAgreed(every=7, contact_time=time(10, 0), channel=ChannelKind.SMS, recorded_by="h")
    assert agreement_refusal(POLICY, BY_EMAIL, by_text) == Refusal(
        "ChannelUnreachable", "channel: the customer cannot be reached by sms on the details held"
    )
    assert agreement_refusal(POLICY, BY_EMAIL, by_text.model_copy(update={"channel": ChannelKind.EMAIL})) is None
    at_night = by_text.model_copy(update={"contact_time": time(22, 0)})
    refusal = agreement_refusal(POLICY, BY_EMAIL, at_night)
    assert refusal is not None and refusal.type == "OutsideContactHours"


def test_a_pause_ends_after_today_and_within_eight_weeks() -> None:
    today = date(2030, 2, 11)

    def pause(until: date) -> UpdatesPaused:
        return UpdatesPaused(until=until, reason="in hospital", recorded_by="h")

    assert pause_refusal(POLICY, pause(date(2030, 2, 12)), today) is None
    assert pause_refusal(POLICY, pause(date(2030, 4, 8)), today) is None  # exactly 8 weeks
    assert pause_refusal(POLICY, pause(today), today) == Refusal(
        "PauseOutOfRange", "until: 2030-02-11 must be after today (2030-02-11) and within 8 weeks"
    )
    assert pause_refusal(POLICY, pause(date(2030, 4, 9)), today) is not None


def test_a_correction_changes_only_the_fields_given_and_must_leave_the_written_channel_reachable() -> None:
    new_phone = ContactCorrection(phone="+447700900123", phone_is_mobile=True, recorded_by="h")
    assert contact_changes(new_phone) == {"phone": "+447700900123", "phone_is_mobile": True}
    assert contact_refusal(BY_EMAIL, new_phone) is None
    by_letter = ContactCorrection(preferred_written_channel=WrittenChannel.LETTER, recorded_by="h")
    assert contact_refusal(BY_EMAIL, by_letter) == Refusal(
        "Unreachable", "preferred_written_channel: 'letter' but the case holds no postal address"
    )


def test_a_reassignment_goes_to_someone_else_at_the_cases_level() -> None:
    state = CaseState(reference=REF, owner=handler("amara.okafor"))
    same = Reassignment(to=handler("amara.okafor"), reason="leave", recorded_by="h")
    assert reassign_refusal(state, POLICY, same) == Refusal("SameOwner", f"to: amara.okafor already owns case {REF}")
    peer = Reassignment(to=handler("ben.cole"), reason="leave", recorded_by="h")
    assert reassign_refusal(state, POLICY, peer) is None
    manager = Reassignment(to=handler("cara.dunn", CaseRole.CUSTOMER_SERVICE_MANAGER), reason="leave", recorded_by="h")
    refusal = reassign_refusal(state, POLICY, manager)
    assert refusal == Refusal(
        "WrongLevel",
        "to: cara.dunn is a Customer Service Manager; this case is at Case Handler level: a case moves up only "
        "when the customer is not satisfied (admin.py not-satisfied)",
    )
    # Escalated once: the manager is now the right level.
    assert reassign_refusal(state.model_copy(update={"escalation_level": 1}), POLICY, manager) is None


def test_a_refused_award_names_who_may_approve_it() -> None:
    policy = ComplaintPolicy(max_compensation_gbp=Decimal("100"))
    assert compensation_refusal(
        policy, CompensationAward(amount_gbp=Decimal("100.01"), reason="outage"), NO_AWARDS
    ) == Refusal(
        "CompensationTooLarge",
        "amount_gbp: £100.01 is above the £100 a handler may award; ask the Head of Professional Services",
    )


def test_updates_by_text_may_be_agreed_with_a_mobile_only_until_the_customer_replies_stop() -> None:
    mobile = Customer.model_validate(
        {"name": "Alan Rees", "email": "alan@example.com", "phone": "+447700900123", "phone_is_mobile": True}
    )
    by_text = ScheduleAgreed(every=7, contact_time=time(10, 0), channel=ChannelKind.SMS, recorded_by="h")
    assert agreement_refusal(POLICY, mobile, by_text) is None
    assert agreement_refusal(POLICY, mobile, by_text, texts_stopped=True) == Refusal(
        "ChannelUnreachable", "channel: the customer cannot be reached by sms on the details held"
    )


def test_a_correction_to_email_needs_an_email_address_but_a_letter_customer_needs_none() -> None:
    by_letter = Customer.model_validate(
        {
            "name": "Alan Rees",
            "address": {"lines": ["1 High Street", "Leeds"], "postcode": "LS1 1AA"},
            "preferred_written_channel": "letter",
        }
    )
    to_email = ContactCorrection(preferred_written_channel=WrittenChannel.EMAIL, recorded_by="h")
    assert contact_refusal(by_letter, to_email) == Refusal(
        "Unreachable", "preferred_written_channel: 'email' but the case holds no email address"
    )
    new_phone = ContactCorrection(phone="+442079460000", phone_is_mobile=False, recorded_by="h")
    assert contact_refusal(by_letter, new_phone) is None


def test_a_case_at_the_top_of_the_ladder_is_reassigned_only_at_that_level() -> None:
    # Escalated to the Head of Professional Services (level 2), or past a ladder since shortened.
    manager = Reassignment(to=handler("cara.dunn", CaseRole.CUSTOMER_SERVICE_MANAGER), reason="leave", recorded_by="h")
    head = Reassignment(to=handler("dev.shah", CaseRole.HEAD_OF_PROFESSIONAL_SERVICES), reason="leave", recorded_by="h")
    for level in (2, 3):
        state = CaseState(reference=REF, owner=handler("amara.okafor"), escalation_level=level)
        assert reassign_refusal(state, POLICY, head) is None
        assert reassign_refusal(state, POLICY, manager) == Refusal(
            "WrongLevel",
            "to: cara.dunn is a Customer Service Manager; this case is at Head of Professional Services level: "
            "choose another Head of Professional Services from the roster",
        )


def test_commands_about_updates_are_refused_in_deadlock_saying_updates_have_stopped() -> None:
    state = CaseState(reference="CC-2030-AAAAAAAA", stage=CaseStage.INVESTIGATING)
    assert updates_stopped_refusal(state, "there are no updates to pause") is None
    state.stage = CaseStage.DEADLOCK
    assert updates_stopped_refusal(state, "there are no updates to pause") == Refusal(
        "UpdatesStopped",
        "case CC-2030-AAAAAAAA is in deadlock and regular updates have stopped: there are no updates to pause; "
        "write to the customer directly if they need to know something",
    )
