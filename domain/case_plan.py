"""Every timed step a case still owes, derived from its state: the functional core of ComplaintCase.

The workflow turns each `PlannedStep` into its action (a send, a warning, a breach check) and sleeps
until the earliest one to come. Pure: given the state, the policy, the calendar, the customer and
`now`, the plan is the same on every replay. Steps are listed in order of precedence: steps due at
once start in this order, so their messages are numbered in it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

from domain import policy as clocks
from domain.calendar import WorkingCalendar
from domain.contact import local_moment
from domain.formatting import local_label
from domain.milestones import (
    ACKNOWLEDGEMENT,
    ADR_RIGHTS,
    REVIEW,
    adr_send_at,
    current_introduction,
    pending,
    settled,
)
from domain.models import CaseStage, CaseState, ComplaintPolicy, Customer, DeferredText, Milestone

# A few minutes early, so the schedule message is out by the 3-working-day mark, not just after it.
REVIEW_LEAD = timedelta(minutes=5)


class Step(StrEnum):
    """What a planned step does when it comes due."""

    ACKNOWLEDGE = "acknowledge"
    INTRODUCE = "introduce"
    START_UPDATES = "start_updates"  # agree (v1/v2) or offer (v3) the update schedule
    REGULAR_UPDATE = "regular_update"
    ADR_LETTER = "adr_letter"
    REMIND = "remind"
    DEFERRED_TEXT = "deferred_text"
    WARN = "warn"
    CHECK_BREACH = "check_breach"


class Reminder(NamedTuple):
    """The owner is reminded at `at` of `what`; `key` marks it done in `CaseState.reminded`."""

    at: datetime
    key: str
    what: str


class PlannedStep(NamedTuple):
    at: datetime
    what: str  # for the Web UI's timer summary and current details
    step: Step
    milestone: Milestone | None = None  # WARN and CHECK_BREACH: the state's own milestone
    reminder: Reminder | None = None  # REMIND
    text: DeferredText | None = None  # DEFERRED_TEXT


def planned_v1(
    state: CaseState,
    policy: ComplaintPolicy,
    calendar: WorkingCalendar,
    now: datetime,
    *,
    in_flight: Collection[str],
) -> list[PlannedStep]:
    """Cases begun before v3: every timed step still to come."""
    plan: list[PlannedStep] = []
    ack = state.milestone(ACKNOWLEDGEMENT)
    if pending(ack, in_flight):
        plan.append(PlannedStep(now, "send the acknowledgement", Step.ACKNOWLEDGE))
    intro = current_introduction(state)
    # The acknowledgement goes first, so the customer has the reference before anyone calls.
    ack_settled = ack is None or ack.done_at is not None or ack.undeliverable_at is not None
    if intro is not None and pending(intro, in_flight) and ack_settled:
        when = clocks.contact_moment(now, intro.due_at, calendar)
        owner = state.owner.name if state.owner else "the handler"
        plan.append(PlannedStep(when, f"introduce {owner}", Step.INTRODUCE))
    review = state.milestone(REVIEW)
    if pending(review, in_flight) and state.stage is not CaseStage.DEADLOCK:
        plan.append(
            PlannedStep(review.due_at - REVIEW_LEAD, "agree the update schedule (3 working days)", Step.START_UPDATES)
        )
    if state.next_update_at is not None and state.stage is not CaseStage.DEADLOCK:
        plan.append(PlannedStep(state.next_update_at, "send the regular update", Step.REGULAR_UPDATE))
    adr = state.milestone(ADR_RIGHTS)
    if pending(adr, in_flight):
        send_at = adr.due_at - timedelta(hours=policy.adr_notice_lead_hours)
        plan.append(PlannedStep(send_at, "send the ADR-rights letter (8 weeks)", Step.ADR_LETTER))
    # No update schedule is owed once the provider has issued deadlock.
    plan += clock_checks(state, lambda m: state.stage is CaseStage.DEADLOCK and m.name == REVIEW)
    return plan


def planned_v3(
    state: CaseState,
    policy: ComplaintPolicy,
    calendar: WorkingCalendar,
    customer: Customer,
    now: datetime,
    *,
    in_flight: Collection[str],
    closing: bool,
    roster_gap: bool,
    closed_loop: bool = False,
    reminders_from_now: bool = False,
) -> list[PlannedStep]:
    """v3: the same steps, in the order a customer must receive them, with superseded clocks
    closed and the 8-week letter at the mark. Nothing is planned while the case is closing.

    `closed_loop` (v4) shares wakes: the week's update waits for the 8-week letter when the mark
    falls inside the update's own clock, and an update's reminder goes when the update is scheduled
    (see `reminders_due`). `reminders_from_now` (v6): no reminder is due before `now`, so one whose
    lead has passed goes at the next working moment, not at once."""
    plan: list[PlannedStep] = []
    if closing:
        return plan
    ack = state.milestone(ACKNOWLEDGEMENT)
    if pending(ack, in_flight):
        plan.append(PlannedStep(now, "send the acknowledgement", Step.ACKNOWLEDGE))
    # Nothing else reaches the customer before the acknowledgement has settled.
    if settled(ack, in_flight):
        intro = current_introduction(state)
        if intro is not None and pending(intro, in_flight) and state.owner is not None and state.awaiting_owner is None:
            when = clocks.contact_moment(now, intro.due_at, calendar)
            plan.append(PlannedStep(when, f"introduce {state.owner.name}", Step.INTRODUCE))
        # The introduction goes before the schedule offer, unless a roster gap holds it back.
        gap = state.awaiting_owner is not None and roster_gap
        intro_first = (
            intro is None or settled(intro, in_flight) or gap or (state.owner is None and state.awaiting_owner is None)
        )
        review = state.milestone(REVIEW)
        if pending(review, in_flight) and intro_first and state.stage is not CaseStage.DEADLOCK:
            plan.append(
                PlannedStep(
                    review.due_at - REVIEW_LEAD, "offer an update schedule (3 working days)", Step.START_UPDATES
                )
            )
        adr = state.milestone(ADR_RIGHTS)
        adr_at = adr_send_at(state, policy, customer) if pending(adr, in_flight) else None
        if state.next_update_at is not None and state.stage is not CaseStage.DEADLOCK:
            update_at = state.next_update_at
            if closed_loop and adr_at is not None and update_at < adr_at <= regular_update_due(update_at, calendar):
                # One wake for both: the update is still on time (its clock allows the working hour)
                # and the letter goes at the mark, never before it.
                update_at = adr_at
            plan.append(PlannedStep(update_at, "send the regular update", Step.REGULAR_UPDATE))
        if adr_at is not None:
            plan.append(PlannedStep(adr_at, "send the ADR-rights letter (8 weeks)", Step.ADR_LETTER))
        for reminder in reminders_due(
            state,
            policy,
            calendar,
            raised_when_scheduled=now if closed_loop else None,
            not_before=now if reminders_from_now else None,
        ):
            plan.append(PlannedStep(reminder.at, f"remind the owner: {reminder.what}", Step.REMIND, reminder=reminder))
        for text in state.deferred_texts:
            what = f"text the {text.kind.value.replace('_', ' ')} (after the quiet hours)"
            plan.append(PlannedStep(text.not_before, what, Step.DEFERRED_TEXT, text=text))
    plan += clock_checks(state, lambda m: m.superseded_at is not None)
    return plan


def clock_checks(state: CaseState, not_owed: Callable[[Milestone], bool]) -> list[PlannedStep]:
    """The warning at its share of each open clock, and the breach check at its due time."""
    checks: list[PlannedStep] = []
    for milestone in state.milestones:
        if milestone.done_at is not None or milestone.breached or not_owed(milestone):
            continue
        if milestone.warn_at is not None and not milestone.warned:
            what = f"warn the owner {milestone.name} is due"
            checks.append(PlannedStep(milestone.warn_at, what, Step.WARN, milestone=milestone))
        what = f"check {milestone.name} was done in time"
        checks.append(PlannedStep(milestone.due_at, what, Step.CHECK_BREACH, milestone=milestone))
    return checks


def regular_update_due(at: datetime, calendar: WorkingCalendar) -> datetime:
    """A regular update due at `at` is on time if it reaches the customer within the working hour."""
    return calendar.add_working_hours(at, 1)


def reminders_due(
    state: CaseState,
    policy: ComplaintPolicy,
    calendar: WorkingCalendar,
    *,
    raised_when_scheduled: datetime | None = None,
    not_before: datetime | None = None,
) -> list[Reminder]:
    """The owner is reminded ahead of each phone contact owed: the introduction and each
    regular update (policy `reminder_lead_hours`), in working hours, once each.

    `raised_when_scheduled` (v4: now): a regular update's reminder goes as soon as the update is
    scheduled, in the wake that scheduled it, rather than in a wake of its own `reminder_lead_hours`
    ahead; still before the call, and in working hours as before.

    `not_before` (v6: now): a reminder whose time has already passed (a lead longer than the time
    left before the call, as with an update agreed at 20:00 for 10:00 the next day and a 20-hour
    lead) is moved to the next working moment, if that is still before the call, instead of going at
    once; before v6 it went at once, at night."""
    lead = timedelta(hours=policy.reminder_lead_hours)
    if state.owner is None or not lead:
        return []
    due: list[Reminder] = []
    calls: list[datetime] = []  # when the call each reminder is for is due
    intro = current_introduction(state)
    if intro is not None and intro.done_at is None and intro.superseded_at is None and not intro.breached:
        calls.append(intro.due_at)
        due.append(
            Reminder(
                intro.due_at - lead,
                f"{intro.name}@{intro.due_at.isoformat()}",
                f"call the customer to introduce yourself by {local_label(intro.due_at)}",
            )
        )
    if state.next_update_at is not None and state.stage is not CaseStage.DEADLOCK:
        at = state.next_update_at
        calls.append(at)
        due.append(
            Reminder(
                min(at - lead, raised_when_scheduled) if raised_when_scheduled else at - lead,
                f"update@{at.isoformat()}",
                f"call the customer before the regular update at {local_label(at)}",
            )
        )
    # In working hours: a 10:00 update is reminded at 09:00, not at 06:00.
    timely = []
    for (when, key, what), call_at in zip(due, calls, strict=True):
        if not_before is not None:
            when = max(when, not_before)
        at_work = calendar.next_working_moment(when)
        timely.append(Reminder(at_work if at_work < call_at else when, key, what))
    return [d for d in timely if d.key not in state.reminded]


def after_pause(state: CaseState, calendar: WorkingCalendar | None, moment: datetime, *, pauses_kept: bool) -> datetime:
    """A regular update due at `moment`, moved past a pause the customer asked for: none before the
    day they gave, at the agreed contact time on a working day. `pauses_kept`: v3 and later."""
    if not pauses_kept or state.updates_paused_until is None or state.schedule is None or calendar is None:
        return moment
    resume = local_moment(state.updates_paused_until, state.schedule.contact_time, calendar.timezone)
    if moment >= resume:
        return moment
    return calendar.next_working_day_at(resume, state.schedule.contact_time)
