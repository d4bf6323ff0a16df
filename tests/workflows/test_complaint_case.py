"""The Customer Complaints Code, step by step, on the time-skipping test server."""

from __future__ import annotations

import json
from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError

from domain.models import (
    CaseRole,
    CaseStage,
    ChannelKind,
    CompensationAward,
    ContactScheduleChange,
    Deadlock,
    IntervalUnit,
    MessageKind,
    NotSatisfied,
    ProgressNote,
)
from settings import REPO, load_policy
from tests.workflows.dates import DAY, HOUR, LONDON, PLAIN_TUESDAY, utc
from tests.workflows.harness import RecordingMessaging, running_case, server_at
from workflows.complaint_case import ComplaintCase

# Scenarios run on the dates they name (each on a time-skipping server of its own), so bank holidays
# and clock changes are exercised on purpose, not by the day the suite happens to run. Expected
# deadlines are worked out by hand from the code's rules and written down, never computed by the
# code under test.
MAUNDY_THURSDAY = utc(2030, 4, 18, 14, 0)  # 15:00 BST; Good Friday and Easter Monday follow
CHRISTMAS_EVE = utc(2030, 12, 24, 15, 0)  # 15:00 GMT on a Tuesday; 25 and 26 December are holidays
BEFORE_CLOCK_CHANGE = utc(2030, 10, 25, 15, 0)  # 16:00 BST on the Friday before clocks go back

# received -> (acknowledgement due: 8 working hours, review due: 3 working days)
EXPECTED_CLOCKS = {
    PLAIN_TUESDAY: (utc(2030, 2, 13, 10, 0), utc(2030, 2, 15, 10, 0)),
    # Thu 15:00-17:00 BST, then Tuesday 23rd (Good Friday, Easter Monday out).
    MAUNDY_THURSDAY: (utc(2030, 4, 23, 14, 0), utc(2030, 4, 25, 14, 0)),
    # Tue 15:00-17:00, then Fri 27th (25th and 26th out), Mon 30th, Tue 31st.
    CHRISTMAS_EVE: (utc(2030, 12, 27, 15, 0), utc(2030, 12, 31, 15, 0)),
    # Fri 16:00-17:00 BST, then Monday 28th in GMT: the local hour is kept across the change.
    BEFORE_CLOCK_CHANGE: (utc(2030, 10, 28, 16, 0), utc(2030, 10, 30, 16, 0)),
}
DATES = pytest.mark.parametrize(
    "received",
    list(EXPECTED_CLOCKS),
    ids=["plain-tuesday", "maundy-thursday", "christmas-eve", "before-clock-change"],
)


@DATES
async def test_complaint_is_acknowledged_introduced_and_closed_when_customer_satisfied(
    received: datetime, tmp_path
) -> None:
    async with server_at(received) as env, running_case(env, tmp_path) as case:
        state = await case.wait(HOUR)
        ack = state.milestone("acknowledgement")
        assert (ack.due_at, state.milestone("review").due_at) == EXPECTED_CLOCKS[received]
        assert state.milestone("introduction").due_at == received + 2 * DAY
        assert state.deadlines.adr_due == received + 8 * 7 * DAY
        # Sent at the mark; late if not out within the hour.
        assert state.milestone("adr_rights").due_at == received + 8 * 7 * DAY + HOUR
        assert ack.done_at is not None and ack.done_at <= ack.due_at
        [acknowledgement] = case.outbox.received(MessageKind.ACKNOWLEDGEMENT)
        assert acknowledgement.channel is ChannelKind.EMAIL
        assert acknowledgement.context.reference == state.reference
        assert acknowledgement.context.acknowledgement["Email"] == "gwen.pritchard@example.com"
        assert acknowledgement.context.introduction_due_at == received + 2 * DAY  # "within 48 hours": true
        assert state.owner is not None and state.owner.role is CaseRole.CASE_HANDLER
        assert "least open cases" in state.assignments[0].reason or "rotation" in state.assignments[0].reason

        state = await case.wait(2 * DAY)
        intro = state.milestone("introduction")
        assert intro.done_at is not None and intro.done_at <= intro.due_at
        # Phone where possible, followed up in writing, with the handler's direct details.
        channels = {r.channel for r in case.outbox.received(MessageKind.INTRODUCTION)}
        assert channels == {ChannelKind.SMS, ChannelKind.EMAIL}
        sent = case.outbox.received(MessageKind.INTRODUCTION)[0]
        assert sent.context.handler.phone == state.owner.phone
        # Each of these dates is received inside working hours: the introduction goes at once.
        assert intro.done_at - received < 5 * 60 * timedelta(seconds=1)
        assert state.stage is CaseStage.INVESTIGATING

        await case.handle.signal(ComplaintCase.customer_satisfied)
        summary, final = await case.closed()

    assert final.stage is CaseStage.CLOSED
    assert len(case.outbox.received(MessageKind.CLOSURE)) == 1
    if summary.closed_at < final.deadlines.review_due:
        assert case.outbox.received(MessageKind.UPDATE_SCHEDULE) == []
    assert all(count == 1 for count in case.outbox.deliveries.values())


