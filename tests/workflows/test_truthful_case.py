"""Every message true when it goes out, every clock kept whatever else fails (workflow v3).

Each scenario runs on the dates it names, on a time-skipping server of its own; expected times are
worked out by hand and written down.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal

import pytest
from temporalio import activity
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError

from domain import search_attributes as sa
from domain.models import (
    CaseInput,
    CaseReceipt,
    CaseStage,
    ChannelKind,
    CompensationAward,
    ContactScheduleChange,
    Deadlock,
    DeliveryReceipt,
    HowSaid,
    MessageKind,
    NotSatisfied,
    ProgressNote,
    SendRequest,
    UpdateSchedule,
)
from settings import load_policy
from tests.workflows.case_handle import CaseHandle
from tests.workflows.dates import DAY, HOUR, LONDON, MINUTE, PLAIN_TUESDAY, WEEK, utc
from tests.workflows.harness import (
    BillingActivities,
    FlakyBilling,
    RecordingMessaging,
    intake_at,
    running_case,
    server_at,
)
from workflows.complaint_case import ComplaintCase


def whole(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.replace(microsecond=0)


# --- 1. the 8-week letter ----------------------------------------------------------------------


async def test_the_eight_week_letter_goes_at_the_mark_not_a_day_before(tmp_path) -> None:
    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path) as case:
        mark = PLAIN_TUESDAY + 8 * WEEK
        await case.wait(mark - await env.get_current_time() - MINUTE)
        assert case.outbox.received(MessageKind.ADR_RIGHTS) == []  # not on day 55, not a minute early
        state = await case.wait(2 * MINUTE)
        [letter] = case.outbox.received(MessageKind.ADR_RIGHTS)
        assert letter.context.adr_reason == "eight_weeks"
        assert letter.context.adr_rights_from is None  # "you now have the right": true when sent
        assert whole(letter.context.eight_weeks_at) == mark
        adr = state.milestone("adr_rights")
        assert mark <= adr.done_at <= adr.due_at and not adr.breached


async def test_a_posted_eight_week_letter_sent_ahead_says_from_which_date_the_right_applies(tmp_path) -> None:
    policy = load_policy().model_copy(update={"adr_notice_lead_hours": 48})
    async with (
        server_at(PLAIN_TUESDAY) as env,
        running_case(env, tmp_path, policy=policy, preferred_written_channel="letter") as case,
    ):
        mark = PLAIN_TUESDAY + 8 * WEEK
        state = await case.wait(mark - await env.get_current_time() - DAY)
        [letter] = case.outbox.received(MessageKind.ADR_RIGHTS)
        assert letter.channel is ChannelKind.LETTER
        assert whole(letter.context.adr_rights_from) == mark
        assert not state.milestone("adr_rights").breached


async def test_the_deadlock_letter_gives_the_handlers_reason(tmp_path) -> None:
    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path) as case:
        await case.wait(4 * DAY)
        reason = "We cannot refund the line rental for months before the fault was reported."
        await case.handle.execute_update(ComplaintCase.declare_deadlock, Deadlock(reason=reason))
        await case.wait(HOUR)
        [letter] = case.outbox.received(MessageKind.ADR_RIGHTS)
        assert letter.context.adr_reason == "deadlock" and letter.context.deadlock_reason == reason


# --- 2. never a text at night ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("received", "first_text"),
    [
        # 02:00 on a Saturday: 48 hours ends before Monday's working hours, so the introduction goes
        # at once in writing; the text waits for 08:00.
        (utc(2030, 3, 16, 2, 0), utc(2030, 3, 16, 8, 0)),
        # 23:30 on a Friday.
        (utc(2030, 3, 15, 23, 30), utc(2030, 3, 16, 8, 0)),
        # 22:00 on Christmas Eve: never on Christmas Day, so 08:00 on Boxing Day.
        (utc(2030, 12, 24, 22, 0), utc(2030, 12, 26, 8, 0)),
    ],
    ids=["saturday-0200", "friday-2330", "christmas-eve-2200"],
)
async def test_no_text_outside_the_quiet_hours_floor(received: datetime, first_text: datetime, tmp_path) -> None:
    async with server_at(received) as env, running_case(env, tmp_path) as case:
        state = await case.wait(10 * MINUTE)
        intro = state.milestone("introduction")
        assert intro.done_at is not None and intro.done_at - received < 10 * MINUTE  # the email, now
        assert case.outbox.received(MessageKind.INTRODUCTION, ChannelKind.EMAIL)
        assert case.outbox.received(MessageKind.INTRODUCTION, ChannelKind.SMS) == []

        await case.wait(first_text - await env.get_current_time() - MINUTE)
        assert case.outbox.received(MessageKind.INTRODUCTION, ChannelKind.SMS) == []
        state = await case.wait(2 * MINUTE)
        [text] = case.outbox.received(MessageKind.INTRODUCTION, ChannelKind.SMS)
        [record] = [m for m in state.messages if m.kind is MessageKind.INTRODUCTION and m.channel is ChannelKind.SMS]
        assert first_text <= record.at < first_text + MINUTE
        local = record.at.astimezone(LONDON)
        assert 8 <= local.hour < 20 and (local.month, local.day) != (12, 25)


async def test_a_text_the_fallback_reaches_at_night_waits_until_eight(tmp_path) -> None:
    # 23:30 on a Friday; the e-mail address refuses everything and there is no postal address, so
    # the acknowledgement and the introduction fall back to the text: at 08:00, not at once.
    received, eight = utc(2030, 3, 15, 23, 30), utc(2030, 3, 16, 8, 0)
    outbox = RecordingMessaging(rejected={ChannelKind.EMAIL})
    async with server_at(received) as env, running_case(env, tmp_path, outbox=outbox, address=None) as case:
        await case.wait(eight - await env.get_current_time() - MINUTE)
        assert outbox.received(MessageKind.ACKNOWLEDGEMENT) == outbox.received(MessageKind.INTRODUCTION) == []
        assert {key.split("/")[-1] for key, _ in outbox.held} == {"001-acknowledgement-sms"}  # refused at night
        state = await case.wait(2 * MINUTE)

        texts = [m for m in state.messages if m.channel is ChannelKind.SMS]
        # The introduction follows the acknowledgement, by day: its text first, as planned.
        assert [(m.kind, m.status) for m in texts] == [
            (MessageKind.ACKNOWLEDGEMENT, "sent"),
            (MessageKind.INTRODUCTION, "sent"),
        ]
        assert all(eight <= m.at < eight + MINUTE for m in texts)
        assert state.deferred_texts == []
        for name in ("acknowledgement", "introduction"):
            clock = state.milestone(name)
            assert eight <= clock.done_at < eight + MINUTE and clock.met and not clock.breached
        # The wait is no failure: nobody is told a text failed, and nothing needs attention.
        assert not [a for a in state.alerts if "by sms failed" in a or "could not be delivered" in a]
        assert state.attention is None


@dataclass
class RefusingIntroductionEmails(RecordingMessaging):
    """The mailbox takes the acknowledgement, then refuses everything (it filled up)."""

    @activity.defn(name="send_message")
    async def send_message(self, request: SendRequest) -> DeliveryReceipt | CaseReceipt:
        if request.kind is MessageKind.INTRODUCTION and request.channel is ChannelKind.EMAIL:
            raise ApplicationError("mailbox full", type="PermanentDeliveryError", non_retryable=True)
        return await super().send_message(request)


async def test_a_night_introduction_whose_email_is_refused_is_texted_once_at_eight(tmp_path) -> None:
    # 02:00 on a Saturday: the introduction goes in writing at once and its text is held for 08:00.
    # The e-mail is refused and there is no postal address, so the fallback is the text as well:
    # one text at 08:00, not two.
    received, eight = utc(2030, 3, 16, 2, 0), utc(2030, 3, 16, 8, 0)
    outbox = RefusingIntroductionEmails()
    async with server_at(received) as env, running_case(env, tmp_path, outbox=outbox, address=None) as case:
        state = await case.wait(5 * MINUTE)
        assert state.deferred_texts == []  # the fallback text takes the held-back one's place
        state = await case.wait(eight - await env.get_current_time() - MINUTE)
        assert outbox.received(MessageKind.INTRODUCTION, ChannelKind.SMS) == []
        state = await case.wait(2 * MINUTE)
        [text] = outbox.received(MessageKind.INTRODUCTION, ChannelKind.SMS)
        [record] = [m for m in state.messages if m.kind is MessageKind.INTRODUCTION and m.channel is ChannelKind.SMS]
        assert record.key == text.key and record.status == "sent" and eight <= record.at < eight + MINUTE
        intro = state.milestone("introduction")
        assert intro.done_at == record.at and intro.met and not intro.breached


async def test_an_update_whose_text_retries_into_the_evening_goes_in_writing_now_and_by_text_at_eight(
    tmp_path,
) -> None:
    from domain.models import ScheduleAgreed

    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path) as case:
        await case.wait(4 * DAY)
        await case.handle.execute_update(
            ComplaintCase.record_agreement,
            ScheduleAgreed(every=7, contact_time=time(19, 50), recorded_by="amara.okafor"),
        )
        state = await case.state()
        due = state.next_update_at  # 19:50 (GMT: UTC is UK time); by text, then in writing
        assert due is not None and due.astimezone(LONDON).time() == time(19, 50)
        # Twilio is down for 90 minutes from the update: its retries run into the quiet hours.
        case.outbox.down_until = {ChannelKind.SMS: due + 90 * MINUTE}
        state = await case.wait(due + HOUR - await env.get_current_time())
        [email] = case.outbox.received(MessageKind.PROGRESS_UPDATE, ChannelKind.EMAIL)
        [record] = [m for m in state.messages if m.key == email.key]
        assert due + 10 * MINUTE <= record.at < due + 30 * MINUTE  # not held until the text can go
        assert case.outbox.received(MessageKind.PROGRESS_UPDATE, ChannelKind.SMS) == []
        assert [t.kind for t in state.deferred_texts] == [MessageKind.PROGRESS_UPDATE]
        assert state.attention is None and not [m for m in state.messages if m.status == "failed"]
        update = state.milestone("update_1")
        assert update.done_at == record.at and update.met

        eight = (due + DAY).replace(hour=8, minute=0)
        await case.wait(eight - await env.get_current_time() - MINUTE)
        assert case.outbox.received(MessageKind.PROGRESS_UPDATE, ChannelKind.SMS) == []
        state = await case.wait(2 * MINUTE)
        [text] = case.outbox.received(MessageKind.PROGRESS_UPDATE, ChannelKind.SMS)
        [record] = [m for m in state.messages if m.key == text.key]
        assert eight <= record.at < eight + MINUTE


async def test_a_contact_time_at_night_is_refused(tmp_path) -> None:
    from temporalio.client import WorkflowUpdateFailedError

    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path) as case:
        await case.wait(HOUR)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await case.handle.execute_update(
                ComplaintCase.change_update_schedule, ContactScheduleChange(every=7, contact_time=time(21, 30))
            )
        assert "contact_time: 21:30 is outside" in str(refused.value.cause)


# --- 5. order, and nothing after the closure ---------------------------------------------------


async def test_a_complaint_keyed_in_days_late_is_acknowledged_first_then_introduced(tmp_path) -> None:
    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path, received_ago=5 * DAY) as case:
        state = await case.wait(HOUR)
        sent = sorted((m for m in state.messages if m.status == "sent"), key=lambda m: m.key)
        kinds = [m.kind for m in sent]
        assert kinds[0] is MessageKind.ACKNOWLEDGEMENT
        assert kinds.index(MessageKind.INTRODUCTION) < kinds.index(MessageKind.UPDATE_SCHEDULE)
        assert sent[0].key.endswith("/001-acknowledgement-email")
        # Keyed in after its 48 hours ran out: the acknowledgement does not promise them.
        from channels.rendering import render

        [ack] = case.outbox.received(MessageKind.ACKNOWLEDGEMENT)
        assert ack.context.introduction_due_at is None
        assert "within 48 hours" not in render(ack).text and "later than it should have" in render(ack).text
        assert state.milestone("acknowledgement").breached  # keyed in late: the record says so
        # One breach alert per late clock, no "75 % gone" warning for a clock already missed.
        assert not [a for a in state.alerts if ": acknowledgement due " in a or ": introduction due " in a]
        assert [a for a in state.alerts if "acknowledgement missed" in a]
        # The 3 working days are already over: the introduction does not say "if we cannot resolve
        # it within 3 working days, I will offer you ...", it says the offer comes with it.
        intro = next(m for m in case.outbox.received(MessageKind.INTRODUCTION) if m.channel is ChannelKind.EMAIL)
        assert intro.context.schedule_offer_follows
        text = render(intro).text
        assert "within 3 working days" not in text and "I am also sending you a contact time" in text


async def test_a_message_still_retrying_at_closure_is_withdrawn_not_delivered_after_it(tmp_path) -> None:
    policy = load_policy().model_copy(update={"send_retry_ceiling_minutes": 7 * 24 * 60})
    outbox = RecordingMessaging()
    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path, outbox=outbox, policy=policy) as case:
        await case.wait(HOUR)
        # SMS and email go down before the 3-working-day offer; the customer then says satisfied.
        outbox.down_until = {ChannelKind.SMS: PLAIN_TUESDAY + 30 * DAY, ChannelKind.EMAIL: PLAIN_TUESDAY + 4 * DAY}
        await case.wait(3 * DAY)
        assert case.outbox.received(MessageKind.UPDATE_SCHEDULE) == []
        await case.handle.signal(ComplaintCase.customer_satisfied)
        await case.env.sleep(2 * DAY)
        _, final = await case.closed()
    [closure] = outbox.received(MessageKind.CLOSURE)
    assert outbox.received(MessageKind.UPDATE_SCHEDULE) == []  # never after the closure
    withdrawn = [m for m in final.messages if m.status == "withdrawn"]
    assert withdrawn and all(m.kind is MessageKind.UPDATE_SCHEDULE for m in withdrawn)
    assert closure.key in {m.key for m in final.messages if m.status == "sent"}


# --- 8. superseded clocks ----------------------------------------------------------------------


async def test_escalating_before_the_first_introduction_supersedes_it_instead_of_breaching(tmp_path) -> None:
    # Thursday 20:00: the introduction waits for Friday 09:00 (inside its 48 hours).
    received = utc(2030, 2, 14, 20, 0)
    async with server_at(received) as env, running_case(env, tmp_path) as case:
        state = await case.wait(HOUR)
        assert state.milestone("introduction").done_at is None
        await case.handle.signal(ComplaintCase.customer_not_satisfied, NotSatisfied(reason="Nobody called"))
        state = await case.wait(3 * DAY)
        first = state.milestone("introduction")
        assert first.done_at is None and first.superseded_at is not None and not first.breached
        assert not any("introduction missed" in a for a in state.alerts)
        second = state.milestone("introduction_2")
        assert second.done_at == utc(2030, 2, 15, 9, 0) or whole(second.done_at) == utc(2030, 2, 15, 9, 0)
        assert [m.context.handler.id for m in case.outbox.received(MessageKind.INTRODUCTION)] == [state.owner.id] * 2


# --- 9, 10. facts and commands that arrive before the case has opened ----------------------------


async def test_facts_that_arrive_with_the_start_are_all_kept_and_the_case_is_acknowledged(tmp_path) -> None:
    async def answer_at_once(handle: WorkflowHandle) -> None:
        await handle.signal(ComplaintCase.customer_satisfied)
        await handle.signal(ComplaintCase.customer_not_satisfied, NotSatisfied(reason="Actually, still broken"))

    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path, before_worker=answer_at_once) as case:
        _, final = await case.closed()
    kinds = [m.kind for m in sorted(final.messages, key=lambda m: m.key)]
    # What was due at that moment goes first (the handler's introduction, by text and in writing),
    # so a task retried after a crash reaches this same record; the closure is always last.
    assert kinds[0] is MessageKind.ACKNOWLEDGEMENT and kinds[-1] is MessageKind.CLOSURE
    assert set(kinds[1:-1]) <= {MessageKind.INTRODUCTION}
    assert final.milestone("acknowledgement").met
    assert any("Actually, still broken" in r and "after the case closed" in r for r in final.refused)


async def test_a_command_sent_before_the_case_opens_waits_for_it_and_never_fails_a_task(tmp_path) -> None:
    pending: list[asyncio.Task[UpdateSchedule]] = []

    async def command_at_once(handle: CaseHandle) -> None:
        pending.append(
            asyncio.create_task(
                handle.execute_update(
                    ComplaintCase.change_update_schedule, ContactScheduleChange(every=3, contact_time=time(14, 0))
                )
            )
        )
        await asyncio.sleep(0.5)  # the update reaches the server before any worker polls

    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path, before_worker=command_at_once) as case:
        schedule = await asyncio.wait_for(pending[0], timeout=30)
        assert schedule.every == 3
        state = await case.wait(HOUR)
        assert state.schedule is not None and state.schedule.every == 3
        history = await case.handle.fetch_history()
        assert not [e for e in history.events if e.HasField("workflow_task_failed_event_attributes")]


# --- 11. deadlock at any point -----------------------------------------------------------------


async def test_deadlock_after_the_eight_week_letter_stops_the_updates_and_tells_the_customer(tmp_path) -> None:
    # The 8-week letter promised "we will keep updating you": at deadlock the updates stop, so the
    # customer gets the deadlock letter the Code names (v8; before, nothing told them).
    from channels.rendering import render

    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path) as case:
        await case.wait(8 * WEEK + DAY)
        adr_done = (await case.state()).milestone("adr_rights").done_at
        result = await case.handle.execute_update(
            ComplaintCase.declare_deadlock, Deadlock(reason="No agreement", recorded_by="sian.evans")
        )
        assert result == "deadlock recorded; the deadlock letter is being sent (the ADR rights went at 8 weeks)"
        [declared] = [n for n in (await case.state()).notes if n.author == "deadlock"]
        assert declared.recorded_by == "sian.evans"
        updates_before = len(case.outbox.received(MessageKind.PROGRESS_UPDATE))
        state = await case.wait(4 * WEEK)
        assert state.stage is CaseStage.DEADLOCK and state.next_update_at is None
        assert len(case.outbox.received(MessageKind.PROGRESS_UPDATE)) == updates_before
        [eight_weeks, deadlock] = case.outbox.received(MessageKind.ADR_RIGHTS)
        assert eight_weeks.context.adr_reason == "eight_weeks"
        assert deadlock.context.adr_reason == "deadlock" and deadlock.context.deadlock_reason == "No agreement"
        text = render(deadlock).text
        assert "reached deadlock" in text and "We will not send you further regular updates" in text
        assert state.milestone("adr_rights").done_at == adr_done  # the 8-week clock was met once
        # Nothing a handler does now may promise an update that will not come.
        from temporalio.client import WorkflowUpdateFailedError

        from domain.models import ScheduleAgreed

        refusals = [
            case.handle.execute_update(
                ComplaintCase.add_note, ProgressNote(author="amara.okafor", text="Engineer booked", for_customer=True)
            ),
            case.handle.execute_update(
                ComplaintCase.record_agreement,
                ScheduleAgreed(every=7, contact_time=time(10, 0), recorded_by="amara.okafor"),
            ),
            case.handle.execute_update(ComplaintCase.change_update_schedule, ContactScheduleChange(every=3)),
        ]
        for refusal in refusals:
            with pytest.raises(WorkflowUpdateFailedError) as refused:
                await refusal
            assert "is in deadlock and regular updates have stopped" in str(refused.value.cause)
        # An internal note is still kept.
        await case.handle.execute_update(
            ComplaintCase.add_note, ProgressNote(author="amara.okafor", text="Closed file")
        )


async def test_deadlock_before_the_introduction_owes_no_introduction_after_the_deadlock_letter(tmp_path) -> None:
    from domain.models import CallMade, CallOutcome

    # Thursday 20:00: the written introduction waits for Friday 09:00, and deadlock comes first.
    async with server_at(utc(2030, 2, 14, 20, 0)) as env, running_case(env, tmp_path) as case:
        await case.wait(30 * MINUTE)
        await case.handle.execute_update(ComplaintCase.declare_deadlock, Deadlock(reason="No agreement"))
        state = await case.wait(2 * DAY)
        assert case.outbox.received(MessageKind.INTRODUCTION) == []  # "I will investigate ..." would be untrue
        intro = state.milestone("introduction")
        assert intro.superseded_at is not None and not intro.breached
        owner = state.owner
        assert owner is not None
        call = await case.handle.execute_update(
            ComplaintCase.record_call, CallMade(outcome=CallOutcome.REACHED, recorded_by=owner.id)
        )
        assert call.met is None and case.outbox.received(MessageKind.INTRODUCTION) == []


async def test_deadlock_before_the_review_leaves_no_past_deadline_behind(tmp_path) -> None:
    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path) as case:
        await case.wait(2 * DAY)
        await case.handle.execute_update(ComplaintCase.declare_deadlock, Deadlock(reason="No agreement"))
        state = await case.wait(3 * DAY)
        review = state.milestone("review")
        assert review.superseded_at is not None and not review.breached
        # What the case publishes as NextDeadline: the review is owed no more, the ADR letter has
        # gone, so no obligation is left in the past for `admin.py list --overdue` to show.
        next_deadline = sa.next_deadline(state)
        assert next_deadline is None or next_deadline > await env.get_current_time()


# --- 12. compensation --------------------------------------------------------------------------


async def test_a_billing_outage_never_holds_the_command_or_the_case_and_credits_once(tmp_path) -> None:
    billing = FlakyBilling(BillingActivities(tmp_path / "billing.sqlite3"), down_until=PLAIN_TUESDAY + DAY)
    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path, billing=billing) as case:
        await case.wait(HOUR)
        award = CompensationAward(
            amount_gbp=Decimal("25.00"), reason="Two missed engineer visits", recorded_by="amara.okafor"
        )
        pending = await asyncio.wait_for(case.handle.execute_update(ComplaintCase.record_compensation, award), 30)
        assert pending.credit_id is None  # not credited yet, and not recorded as awarded
        assert pending.recorded_by == "amara.okafor"
        state = await case.state()
        assert state.compensations == [] and len(state.pending_compensations) == 1
        assert any("compensation not credited yet" in a for a in state.alerts)

        state = await case.wait(2 * DAY)
        [credited] = state.compensations
        assert credited.credit_id and state.pending_compensations == []
        assert credited.recorded_by == "amara.okafor"  # who awarded it, kept through the outage
        assert BillingActivities(tmp_path / "billing.sqlite3").credits_for(state.reference) == [
            (credited.credit_id, 2500)
        ]
        assert len(case.outbox.received(MessageKind.COMPENSATION)) == 1
        await case.handle.signal(ComplaintCase.customer_satisfied)
        await case.handle.result()


async def test_a_credit_that_lands_after_the_case_closed_is_still_told_to_the_customer(tmp_path) -> None:
    # The customer confirmed while billing was down: the credit goes through the next day, and the
    # customer hears of it then (v8), after the closure, which could not say it had been credited.
    billing = FlakyBilling(BillingActivities(tmp_path / "billing.sqlite3"), down_until=PLAIN_TUESDAY + DAY)
    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path, billing=billing) as case:
        await case.wait(HOUR)
        award = CompensationAward(amount_gbp=Decimal("25.00"), reason="Two missed engineer visits")
        await asyncio.wait_for(case.handle.execute_update(ComplaintCase.record_compensation, award), 30)
        await case.handle.signal(ComplaintCase.customer_satisfied)
        state = await case.wait(HOUR)
        assert state.stage is CaseStage.CLOSED and case.outbox.received(MessageKind.COMPENSATION) == []
        _, final = await case.closed()
        [credited] = final.compensations
        [told] = case.outbox.received(MessageKind.COMPENSATION)
        assert told.context.compensation_gbp == Decimal("25.00")
        kinds = [m.kind for m in final.messages if m.status == "sent"]
        assert kinds.index(MessageKind.CLOSURE) < kinds.index(MessageKind.COMPENSATION)
        [record] = [m for m in final.messages if m.kind is MessageKind.COMPENSATION]
        assert record.at >= PLAIN_TUESDAY + DAY and credited.credit_id


async def test_a_note_longer_than_a_text_goes_in_writing_too_when_updates_are_agreed_by_text(tmp_path) -> None:
    from domain.models import ScheduleAgreed
    from domain.reach import SMS_NOTE_CHARS

    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path) as case:
        await case.wait(4 * DAY)  # the schedule has been offered (Friday the 15th)
        await case.handle.execute_update(
            ComplaintCase.record_agreement,
            ScheduleAgreed(every=7, contact_time=time(15, 0), channel=ChannelKind.SMS, recorded_by="amara.okafor"),
        )
        note = "The engineer found water in the junction box at the end of your road. " * 4
        assert len(note.strip()) > SMS_NOTE_CHARS
        await case.handle.execute_update(
            ComplaintCase.add_note, ProgressNote(author="amara.okafor", text=note, for_customer=True)
        )
        state = await case.wait(DAY)
        assert state.next_update_at is not None
        await case.wait(state.next_update_at - await env.get_current_time() + HOUR)
        [text] = case.outbox.received(MessageKind.PROGRESS_UPDATE, ChannelKind.SMS)[:1]
        [written] = case.outbox.received(MessageKind.PROGRESS_UPDATE, ChannelKind.EMAIL)[:1]
        assert text.context.progress_note_in_writing and written.context.progress_note == note.strip()
        # A short note fits in the text: no written copy of the next update.
        await case.handle.execute_update(
            ComplaintCase.add_note, ProgressNote(author="amara.okafor", text="Engineer Friday.", for_customer=True)
        )
        state = await case.state()
        assert state.next_update_at is not None
        await case.wait(state.next_update_at - await env.get_current_time() + HOUR)
        assert len(case.outbox.received(MessageKind.PROGRESS_UPDATE, ChannelKind.EMAIL)) == 1
        assert len(case.outbox.received(MessageKind.PROGRESS_UPDATE, ChannelKind.SMS)) == 2


# --- 13. letters are dispatched, then delivered ------------------------------------------------


async def test_a_posted_introduction_meets_its_clock_when_the_post_delivers_it(tmp_path) -> None:
    # A landline and a letter: the introduction can only go by post.
    async with (
        server_at(PLAIN_TUESDAY) as env,
        running_case(env, tmp_path, phone="029 2018 3000", email=None, preferred_written_channel="letter") as case,
    ):
        state = await case.wait(HOUR)
        letters = {m.kind: m for m in state.messages if m.channel is ChannelKind.LETTER}
        ack = letters[MessageKind.ACKNOWLEDGEMENT]
        # Printed Tuesday morning, collected at 17:00, delivered two working days later.
        assert ack.dispatched_at == utc(2030, 2, 12, 17, 0)
        assert ack.expected_delivery_at == utc(2030, 2, 14, 17, 0)
        assert state.milestone("acknowledgement").done_at == ack.dispatched_at
        intro = state.milestone("introduction")
        assert intro.done_at == letters[MessageKind.INTRODUCTION].expected_delivery_at
        state = await case.wait(3 * DAY)
        assert state.milestone("introduction").breached is False
        assert not state.milestone("introduction").met  # by post it arrives after the 48 hours


# --- 11.3 (security). the reference is the workflow id -----------------------------------------


async def test_a_case_whose_reference_is_not_its_workflow_id_fails_before_sending_anything(tmp_path) -> None:
    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path, record=False) as case:
        now = await env.get_current_time()
        handle = await env.client.start_workflow(
            ComplaintCase.run,
            CaseInput(reference="CC-2030-AAAAAA", intake=intake_at(now), policy=load_policy()),
            id="CC-2030-BBBBBB",
            task_queue=(await case.handle.describe()).task_queue,
        )
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
        assert "is not this case's workflow id" in str(failed.value.cause)
    assert not [k for k in case.outbox.delivered if "AAAAAA" in k or "BBBBBB" in k]


# --- 19. bounded state -------------------------------------------------------------------------


async def test_a_case_with_500_notes_stays_under_a_megabyte_and_refuses_past_its_budget(tmp_path) -> None:
    from temporalio.client import WorkflowUpdateFailedError

    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path) as case:
        await case.wait(HOUR)
        note = ("Called the customer; engineer visit moved to next week; line test clean. " * 6)[:396]
        for _ in range(500):
            await case.handle.execute_update(ComplaintCase.add_note, ProgressNote(text=note))
        state = await asyncio.wait_for(case.state(), 30)
        assert len(state.notes) == 500
        # What a continue-as-new would carry: the input with the whole state in it.
        carried = CaseInput(
            reference=state.reference, intake=intake_at(PLAIN_TUESDAY), policy=load_policy(), carried_state=state
        )
        assert len(carried.model_dump_json()) < 1_000_000
        # Past the policy's budget (200,000 characters) a note is refused with the reason, and
        # nothing is recorded.
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await case.handle.execute_update(ComplaintCase.add_note, ProgressNote(text="x" * 5000))
        assert "characters of notes" in str(refused.value.cause)
        assert len((await case.state()).notes) == 500


# --- the handler's human facts (issue 12) ------------------------------------------------------


async def test_who_confirmed_and_how_is_recorded_and_told_in_the_closure(tmp_path) -> None:
    from channels.rendering import render
    from domain.models import HowSaid, Satisfied

    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path) as case:
        await case.wait(DAY)
        await case.handle.signal(
            ComplaintCase.customer_satisfied, Satisfied(recorded_by="amara.okafor", how=HowSaid.PHONE)
        )
        _, final = await case.closed()
    assert final.confirmation.recorded_by == "amara.okafor"
    assert final.confirmation.how is HowSaid.PHONE
    [closure] = case.outbox.received(MessageKind.CLOSURE)
    assert closure.context.confirmed_how == "phone"
    assert "Thank you for confirming by phone on 13 February 2030" in render(closure).text


async def test_a_call_that_reaches_the_customer_meets_the_introduction_and_the_writing_follows(tmp_path) -> None:
    from domain.models import CallMade, CallOutcome

    # Thursday 20:00: the introduction is owed by Saturday 20:00, planned for Friday 09:00.
    async with server_at(utc(2030, 2, 14, 20, 0)) as env, running_case(env, tmp_path) as case:
        await case.wait(30 * MINUTE)
        owner = (await case.state()).owner
        assert owner is not None
        missed = await case.handle.execute_update(
            ComplaintCase.record_call, CallMade(outcome=CallOutcome.NO_ANSWER, recorded_by=owner.id)
        )
        assert missed.met is None
        call = await case.handle.execute_update(
            ComplaintCase.record_call,
            CallMade(outcome=CallOutcome.REACHED, recorded_by=owner.id, note="Agreed to write"),
        )
        assert call.met == "introduction"
        state = await case.wait(MINUTE)
        assert state.milestone("introduction").done_at == call.at
        assert [c.outcome for c in state.calls] == [CallOutcome.NO_ANSWER, CallOutcome.REACHED]
        # Followed up in writing at once (not at Friday 09:00), and never a text at night.
        [written] = case.outbox.received(MessageKind.INTRODUCTION)
        assert written.channel is ChannelKind.EMAIL
        await case.wait(DAY)
        assert len(case.outbox.received(MessageKind.INTRODUCTION)) == 1


async def test_a_call_by_someone_other_than_the_owner_is_not_the_owners_introduction(tmp_path) -> None:
    from domain.models import CallMade, CallOutcome

    # The written follow-up signs as the owner ("My name is ..."): a colleague's call cannot be it.
    # Thursday 20:00: the written introduction waits for Friday 09:00, so it is still owed.
    async with server_at(utc(2030, 2, 14, 20, 0)) as env, running_case(env, tmp_path) as case:
        await case.wait(30 * MINUTE)
        owner = (await case.state()).owner
        assert owner is not None
        someone_else = "amara.okafor" if owner.id != "amara.okafor" else "rhys.griffiths"
        colleague = await case.handle.execute_update(
            ComplaintCase.record_call, CallMade(outcome=CallOutcome.REACHED, recorded_by=someone_else)
        )
        assert colleague.met is None
        assert colleague.not_met == f"the introduction is owed by the case's owner, {owner.id}"
        state = await case.wait(MINUTE)
        assert state.milestone("introduction").done_at is None and len(state.calls) == 1
        own = await case.handle.execute_update(
            ComplaintCase.record_call, CallMade(outcome=CallOutcome.REACHED, recorded_by=owner.id)
        )
        assert own.met == "introduction" and own.not_met is None


async def test_an_agreed_schedule_says_so_and_a_pause_holds_updates_but_not_the_eight_week_letter(tmp_path) -> None:
    from datetime import date

    from domain.models import ScheduleAgreed, UpdatesPaused

    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path) as case:
        await case.wait(4 * DAY)  # the schedule has been offered (Friday the 15th)
        schedule = await case.handle.execute_update(
            ComplaintCase.record_agreement,
            ScheduleAgreed(every=7, contact_time=time(15, 0), channel=ChannelKind.EMAIL, recorded_by="amara.okafor"),
        )
        assert schedule.contact_time == time(15, 0)
        state = await case.state()
        assert state.schedule_agreed_at is not None and state.update_channel is ChannelKind.EMAIL
        assert state.schedule_recorded_by == "amara.okafor"
        confirmation = case.outbox.received(MessageKind.UPDATE_SCHEDULE)[-1]
        assert confirmation.context.schedule_agreed_at == state.schedule_agreed_at

        result = await case.handle.execute_update(
            ComplaintCase.pause_updates,
            UpdatesPaused(until=date(2030, 3, 18), reason="In hospital", recorded_by="amara.okafor"),
        )
        assert "paused until 2030-03-18" in result
        state = await case.wait(5 * WEEK)
        updates = [m for m in state.milestones if m.name.startswith("update_")]
        # Agreed on Saturday the 16th: every 7 days at 15:00 (by email only), then nothing until the
        # 18th of March; the 8-week clock never pauses.
        assert all(m.done_at.date() >= date(2030, 3, 18) for m in updates)
        assert updates and updates[0].due_at.date() == date(2030, 3, 18)
        emails = case.outbox.received(MessageKind.PROGRESS_UPDATE)
        assert emails and all(r.channel is ChannelKind.EMAIL for r in emails)
        assert all(r.context.schedule_agreed_at == state.schedule_agreed_at for r in emails)
        state = await case.wait(3 * WEEK)  # past the 8-week mark
        assert len(case.outbox.received(MessageKind.ADR_RIGHTS)) == 1


async def test_corrected_contact_details_are_used_from_then_on_and_the_old_ones_are_not_kept(tmp_path) -> None:
    from domain.models import INTAKE, ContactCorrection

    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path) as case:
        await case.wait(HOUR)
        correction = ContactCorrection.model_validate(
            {"email": "gwen.p@example.org", "phone": "029 2018 3000", "recorded_by": "amara.okafor"}, context=INTAKE
        )
        changed = await case.handle.execute_update(ComplaintCase.correct_contact, correction)
        assert changed == ["email", "phone"]
        state = await case.wait(4 * DAY)
        assert state.customer.email == "gwen.p@example.org" and state.customer.phone_is_mobile is False
        assert [(c.by, c.fields) for c in state.contact_changes] == [("amara.okafor", ["email", "phone"])]
        offer = case.outbox.received(MessageKind.UPDATE_SCHEDULE)
        # A landline now: no text, and the email goes to the corrected address.
        assert [r.channel for r in offer] == [ChannelKind.EMAIL]
        assert offer[0].recipient.email == "gwen.p@example.org"
        # The record of the change names fields, not values: nothing new holds the old address.
        new_records = state.customer.model_dump_json() + "".join(c.model_dump_json() for c in state.contact_changes)
        assert "gwen.pritchard@example.com" not in new_records and "07911" not in new_records


async def test_a_reassigned_case_is_introduced_by_its_new_owner_at_the_same_level(tmp_path) -> None:
    from temporalio.client import WorkflowUpdateFailedError

    from domain.models import CaseRole, Reassignment
    from settings import load_roster

    roster = load_roster()
    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path) as case:
        state = await case.wait(DAY)
        first = state.owner
        other = next(h for h in roster if h.role is CaseRole.CASE_HANDLER and h.id != first.id)
        manager = next(h for h in roster if h.role is CaseRole.CUSTOMER_SERVICE_MANAGER)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await case.handle.execute_update(
                ComplaintCase.reassign, Reassignment(to=manager, reason="cover", recorded_by="lead")
            )
        assert "moves up only when the customer is not satisfied" in str(refused.value.cause)
        moved = await case.handle.execute_update(
            ComplaintCase.reassign, Reassignment(to=other, reason="Amara on leave", recorded_by="lead")
        )
        assert moved.id == other.id
        state = await case.wait(HOUR)
        assert state.owner.id == other.id and state.escalation_level == 0
        assert state.milestone("introduction_2").done_at is not None
        intros = case.outbox.received(MessageKind.INTRODUCTION)
        assert {r.context.handler.id for r in intros} == {first.id, other.id}


async def test_a_customer_back_within_eight_weeks_of_closure_reopens_the_same_case_escalated(tmp_path) -> None:
    import starter

    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path) as case:
        await case.wait(DAY)
        await case.handle.signal(ComplaintCase.customer_satisfied)
        # Queried, not awaited with result(): the test server skips years while a client waits on
        # a result, and the re-open window is measured on its clock.
        closed = await case.wait(MINUTE)
        assert closed.stage is CaseStage.CLOSED
        await env.sleep(2 * WEEK)
        outcome = await starter.reopen_case(
            env.client, closed.reference, NotSatisfied(reason="The fault is back"), now=await env.get_current_time()
        )
        assert outcome == "re-opened"
        reopened = env.client.get_workflow_handle(closed.reference)  # the latest run of the same case
        state = await reopened.query(ComplaintCase.case_state)
        assert state.reference == closed.reference and state.stage is not CaseStage.CLOSED
        [period] = state.reopenings
        assert period.closed_at == closed.closed_at and period.reason == "The fault is back"
        await env.sleep(HOUR)
        state = await reopened.query(ComplaintCase.case_state)
        assert state.escalation_level == 1 and state.owner.role.value == "customer_service_manager"
        assert len(case.outbox.received(MessageKind.ESCALATION)) == 1
        # The 8-week letter still goes 8 weeks from first receipt, not from the re-opening.
        await env.sleep(PLAIN_TUESDAY + 8 * WEEK + HOUR - await env.get_current_time())
        state = await reopened.query(ComplaintCase.case_state)
        assert PLAIN_TUESDAY + 8 * WEEK <= state.milestone("adr_rights").done_at <= PLAIN_TUESDAY + 8 * WEEK + HOUR
        await reopened.terminate("test finished")


async def test_the_closure_tells_the_customer_until_when_the_case_is_reopened(tmp_path) -> None:
    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path) as case:
        await case.wait(DAY)
        await case.handle.signal(ComplaintCase.customer_satisfied)
        closed = await case.wait(MINUTE)
    [closure] = case.outbox.received(MessageKind.CLOSURE)
    assert closed.closed_at is not None
    assert closure.context.reopen_by == closed.closed_at + 8 * WEEK  # the policy's window


async def test_a_customer_back_after_the_reopen_window_is_told_to_file_a_new_complaint(tmp_path) -> None:
    import starter

    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path) as case:
        await case.wait(DAY)
        await case.handle.signal(ComplaintCase.customer_satisfied)
        closed = await case.wait(MINUTE)
        await env.sleep(9 * WEEK)
        last_day = (closed.closed_at + 8 * WEEK).astimezone(LONDON)
        with pytest.raises(starter.CannotReopen) as refused:
            await starter.reopen_case(
                env.client, closed.reference, NotSatisfied(reason="Late"), now=await env.get_current_time()
            )
        # The refusal names the day the closure gave the customer, and what to do instead.
        assert str(refused.value) == (
            f"case {closed.reference} closed on {closed.closed_at.astimezone(LONDON):%d %b %Y} and could be "
            f"re-opened until the end of {last_day:%d %b %Y} (8 weeks): file a new complaint"
        )
        # Nothing was started: the case's latest run is still the one that closed.
        history = await env.client.get_workflow_handle(closed.reference).fetch_history()
        assert history.events[-1].HasField("workflow_execution_completed_event_attributes")


async def test_a_customer_who_wrote_on_the_last_day_reopens_the_case_even_when_it_is_recorded_later(
    tmp_path,
) -> None:
    # The closure said "contact us by <date>": the customer's words decide, not when a handler
    # gets to them (the managers' notice of a reply gives its time as --said-at).
    import starter

    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path) as case:
        await case.wait(DAY)
        await case.handle.signal(ComplaintCase.customer_satisfied)
        closed = await case.wait(MINUTE)
        last_day = (closed.closed_at + 8 * WEEK).astimezone(LONDON).date()
        said_at = datetime.combine(last_day, time(21, 30), LONDON)  # an e-mail that evening
        await env.sleep(9 * WEEK)  # read the next week
        told = NotSatisfied(reason="The fault is back", recorded_by="amara", how=HowSaid.EMAIL, said_at=said_at)
        with pytest.raises(starter.CannotReopen) as refused:
            late = told.model_copy(update={"said_at": said_at + DAY})
            await starter.reopen_case(env.client, closed.reference, late, now=await env.get_current_time())
        assert f"the customer said this on {(said_at + DAY):%d %b %Y}" in str(refused.value)
        outcome = await starter.reopen_case(env.client, closed.reference, told, now=await env.get_current_time())
        assert outcome == "re-opened"
        reopened = env.client.get_workflow_handle(closed.reference)
        state = await reopened.query(ComplaintCase.case_state)
        [period] = state.reopenings
        assert period.reason == "The fault is back"
        await reopened.terminate("test finished")


@pytest.mark.parametrize(
    ("outcome", "says"),
    [
        ("withdrawn", "As you asked, we have withdrawn your complaint"),
        ("duplicate", "already handling under reference CC-2030-ABCDEFGH"),
    ],
)
async def test_a_case_closed_for_another_reason_says_so_and_keeps_the_acknowledgement_first(
    outcome: str, says: str, tmp_path
) -> None:
    from channels.rendering import render
    from domain.models import CaseClosure, ClosureOutcome

    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path) as case:
        await case.wait(DAY)
        closure = CaseClosure(
            outcome=ClosureOutcome(outcome),
            reason="The customer asked us to stop" if outcome == "withdrawn" else "Filed twice",
            duplicate_of="CC-2030-ABCDEFGH" if outcome == "duplicate" else None,
            recorded_by="amara.okafor",
        )
        result = await case.handle.execute_update(ComplaintCase.close_case, closure)
        assert "closed" in result
        _, final = await case.closed()
    assert final.closure == closure and final.confirmation is None
    [letter] = case.outbox.received(MessageKind.CLOSURE)
    assert says in render(letter).text
    assert "Thank you for confirming" not in render(letter).text
    assert final.archived_at is not None


async def test_no_response_is_refused_before_the_eight_week_letter_has_gone(tmp_path) -> None:
    from temporalio.client import WorkflowUpdateFailedError

    from domain.models import CaseClosure, ClosureOutcome

    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path) as case:
        await case.wait(DAY)
        closure = CaseClosure(
            outcome=ClosureOutcome.NO_RESPONSE, reason="No reply to three calls", recorded_by="amara.okafor"
        )
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await case.handle.execute_update(ComplaintCase.close_case, closure)
        assert "only once the ADR-rights letter has gone" in str(refused.value.cause)
        await case.wait(8 * WEEK)
        assert "closed" in await case.handle.execute_update(ComplaintCase.close_case, closure)
        _, final = await case.closed()
    assert final.closure.outcome.value == "no_response"


async def test_a_cancelled_case_still_writes_its_compliance_record(tmp_path) -> None:
    from activities.archive import CaseArchive

    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path) as case:
        await case.wait(DAY)
        await case.handle.cancel()
        with pytest.raises(WorkflowFailureError):
            await case.handle.result()
        reference = case.handle.id
    record, _ = CaseArchive(tmp_path / "archive.sqlite3").load(reference)
    assert record is not None and record.state.attention == "the case was cancelled"


# --- the owner is told, and vulnerable customers are looked after ------------------------------


def staff_notices(tmp_path, kind: str) -> list[dict]:
    import json

    return [n for n in (json.loads(p.read_text()) for p in (tmp_path / "alerts").glob("*.json")) if n["kind"] == kind]


async def test_a_new_owner_is_told_and_reminded_before_each_call_owed(tmp_path) -> None:
    # Thursday 20:00: the introduction is planned for Friday 09:00 and owed by Saturday 20:00.
    async with server_at(utc(2030, 2, 14, 20, 0)) as env, running_case(env, tmp_path) as case:
        state = await case.wait(HOUR)
        [work] = staff_notices(tmp_path, "work")
        assert work["to_handler"] == state.owner.id and work["to_email"] == state.owner.email
        assert "call the customer to introduce yourself by Sat 16 Feb 20:00" in work["detail"]
        await case.wait(2 * DAY)
        reminders = staff_notices(tmp_path, "reminder")
        # The introduction went on Friday at 09:00, well before its reminder was due: none was sent.
        assert reminders == []
        await case.wait(10 * DAY)  # past the first regular update
        reminders = staff_notices(tmp_path, "reminder")
        assert any("before the regular update" in r["subject"] for r in reminders)


async def test_a_vulnerable_customer_gets_a_senior_owner_told_of_their_needs_and_never_a_text_alone(tmp_path) -> None:
    outbox = RecordingMessaging(rejected={ChannelKind.EMAIL})
    async with (
        server_at(PLAIN_TUESDAY) as env,
        running_case(
            env,
            tmp_path,
            outbox=outbox,
            vulnerable=True,
            accessibility_needs=["Braille", "Calls before noon"],
        ) as case,
    ):
        state = await case.wait(HOUR)
        assert state.owner.role.value == "customer_service_manager" and state.escalation_level == 1
        [work] = staff_notices(tmp_path, "work")
        assert "VULNERABLE CUSTOMER" in work["detail"] and "Braille" in work["detail"]
        # Email refuses: the introduction reached them by text, and the writing followed by post.
        intro = [m for m in state.messages if m.kind is MessageKind.INTRODUCTION and m.status == "sent"]
        assert {m.channel for m in intro} == {ChannelKind.SMS, ChannelKind.LETTER}
        assert all(m.accessibility_needs == ["Braille", "Calls before noon"] for m in intro)
        items = staff_notices(tmp_path, "work_item")
        assert items and all(i["to_team"] == "post_room" and "Braille" in i["subject"] for i in items)


async def test_staff_notices_reach_the_staff_mailbox_and_a_breach_reaches_every_service_manager(tmp_path) -> None:
    from email import message_from_bytes

    from channels.base import safe_file_stem
    from domain.models import CaseRole
    from settings import load_roster

    managers = {h.email for h in load_roster() if h.role is CaseRole.CUSTOMER_SERVICE_MANAGER}
    # Email down for days: the acknowledgement's clock breaches.
    policy = load_policy().model_copy(update={"send_retry_ceiling_minutes": 7 * 24 * 60})
    outbox = RecordingMessaging(down_until={ChannelKind.EMAIL: PLAIN_TUESDAY + 3 * DAY})
    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path, outbox=outbox, policy=policy) as case:
        state = await case.wait(2 * DAY)
        staff = tmp_path / "outbox" / "staff"
        owner_mail = [
            message_from_bytes(p.read_bytes()) for p in staff.glob(f"{state.owner.email.replace('@', '_')}*/*.eml")
        ]
        assert any(m["X-Notice-Kind"] == "work" and "a case for you" in m["Subject"] for m in owner_mail)
        breach_to = {
            p.parent.name
            for p in staff.glob("*/*.eml")
            if "acknowledgement missed" in message_from_bytes(p.read_bytes())["Subject"]
        }
        assert breach_to == {safe_file_stem(m) for m in managers}
