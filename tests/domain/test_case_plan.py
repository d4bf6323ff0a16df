"""What a case plans to do and when, from its state alone: explicit dates, no server.

Mon 11 Feb 2030, London on GMT (UTC), working hours 09:00-17:00 Monday to Friday.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from domain.case_plan import (
    REVIEW_LEAD,
    Reminder,
    Step,
    after_pause,
    clock_checks,
    planned_v1,
    planned_v3,
    reminders_due,
)
from domain.models import (
    CaseRole,
    CaseStage,
    CaseState,
    ComplaintPolicy,
    Customer,
    DeferredText,
    MessageKind,
    UpdateSchedule,
)
from tests.domain.plan_cases import CALENDAR, OWNER, RECEIVED, plan_case, utc

POLICY = ComplaintPolicy()
CUSTOMER = Customer.model_validate({"name": "Alan Rees", "email": "alan@example.com"})


def case(**fields: object) -> CaseState:
    """A case received Mon 11 Feb 10:00 with its four clocks, nothing done yet (the 8-week clock at
    the hour London's clock change puts it)."""
    return plan_case(adr_due_at=RECEIVED + timedelta(weeks=8, hours=1), **fields)


def done(state: CaseState, *names: str) -> CaseState:
    for m in state.milestones:
        if m.name in names:
            m.done_at = utc(11, 11)
    return state


def v3(
    state: CaseState, now: datetime = RECEIVED, policy: ComplaintPolicy = POLICY, **shell: object
) -> list[tuple[datetime, Step]]:
    kwargs: dict = {"in_flight": set(), "closing": False, "roster_gap": False} | shell
    return [(s.at, s.step) for s in planned_v3(state, policy, CALENDAR, CUSTOMER, now, **kwargs)]


def customer_steps(plan: list[tuple[datetime, Step]]) -> list[Step]:
    return [step for _, step in plan if step not in (Step.WARN, Step.CHECK_BREACH)]


def test_nothing_reaches_the_customer_before_the_acknowledgement_has_settled() -> None:
    plan = v3(case(owner=OWNER))
    assert customer_steps(plan) == [Step.ACKNOWLEDGE]
    assert plan[0] == (RECEIVED, Step.ACKNOWLEDGE)
    # Its send in flight: not planned again, and still nothing after it.
    assert customer_steps(v3(case(owner=OWNER), in_flight={"acknowledgement"})) == []


def test_after_the_acknowledgement_the_introduction_comes_before_the_schedule_offer() -> None:
    plan = v3(done(case(owner=OWNER), "acknowledgement"))
    assert customer_steps(plan) == [Step.INTRODUCE, Step.ADR_LETTER, Step.REMIND]
    assert (RECEIVED, Step.INTRODUCE) in plan  # in working hours: now
    once_introduced = v3(done(case(owner=OWNER), "acknowledgement", "introduction"))
    assert (utc(14, 10) - REVIEW_LEAD, Step.START_UPDATES) in once_introduced


def test_a_roster_gap_lets_the_schedule_offer_go_without_waiting_for_an_owner() -> None:
    waiting = done(case(awaiting_owner=CaseRole.CASE_HANDLER), "acknowledgement")
    assert Step.START_UPDATES not in customer_steps(v3(waiting))
    assert Step.START_UPDATES in customer_steps(v3(waiting, roster_gap=True))


def test_a_closing_case_plans_nothing() -> None:
    assert v3(case(owner=OWNER), closing=True) == []


def test_deadlock_stops_the_schedule_and_updates_and_superseded_clocks_are_not_checked() -> None:
    state = done(case(owner=OWNER, stage=CaseStage.DEADLOCK, next_update_at=utc(18, 10)), "acknowledgement")
    state.milestones[2].superseded_at = utc(11, 12)
    plan = v3(state)
    assert Step.START_UPDATES not in customer_steps(plan)
    assert Step.REGULAR_UPDATE not in customer_steps(plan)
    assert (utc(14, 10), Step.CHECK_BREACH) not in plan


def test_a_text_held_back_by_the_quiet_hours_is_planned_for_when_they_end() -> None:
    text = DeferredText(kind=MessageKind.PROGRESS_UPDATE, not_before=utc(12, 8))
    steps = planned_v3(
        done(case(deferred_texts=[text]), "acknowledgement"),
        POLICY,
        CALENDAR,
        CUSTOMER,
        RECEIVED,
        in_flight=set(),
        closing=False,
        roster_gap=False,
    )
    held = [s for s in steps if s.step is Step.DEFERRED_TEXT]
    assert [(s.at, s.text, s.what) for s in held] == [
        (utc(12, 8), text, "text the progress update (after the quiet hours)")
    ]


def test_v1_introduces_once_the_acknowledgement_is_done_and_agrees_the_schedule_regardless() -> None:
    def v1(state: CaseState) -> list[Step]:
        return [s.step for s in planned_v1(state, POLICY, CALENDAR, RECEIVED, in_flight=set())]

    assert customer_steps([(RECEIVED, s) for s in v1(case())]) == [
        Step.ACKNOWLEDGE,
        Step.START_UPDATES,
        Step.ADR_LETTER,
    ]
    introduced = customer_steps([(RECEIVED, s) for s in v1(done(case(), "acknowledgement"))])
    assert introduced == [Step.INTRODUCE, Step.START_UPDATES, Step.ADR_LETTER]


def test_v1_after_deadlock_the_review_clock_is_owed_no_more() -> None:
    checked = [
        s.milestone.name
        for s in planned_v1(case(stage=CaseStage.DEADLOCK), POLICY, CALENDAR, RECEIVED, in_flight=set())
        if s.milestone
    ]
    assert "review" not in checked and "introduction" in checked


def test_a_clock_is_warned_once_then_only_checked_for_a_breach() -> None:
    state = case()
    ack = state.milestones[0]
    steps = clock_checks(state, lambda m: False)
    assert [(s.at, s.step) for s in steps if s.milestone is ack] == [
        (utc(12, 8), Step.WARN),
        (utc(12, 10), Step.CHECK_BREACH),
    ]
    ack.warned = True
    assert [s.step for s in clock_checks(state, lambda m: False) if s.milestone is ack] == [Step.CHECK_BREACH]
    ack.breached = True
    assert [s for s in clock_checks(state, lambda m: False) if s.milestone is ack] == []


def test_the_owner_is_reminded_in_working_hours_and_once() -> None:
    # A 10:00 update, reminded 4 hours ahead: 06:00 is before the working day, so 09:00.
    state = done(case(owner=OWNER, next_update_at=utc(18, 10)), "introduction")
    due = reminders_due(state, POLICY, CALENDAR)
    assert due == [
        Reminder(
            utc(18, 9),
            f"update@{utc(18, 10).isoformat()}",
            "call the customer before the regular update at Mon 18 Feb 10:00",
        )
    ]
    state.reminded.append(due[0].key)
    assert reminders_due(state, POLICY, CALENDAR) == []
    assert reminders_due(case(next_update_at=utc(18, 10)), POLICY, CALENDAR) == []  # nobody owns it yet


def test_a_pause_moves_the_next_update_to_the_day_given_at_the_agreed_time() -> None:
    # Paused until Thu 21 Feb; updates at 10:00 London (GMT, so 10:00 UTC).
    schedule = UpdateSchedule(every=7, contact_time=time(10, 0))
    state = case(schedule=schedule, updates_paused_until=date(2030, 2, 21))
    assert after_pause(state, CALENDAR, utc(18, 10), pauses_kept=True) == utc(21, 10)
    assert after_pause(state, CALENDAR, utc(25, 10), pauses_kept=True) == utc(25, 10)  # after the pause
    assert after_pause(state, CALENDAR, utc(18, 10), pauses_kept=False) == utc(18, 10)  # before v3
    # Paused until a Saturday: the next working day, Mon 25 Feb.
    weekend = case(schedule=schedule, updates_paused_until=date(2030, 2, 23))
    assert after_pause(weekend, CALENDAR, utc(18, 10), pauses_kept=True) == utc(25, 10)


# --- v4 (closed loop): wakes shared, not added ---------------------------------------------------


def test_v4_reminds_the_owner_of_an_update_when_it_is_scheduled_in_working_hours() -> None:
    state = done(case(owner=OWNER, next_update_at=utc(18, 10)), "introduction")
    key = f"update@{utc(18, 10).isoformat()}"
    # Scheduled Monday 12:00, in working hours: reminded in that wake, a week before the call.
    [at_noon] = reminders_due(state, POLICY, CALENDAR, raised_when_scheduled=utc(11, 12))
    assert (at_noon.at, at_noon.key) == (utc(11, 12), key)
    # Scheduled Monday 20:00: not at night, at 09:00 on Tuesday, still long before the call.
    [at_night] = reminders_due(state, POLICY, CALENDAR, raised_when_scheduled=utc(11, 20))
    assert at_night.at == utc(12, 9)
    # Scheduled Monday 08:00 for a call at 10:00 the same day: 09:00, as before v4, and before it.
    same_day = done(case(owner=OWNER, next_update_at=utc(11, 10)), "introduction")
    [early] = reminders_due(same_day, POLICY, CALENDAR, raised_when_scheduled=utc(11, 8))
    assert early.at == utc(11, 9)


def test_v4_the_weeks_update_waits_for_the_eight_week_letter_only_within_its_own_clock() -> None:
    mark = RECEIVED + timedelta(weeks=8)  # Mon 8 Apr 11:00 London (BST)
    owed = done(case(owner=OWNER), "acknowledgement", "introduction", "review")
    half_an_hour_before = owed.model_copy(update={"next_update_at": mark - timedelta(minutes=30)})
    plan = v3(half_an_hour_before, now=mark - timedelta(days=1), closed_loop=True)
    assert (mark, Step.REGULAR_UPDATE) in plan and (mark, Step.ADR_LETTER) in plan
    # Due 10:00 London, an hour before: on time until 11:00, the mark itself, so it may still wait.
    an_hour_before = owed.model_copy(update={"next_update_at": mark - timedelta(hours=1)})
    plan = v3(an_hour_before, now=mark - timedelta(days=1), closed_loop=True)
    assert (mark, Step.REGULAR_UPDATE) in plan and (mark, Step.ADR_LETTER) in plan
    # Before v4, and when the mark is past the update's working hour, each has its own wake.
    assert (mark - timedelta(minutes=30), Step.REGULAR_UPDATE) in v3(half_an_hour_before, now=mark - timedelta(days=1))
    two_hours_before = owed.model_copy(update={"next_update_at": mark - timedelta(hours=2)})
    plan = v3(two_hours_before, now=mark - timedelta(days=1), closed_loop=True)
    assert (mark - timedelta(hours=2), Step.REGULAR_UPDATE) in plan and (mark, Step.ADR_LETTER) in plan
    # Never the other way round: an update after the mark does not pull the letter forward.
    after = owed.model_copy(update={"next_update_at": mark + timedelta(minutes=30)})
    plan = v3(after, now=mark - timedelta(days=1), closed_loop=True)
    assert (mark, Step.ADR_LETTER) in plan and (mark + timedelta(minutes=30), Step.REGULAR_UPDATE) in plan


def test_v4_plans_the_updates_reminder_in_the_wake_that_schedules_it() -> None:
    state = done(case(owner=OWNER, next_update_at=utc(18, 10)), "acknowledgement", "introduction", "review")
    # Scheduled Monday 12:00 for the call a week later: v4 reminds the owner then, v3 at 09:00 that day.
    assert (utc(11, 12), Step.REMIND) in v3(state, now=utc(11, 12), closed_loop=True)
    assert (utc(18, 9), Step.REMIND) in v3(state, now=utc(11, 12))


def test_v4_never_reminds_later_than_before_when_the_update_is_scheduled_inside_the_lead() -> None:
    # A day's lead; the update for Tue 10:00 is scheduled Mon 20:00, after Mon 10:00 when the
    # reminder was owed: it goes at once, as before v4, not at 09:00 on the morning of the call.
    day_ahead = ComplaintPolicy(reminder_lead_hours=24)
    state = done(case(owner=OWNER, next_update_at=utc(12, 10)), "introduction")
    [before_v4] = reminders_due(state, day_ahead, CALENDAR)
    [v4] = reminders_due(state, day_ahead, CALENDAR, raised_when_scheduled=utc(11, 20))
    assert v4.at == before_v4.at == utc(11, 10)


# --- v6: a reminder never goes before the wake that plans it -------------------------------------


def test_v6_a_reminder_whose_lead_has_passed_waits_for_the_working_day_not_the_night() -> None:
    # A 20-hour lead; the update for Tue 10:00 is agreed on Mon 20:00, after Mon 14:00 when the
    # reminder was owed. Before v6 it went at once, at 20:00; since v6 at 09:00, still before the call.
    long_lead = ComplaintPolicy(reminder_lead_hours=20)
    state = done(case(owner=OWNER, next_update_at=utc(12, 10)), "introduction")
    [before_v6] = reminders_due(state, long_lead, CALENDAR, raised_when_scheduled=utc(11, 20))
    [v6] = reminders_due(state, long_lead, CALENDAR, raised_when_scheduled=utc(11, 20), not_before=utc(11, 20))
    assert before_v6.at == utc(11, 14) and v6.at == utc(12, 9)
    # The plan wakes for it then (before v6: at once), and in a working hour it still goes at once.
    owed = done(state, "acknowledgement", "review")
    v6_plan = v3(owed, now=utc(11, 20), policy=long_lead, closed_loop=True, reminders_from_now=True)
    before_v6_plan = v3(owed, now=utc(11, 20), policy=long_lead, closed_loop=True)
    assert [at for at, step in v6_plan if step is Step.REMIND] == [utc(12, 9)]
    assert [at for at, step in before_v6_plan if step is Step.REMIND] == [utc(11, 14)]
    [at_work] = reminders_due(state, long_lead, CALENDAR, raised_when_scheduled=utc(11, 15), not_before=utc(11, 15))
    assert at_work.at == utc(11, 15)


def test_v6_an_introduction_reminder_owed_before_a_night_filing_waits_for_the_morning() -> None:
    # Filed Mon 20:00 with a 72-hour lead (the policy's longest): the call is owed by Wed 20:00.
    longest = ComplaintPolicy(reminder_lead_hours=72)
    state = case(owner=OWNER)
    intro = state.milestone("introduction")
    [v6] = reminders_due(state, longest, CALENDAR, not_before=utc(11, 20))
    assert v6.at == utc(12, 9) < intro.due_at
