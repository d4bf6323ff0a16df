"""What a new owner or a customer's return does to the case's clocks. Explicit dates, no server.

Mon 11 Feb 2030, London on GMT (UTC), working hours 09:00-17:00 Monday to Friday.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from domain.calendar import WorkingCalendar
from domain.models import (
    CalendarSpec,
    CaseClosure,
    CaseRole,
    CaseStage,
    CaseState,
    ClosureOutcome,
    ComplaintPolicy,
    Customer,
    HowSaid,
    Milestone,
    NotSatisfied,
    Satisfied,
    UpdateSchedule,
)
from domain.ownership import can_reopen, first_owner_role, new_introduction_clock, reopen, reopen_by

CALENDAR = WorkingCalendar.from_spec(CalendarSpec(), [], years=[2030])
SENIOR_FOR_VULNERABLE = ComplaintPolicy(vulnerable_owner_role=CaseRole.CUSTOMER_SERVICE_MANAGER)


def utc(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2030, month, day, hour, minute, tzinfo=UTC)


def customer(vulnerable: bool) -> Customer:
    return Customer.model_validate({"name": "Alan Rees", "email": "alan@example.com", "vulnerable": vulnerable})


def test_a_vulnerable_customers_case_starts_with_the_senior_owner_the_policy_names() -> None:
    state = CaseState(reference="CC-2030-ABCDEFGH")
    assert (
        first_owner_role(state, SENIOR_FOR_VULNERABLE, customer(vulnerable=True)) is CaseRole.CUSTOMER_SERVICE_MANAGER
    )
    assert state.escalation_level == 1  # the ladder continues from there
    other = CaseState(reference="CC-2030-ABCDEFGH")
    assert first_owner_role(other, SENIOR_FOR_VULNERABLE, customer(vulnerable=False)) is CaseRole.CASE_HANDLER
    assert first_owner_role(other, ComplaintPolicy(), customer(vulnerable=True)) is CaseRole.CASE_HANDLER
    assert other.escalation_level == 0


def test_a_new_owner_gets_a_fresh_introduction_clock_and_the_old_one_is_superseded() -> None:
    done = Milestone(name="introduction", due_at=utc(2, 13, 10), done_at=utc(2, 12, 10))
    open_ = Milestone(name="introduction_2", due_at=utc(2, 20, 10))
    state = CaseState(reference="CC-2030-ABCDEFGH", milestones=[done, open_])
    now = utc(2, 19, 10)
    new = new_introduction_clock(state, ComplaintPolicy(), now)
    assert (new.name, new.due_at, new.warn_at) == (
        "introduction_3",
        now + timedelta(hours=48),
        now + timedelta(hours=36),
    )
    assert state.milestones[-1] is new
    assert open_.superseded_at == now and not open_.breached
    assert done.superseded_at is None  # met: stays met


def due(state: CaseState, name: str) -> datetime:
    milestone = state.milestone(name)
    assert milestone is not None
    return milestone.due_at


def closed_case(**fields: object) -> CaseState:
    state = CaseState(
        reference="CC-2030-ABCDEFGH",
        stage=CaseStage.CLOSED,
        closed_at=utc(3, 1, 12),
        confirmation=Satisfied(how=HowSaid.PHONE, recorded_by="h"),
        milestones=[
            Milestone(name="review", due_at=utc(2, 14, 10)),
            Milestone(name="adr_rights", due_at=utc(4, 8, 11)),
        ],
    )
    return state.model_copy(update=fields)


def test_a_case_reopened_before_its_review_owes_the_review_three_working_days_from_now() -> None:
    state = closed_case()
    now = utc(3, 8, 10)  # a Friday
    reopen(state, ComplaintPolicy(), CALENDAR, NotSatisfied(reason="still down"), now, pauses_kept=True)
    assert state.stage is CaseStage.REOPENED
    assert state.closed_at is None and state.confirmation is None
    assert [(r.closed_at, r.reopened_at, r.reason) for r in state.reopenings] == [(utc(3, 1, 12), now, "still down")]
    assert state.reopenings[0].confirmation is not None
    assert due(state, "review") == utc(3, 13, 10)
    assert due(state, "adr_rights") == utc(4, 8, 11)


def test_a_case_reopened_after_its_review_resumes_updates_and_past_the_mark_the_adr_letter_is_owed_now() -> None:
    schedule = UpdateSchedule(every=7, contact_time=time(10, 0))
    state = closed_case(schedule=schedule)
    state.milestones[0].done_at = utc(2, 14, 9)
    now = utc(4, 10, 15)  # two days past the 8-week mark
    reopen(state, ComplaintPolicy(), CALENDAR, NotSatisfied(reason="billed again"), now, pauses_kept=True)
    assert state.next_update_at == utc(4, 17, 9)  # 7 days on, at the agreed 10:00 (BST from 31 Mar)
    assert due(state, "adr_rights") == now + timedelta(hours=1)


def test_a_reopened_case_keeps_a_pause_the_customer_asked_for() -> None:
    schedule = UpdateSchedule(every=7, contact_time=time(10, 0))
    state = closed_case(schedule=schedule, updates_paused_until=date(2030, 3, 22))
    state.milestones[0].done_at = utc(2, 14, 9)
    reopen(state, ComplaintPolicy(), CALENDAR, NotSatisfied(reason="billed again"), utc(3, 8, 10), pauses_kept=True)
    assert state.next_update_at == utc(3, 22, 10)


def test_a_reopened_case_records_how_the_earlier_period_was_closed() -> None:
    closure = CaseClosure(outcome=ClosureOutcome.WITHDRAWN, reason="customer withdrew", recorded_by="h")
    state = closed_case(confirmation=None, closure=closure)
    reopen(state, ComplaintPolicy(), CALENDAR, NotSatisfied(reason="still down"), utc(3, 8, 10), pauses_kept=True)
    assert state.reopenings[0].closure == closure
    assert state.closure is None


def test_reopening_after_the_adr_letter_went_or_was_late_leaves_its_clock_alone() -> None:
    now = utc(4, 10, 15)  # two days past the 8-week mark
    sent = closed_case()
    sent.milestones[1].done_at = utc(4, 8, 11)
    reopen(sent, ComplaintPolicy(), CALENDAR, NotSatisfied(reason="billed again"), now, pauses_kept=True)
    assert due(sent, "adr_rights") == utc(4, 8, 11)
    late = closed_case()
    late.milestones[1].breached = True
    reopen(late, ComplaintPolicy(), CALENDAR, NotSatisfied(reason="billed again"), now, pauses_kept=True)
    assert due(late, "adr_rights") == utc(4, 8, 11)


def test_a_case_without_an_adr_clock_reopens() -> None:
    # `state.milestone` returns None for a clock the case does not carry: reopening must not assume one.
    state = closed_case()
    state.milestones = state.milestones[:1]
    reopen(state, ComplaintPolicy(), CALENDAR, NotSatisfied(reason="still down"), utc(3, 8, 10), pauses_kept=True)
    assert state.stage is CaseStage.REOPENED and state.milestone("adr_rights") is None


def test_the_closure_names_the_day_the_reopen_window_ends() -> None:
    closed = datetime(2030, 2, 12, 15, 30, tzinfo=UTC)
    assert reopen_by(closed, ComplaintPolicy()) == datetime(2030, 4, 9, 15, 30, tzinfo=UTC)  # 8 weeks
    assert reopen_by(closed, ComplaintPolicy(reopen_window_weeks=2)) == datetime(2030, 2, 26, 15, 30, tzinfo=UTC)


def test_a_customer_back_on_the_named_day_reopens_until_midnight_on_the_uk_clock() -> None:
    # Closed Tue 12 Feb 15:30 GMT; the window ends Tue 9 Apr, in British Summer Time by then.
    closed, policy = datetime(2030, 2, 12, 15, 30, tzinfo=UTC), ComplaintPolicy()
    assert can_reopen(datetime(2030, 4, 9, 15, 31, tzinfo=UTC), closed, policy)  # later that day
    assert can_reopen(datetime(2030, 4, 9, 22, 59, tzinfo=UTC), closed, policy)  # 23:59 BST
    assert not can_reopen(datetime(2030, 4, 9, 23, 0, tzinfo=UTC), closed, policy)  # 00:00 BST, the 10th
    assert can_reopen(closed, closed, policy)


def test_the_named_day_is_the_uk_days_even_when_the_closing_was_after_midnight_in_summer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Closed at 00:30 BST on 2 June (23:30 UTC on the 1st): the closure names 28 July, the UK date
    # 8 weeks on, whatever zone the machine keeps.
    import time as clock

    monkeypatch.setenv("TZ", "UTC")
    clock.tzset()
    try:
        closed, policy = datetime(2026, 6, 1, 23, 30, tzinfo=UTC), ComplaintPolicy()
        assert can_reopen(datetime(2026, 7, 28, 11, 0, tzinfo=UTC), closed, policy)  # noon BST on the 28th
    finally:
        monkeypatch.undo()
        clock.tzset()