async def test_unresolved_after_three_working_days_gets_offered_schedule_then_regular_updates(
    tmp_path,
) -> None:
    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path) as case:
        await case.wait(HOUR)
        await case.handle.execute_update(
            ComplaintCase.add_note, ProgressNote(text="Customer sounds ready to leave; offer a goodwill credit")
        )
        await case.handle.execute_update(
            ComplaintCase.add_note, ProgressNote(text="Engineer booked for Friday morning", for_customer=True)
        )
        review_due = utc(2030, 2, 15, 10, 0)  # Friday: 3 working days from Tuesday 10:00
        state = await case.wait(review_due - await env.get_current_time() + HOUR)
        review = state.milestone("review")
        assert review.done_at is not None and review.done_at <= review_due
        assert not review.breached and not any("missed" in a for a in state.alerts)
        [schedule_sms, schedule_email] = sorted(
            case.outbox.received(MessageKind.UPDATE_SCHEDULE), key=lambda r: r.channel.value
        )
        # Offered, not agreed: nobody has recorded the customer's agreement.
        assert schedule_email.context.schedule_agreed_at is None and state.schedule_agreed_at is None
        # The policy's default: every 7 days at 10:00 UK time, so Friday the 22nd.
        assert state.next_update_at == utc(2030, 2, 22, 10, 0)

        # The customer agrees every 3 working days at 14:00 instead, and the handler records it.
        await case.handle.execute_update(
            ComplaintCase.change_update_schedule,
            ContactScheduleChange(
                every=3, unit=IntervalUnit.WORKING_DAYS, contact_time=time(14, 0), customer_agreed=True
            ),
        )
        state = await case.wait(12 * DAY)
        assert state.schedule_agreed_at is not None
        updates = [m for m in state.milestones if m.name.startswith("update_")]
        # Three working days from Friday the 15th: Wednesday the 20th, then Monday the 25th, 14:00 GMT.
        assert [m.done_at.replace(microsecond=0) for m in updates] == [utc(2030, 2, 20, 14, 0), utc(2030, 2, 25, 14, 0)]
        assert all(not m.breached for m in updates)
        emails = case.outbox.received(MessageKind.PROGRESS_UPDATE, ChannelKind.EMAIL)
        # The customer's progress goes once, in the first update; the internal note never goes.
        assert [r.context.progress_note for r in emails] == ["Engineer booked for Friday morning", None]
        assert all(r.context.schedule_agreed_at == state.schedule_agreed_at for r in emails)
        everything = " ".join(r.model_dump_json() for r in case.outbox.delivered.values())
        assert "goodwill" not in everything
        assert await case.handle.describe()  # still open: updates go on until the customer is satisfied

        # A new rhythm only offered (`schedule --proposed`) is not what the customer agreed (v8):
        # the schedule message and the updates after it do not call it agreed.
        await case.handle.execute_update(
            ComplaintCase.change_update_schedule,
            ContactScheduleChange(every=2, unit=IntervalUnit.ELAPSED_DAYS, contact_time=time(16, 0)),
        )
        state = await case.wait(5 * DAY)
        assert state.schedule_agreed_at is None
        offered = case.outbox.received(MessageKind.UPDATE_SCHEDULE, ChannelKind.EMAIL)[-1]
        assert offered.context.schedule_agreed_at is None
        assert (
            case.outbox.received(MessageKind.PROGRESS_UPDATE, ChannelKind.EMAIL)[-1].context.schedule_agreed_at is None
        )


