"""What a change of owner or a customer's return does to the case's state. Pure (no I/O): each
function changes the `CaseState` it is given, and nothing else.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from domain import policy as clocks
from domain.calendar import WorkingCalendar
from domain.case_plan import after_pause
from domain.contact import local_date
from domain.milestones import ADR_RIGHTS, ADR_SEND_GRACE, INTRODUCTION, REVIEW, clock
from domain.models import (
    CaseRole,
    CaseStage,
    CaseState,
    ComplaintPolicy,
    Customer,
    Milestone,
    NotSatisfied,
    Reopening,
)


def reopen_by(closed_at: datetime, policy: ComplaintPolicy) -> datetime:
    """The day a closed case can still be re-opened on: what the closure tells the customer ("contact
    us by 25 January 2027"), `reopen_window_weeks` after it closed."""
    return closed_at + timedelta(weeks=policy.reopen_window_weeks)


def can_reopen(now: datetime, closed_at: datetime, policy: ComplaintPolicy) -> bool:
    """Whether a customer not satisfied after closure re-opens the case: until the end of the
    `reopen_by` day on the policy's clock, since the closure names a date, not a time."""
    zone = policy.calendar.timezone
    return local_date(now, zone) <= local_date(reopen_by(closed_at, policy), zone)


def first_owner_role(state: CaseState, policy: ComplaintPolicy, customer: Customer) -> CaseRole:
    """A vulnerable customer's case starts with a named senior owner when the policy says so;
    the escalation ladder then continues from that level (set on `state`)."""
    ladder, senior = policy.escalation_ladder, policy.vulnerable_owner_role
    if customer.vulnerable and senior is not None and senior in ladder:
        state.escalation_level = ladder.index(senior)
        return senior
    return ladder[0]


def new_introduction_clock(state: CaseState, policy: ComplaintPolicy, now: datetime) -> Milestone:
    """A new owner owes the customer an introduction from `now`; the old owner's, if still open, is
    closed as superseded (never breached). The new clock is appended to the state and returned."""
    for m in state.milestones:
        if m.name.startswith(INTRODUCTION) and m.done_at is None and not m.breached and m.superseded_at is None:
            m.superseded_at = now
    number = sum(1 for m in state.milestones if m.name.startswith(INTRODUCTION)) + 1
    due = now + timedelta(hours=policy.introduction_hours)
    milestone = clock(policy, f"{INTRODUCTION}_{number}", now, due)
    state.milestones.append(milestone)
    return milestone


def reopen(
    state: CaseState,
    policy: ComplaintPolicy,
    calendar: WorkingCalendar,
    fact: NotSatisfied,
    now: datetime,
    *,
    pauses_kept: bool,
) -> None:
    """The customer came back within the re-open window: the same case, under the same
    reference, re-opened. The 8-week clock still runs from first receipt; the 3-working-day
    review and the updates are owed again from now."""
    assert state.closed_at is not None
    state.reopenings.append(
        Reopening(
            closed_at=state.closed_at,
            reopened_at=now,
            reason=fact.reason,
            confirmation=state.confirmation,
            closure=state.closure,
        )
    )
    state.closed_at = None
    state.confirmation = None
    state.closure = None
    state.stage = CaseStage.REOPENED
    review = state.milestone(REVIEW)
    if review is not None and review.done_at is None and not review.breached and review.superseded_at is None:
        review.due_at = calendar.add_working_days(now, policy.review_working_days)
    elif state.schedule is not None:
        state.next_update_at = after_pause(
            state, calendar, clocks.next_update_at(now, state.schedule, calendar), pauses_kept=pauses_kept
        )
    adr = state.milestone(ADR_RIGHTS)
    if adr is not None and adr.done_at is None and not adr.breached:
        # Past the mark while closed: the letter goes now, and is late only if it does not.
        adr.due_at = max(adr.due_at, now + ADR_SEND_GRACE)