async def test_a_case_the_worker_never_keeps_in_memory_still_keeps_every_clock(
    tmp_path,
) -> None:
    # No workflow cache: every timer, signal and send result replays the case from its history, as
    # when a worker holding thousands of open cases has evicted this one.
    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path, max_cached_workflows=0) as case:
        await case.wait(2 * DAY)
        await case.handle.signal(ComplaintCase.customer_not_satisfied, NotSatisfied(reason="Still no engineer"))
        state = await case.wait(9 * 7 * DAY)
        assert state.escalation_level == 1 and state.milestone("introduction_2").done_at is not None
        assert state.milestone("review").done_at is not None
        assert len(case.outbox.received(MessageKind.PROGRESS_UPDATE)) >= 7
        assert len(case.outbox.received(MessageKind.ADR_RIGHTS)) == 1
        assert not any(m.breached for m in state.milestones), [m.name for m in state.milestones if m.breached]
        # Replays re-run no send: every message the case records went out exactly once.
        assert len(state.messages) == len(case.outbox.delivered)
        assert all(count == 1 for count in case.outbox.deliveries.values())


async def test_not_satisfied_twice_climbs_the_escalation_ladder(
    tmp_path,
) -> None:
    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path) as case:
        await case.wait(2 * DAY)
        first_owner = (await case.state()).owner

        await case.handle.signal(ComplaintCase.customer_not_satisfied, NotSatisfied(reason="Still no engineer"))
        state = await case.wait(HOUR)
        assert state.escalation_level == 1
        assert state.owner.role is CaseRole.CUSTOMER_SERVICE_MANAGER
        assert state.escalations[0].from_handler == first_owner.id
        [escalation] = case.outbox.received(MessageKind.ESCALATION)
        assert escalation.context.handler.email == state.owner.email
        assert escalation.context.escalation_reason == "Still no engineer"
        # A fresh introduction clock for the new owner: 48 hours from the escalation.
        intro_2 = state.milestone("introduction_2")
        assert intro_2 is not None
        state = await case.wait(2 * DAY)
        assert state.milestone("introduction_2").done_at is not None
        assert state.stage is CaseStage.INVESTIGATING

        await case.handle.signal(ComplaintCase.customer_not_satisfied, NotSatisfied(reason="Credit too small"))
        state = await case.wait(HOUR)
        assert state.escalation_level == 2
        assert state.owner.role is CaseRole.HEAD_OF_PROFESSIONAL_SERVICES

        # Past the top of the ladder the case is re-opened with the same owner.
        await case.handle.signal(ComplaintCase.customer_not_satisfied, NotSatisfied(reason="Still unhappy"))
        state = await case.wait(HOUR)
        assert state.escalation_level == 2
        assert state.owner.role is CaseRole.HEAD_OF_PROFESSIONAL_SERVICES
        assert len(state.escalations) == 3
        # Told as a re-opening with the same person, not "escalated to" them (v8), and no new
        # introduction is owed by someone the customer already knows.
        assert [m.context.escalation_top for m in case.outbox.received(MessageKind.ESCALATION)] == [False, False, True]
        assert [m.name for m in state.milestones if m.name.startswith("introduction")] == [
            "introduction",
            "introduction_2",
            "introduction_3",
        ]
        # The 8-week clock runs from first receipt, untouched by re-opening.
        assert state.milestone("adr_rights").due_at == state.deadlines.adr_due + HOUR


async def test_complaint_still_open_at_eight_weeks_gets_the_adr_letter_once(
    tmp_path,
) -> None:
    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path) as case:
        state = await case.wait(10 * 7 * DAY)
        adr = state.milestone("adr_rights")
        # At the mark, when the right begins (never before it), within the hour the send may take.
        assert state.deadlines.adr_due <= adr.done_at <= adr.due_at
        [letter] = case.outbox.received(MessageKind.ADR_RIGHTS)
        assert letter.context.adr_reason == "eight_weeks"
        assert letter.context.adr_scheme.name == "Communications Ombudsman"
        assert state.adr_letter_sent_at is not None
        assert state.stage is CaseStage.INVESTIGATING  # the case stays open
        assert len(state.messages) == len(case.outbox.delivered)
        # Weekly updates went out with no note from the handler, and no clock was missed.
        assert len(case.outbox.received(MessageKind.PROGRESS_UPDATE)) >= 7
        assert not any(m.breached for m in state.milestones), [m.name for m in state.milestones if m.breached]


async def test_complaint_closed_before_eight_weeks_gets_no_adr_letter(
    tmp_path,
) -> None:
    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path) as case:
        await case.wait(5 * DAY)
        await case.handle.signal(ComplaintCase.customer_satisfied)
        await case.handle.result()
        await env.sleep(9 * 7 * DAY)
    assert case.outbox.received(MessageKind.ADR_RIGHTS) == []


async def test_deadlock_sends_the_adr_letter_at_once_and_never_again(
    tmp_path,
) -> None:
    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path, preferred_written_channel="letter") as case:
        await case.wait(4 * DAY)
        await case.handle.execute_update(ComplaintCase.declare_deadlock, Deadlock())
        state = await case.wait(HOUR)
        assert state.stage is CaseStage.DEADLOCK
        [letter] = case.outbox.received(MessageKind.ADR_RIGHTS)
        assert letter.channel is ChannelKind.LETTER
        assert letter.context.adr_reason == "deadlock"

        assert letter.context.deadlock_reason == Deadlock().reason

        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await case.handle.execute_update(ComplaintCase.declare_deadlock, Deadlock())
        assert "already in deadlock" in str(refused.value.cause)

        state = await case.wait(9 * 7 * DAY)
        assert len(case.outbox.received(MessageKind.ADR_RIGHTS)) == 1
        assert state.next_update_at is None  # no regular updates in deadlock


async def test_compensation_is_credited_to_the_invoice_and_confirmed(
    tmp_path,
) -> None:
    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path) as case:
        await case.wait(HOUR)
        compensation = await case.handle.execute_update(
            ComplaintCase.record_compensation,
            CompensationAward(amount_gbp=Decimal("25.00"), reason="Two missed engineer visits"),
        )
        assert compensation.credit_id.startswith("CR-")
        state = await case.wait(HOUR)
        [confirmation] = case.outbox.received(MessageKind.COMPENSATION)
        assert confirmation.context.compensation_gbp == Decimal("25.00")
        assert state.compensations[0].credit_id == compensation.credit_id

        from activities.billing import BillingActivities

        credits = BillingActivities(tmp_path / "billing.sqlite3").credits_for(state.reference)
        assert credits == [(compensation.credit_id, 2500)]

        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await case.handle.execute_update(
                ComplaintCase.record_compensation,
                CompensationAward(amount_gbp=Decimal("999999.00"), reason="Too much"),
            )
        assert "amount_gbp" in str(refused.value.cause)
        assert len((await case.state()).compensations) == 1


async def test_a_missed_acknowledgement_raises_a_breach_alert_to_the_service_manager(tmp_path) -> None:
    # Email stays down past the deadline; the retry ceiling is long enough that it does not fall back.
    policy = load_policy().model_copy(update={"send_retry_ceiling_minutes": 7 * 24 * 60})
    ack_due = utc(2030, 2, 13, 10, 0)  # one working day after Tuesday 10:00
    outbox = RecordingMessaging(down_until={ChannelKind.EMAIL: ack_due + 2 * DAY})
    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path, outbox=outbox, policy=policy) as case:
        state = await case.wait(7 * DAY)
        ack = state.milestone("acknowledgement")
        assert ack.due_at == ack_due and ack.breached
        assert ack.done_at is not None and ack.done_at > ack.due_at  # it still went out, late
        alerts = [json.loads(p.read_text()) for p in (tmp_path / "alerts").glob("*.json")]
        breach = [a for a in alerts if "acknowledgement missed" in a["subject"]]
        assert breach and breach[0]["to_role"] == "customer_service_manager"
        assert len(case.outbox.received(MessageKind.ACKNOWLEDGEMENT)) == 1


async def test_sms_refused_and_email_down_for_a_while_still_reaches_the_customer_once(
    tmp_path,
) -> None:
    outbox = RecordingMessaging(rejected={ChannelKind.SMS}, failing_attempts={ChannelKind.EMAIL: 3})
    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path, outbox=outbox) as case:
        state = await case.wait(10 * DAY)
        for kind in (MessageKind.ACKNOWLEDGEMENT, MessageKind.INTRODUCTION, MessageKind.UPDATE_SCHEDULE):
            assert len(case.outbox.received(kind, ChannelKind.EMAIL)) == 1, kind
        assert case.outbox.received(MessageKind.INTRODUCTION, ChannelKind.SMS) == []
        failed = [r for r in state.messages if r.status == "failed"]
        assert failed and all(r.channel is ChannelKind.SMS for r in failed)
        assert any("introduction by sms failed" in a for a in state.alerts)
        assert all(m.done_at is not None for m in state.milestones if m.name in ("acknowledgement", "introduction"))
        await case.handle.signal(ComplaintCase.customer_satisfied)
        await case.handle.result()
    assert all(count == 1 for count in outbox.deliveries.values())


async def test_actions_on_a_closed_case_are_refused_and_change_nothing(
    tmp_path,
) -> None:
    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path) as case:
        await case.wait(HOUR)
        await case.handle.signal(ComplaintCase.customer_satisfied)
        summary = await case.handle.result()
        with pytest.raises((RPCError, WorkflowUpdateFailedError)):
            await case.handle.execute_update(ComplaintCase.add_note, ProgressNote(text="too late"))
        final, state = await case.closed()
    assert final == summary
    assert state.notes == []


async def test_the_owner_is_warned_at_three_quarters_of_a_clock_before_it_breaches(
    tmp_path,
) -> None:
    # Email stays down for days: the acknowledgement cannot go, so its clock runs on.
    policy = load_policy().model_copy(update={"send_retry_ceiling_minutes": 7 * 24 * 60})
    now = PLAIN_TUESDAY
    outbox = RecordingMessaging(down_until={ChannelKind.EMAIL: now + 5 * DAY})
    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path, outbox=outbox, policy=policy) as case:
        state = await case.wait(HOUR)
        ack = state.milestone("acknowledgement")
        assert ack.warn_at is not None and not ack.warned
        warn_at = ack.warn_at
        assert abs((warn_at - now) - (ack.due_at - now) * 0.75) < timedelta(seconds=5)

        state = await case.wait(warn_at - await env.get_current_time() + timedelta(minutes=1))
        ack = state.milestone("acknowledgement")
        assert ack.warned and not ack.breached
        alerts = [json.loads(p.read_text()) for p in (tmp_path / "alerts").glob("*.json")]
        warning = [
            a
            for a in alerts
            if a["subject"].endswith(f"acknowledgement due {ack.due_at.astimezone(LONDON):%a %d %b %H:%M}")
        ]
        assert warning and warning[0]["to_handler"] == state.owner.id
        assert state.attention and "keeps failing" in state.attention

        state = await case.wait(ack.due_at - await env.get_current_time() + timedelta(minutes=1))
        assert state.milestone("acknowledgement").breached


async def test_a_roster_gap_flags_the_escalation_for_attention_and_keeps_every_clock(tmp_path) -> None:
    full_roster = (REPO / "config" / "roster.toml").read_text()
    handlers_only = full_roster.split('[[handler]]\nid = "sian.evans"')[0]
    roster = tmp_path / "roster.toml"
    roster.write_text(full_roster)
    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path, roster=roster) as case:
        # Not satisfied a day before the 8-week mark, when nobody can be a Customer Service Manager.
        await case.wait(8 * 7 * DAY - DAY)
        roster.write_text(handlers_only)
        await case.handle.signal(ComplaintCase.customer_not_satisfied, NotSatisfied(reason="Still broken"))
        state = await case.wait(HOUR)
        assert state.attention is not None
        assert "assigning a Customer Service Manager keeps failing" in state.attention
        assert "nobody with role customer_service_manager" in state.attention
        assert state.owner.role is CaseRole.CASE_HANDLER  # the last owner keeps it meanwhile
        assert any("no Customer Service Manager can be assigned" in a for a in state.alerts)

        # The gap goes on: the 8-week letter still goes at the mark; the new owner's introduction
        # cannot, so its clock breaches and the manager is alerted.
        state = await case.wait(3 * DAY)
        assert len(case.outbox.received(MessageKind.ADR_RIGHTS)) == 1
        assert state.milestone("adr_rights").done_at.replace(microsecond=0) == PLAIN_TUESDAY + 8 * 7 * DAY
        assert state.milestone("introduction_2").breached
        assert any("introduction_2 missed" in a for a in state.alerts)

        roster.write_text(full_roster)  # the on-call engineer's fix
        state = await case.wait(HOUR)
        assert state.owner.role is CaseRole.CUSTOMER_SERVICE_MANAGER
        assert state.escalations[0].to_handler == state.owner.id
        assert state.attention is None
        [escalation] = case.outbox.received(MessageKind.ESCALATION)
        assert escalation.context.handler.id == state.owner.id


async def test_with_nobody_on_the_roster_the_acknowledgement_still_goes(tmp_path) -> None:
    roster = tmp_path / "roster.toml"
    roster.write_text(
        (REPO / "config" / "roster.toml")
        .read_text()
        .replace('role = "case_handler"', 'role = "customer_service_manager"')
    )
    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path, roster=roster) as case:
        state = await case.wait(3 * DAY)
        [ack] = case.outbox.received(MessageKind.ACKNOWLEDGEMENT)
        assert ack.context.handler is None  # signed by the complaints team
        assert state.milestone("acknowledgement").met
        assert state.owner is None and state.attention is not None
        assert state.milestone("introduction").breached
        assert any("no Case Handler can be assigned" in a for a in state.alerts)
