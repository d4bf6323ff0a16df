"""What each planned step says in the Web UI and exactly when it comes due: explicit dates, no server.

The workflow names its timers and current details from `PlannedStep.what`, so a handler reads these
words; the times are when the customer gets each message. Mon 11 Feb 2030, London on GMT (UTC),
working hours 09:00-17:00 Monday to Friday.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from domain.case_plan import (
    REVIEW_LEAD,
    PlannedStep,
    Reminder,
    Step,
    after_pause,
    clock_checks,
    planned_v1,
    planned_v3,
    reminders_due,
)
from domain.models import (
    CaseStage,
    CaseState,
    ComplaintPolicy,
    Customer,
    UpdateSchedule,
)
from tests.domain.plan_cases import CALENDAR, MARK, OWNER, RECEIVED, plan_case, utc

# The 8-week letter posted a day ahead of the mark, so the lead shows in the plan.
POSTED_AHEAD = ComplaintPolicy(adr_notice_lead_hours=24)
BY_EMAIL = Customer.model_validate({"name": "Alan Rees", "email": "alan@example.com"})
BY_LETTER = Customer.model_validate(
    {
        "name": "Alan Rees",
        "address": {"lines": ["1 High Street", "Leeds"], "postcode": "LS1 1AA"},
        "preferred_written_channel": "letter",
    }
)


# A case received Mon 11 Feb 10:00 with its four clocks; the named ones already met.
case = plan_case


def customer_facing(plan: list[PlannedStep]) -> list[tuple[datetime, str, Step]]:
    return [(s.at, s.what, s.step) for s in plan if s.step not in (Step.WARN, Step.CHECK_BREACH)]


def v1(state: CaseState) -> list[tuple[datetime, str, Step]]:
    return customer_facing(planned_v1(state, POSTED_AHEAD, CALENDAR, RECEIVED, in_flight=set()))


def v3(state: CaseState, customer: Customer = BY_LETTER) -> list[PlannedStep]:
    return planned_v3(
        state, POSTED_AHEAD, CALENDAR, customer, RECEIVED, in_flight=set(), closing=False, roster_gap=False
    )


def test_v1_plans_each_message_at_its_time_in_the_words_the_web_ui_shows() -> None:
    assert v1(case(owner=OWNER, next_update_at=utc(18, 10))) == [
        (RECEIVED, "send the acknowledgement", Step.ACKNOWLEDGE),
        (utc(14, 10) - REVIEW_LEAD, "agree the update schedule (3 working days)", Step.START_UPDATES),
        (utc(18, 10), "send the regular update", Step.REGULAR_UPDATE),
        (MARK - timedelta(hours=24), "send the ADR-rights letter (8 weeks)", Step.ADR_LETTER),
    ]


def test_v1_introduces_the_owner_by_name_or_the_handler_when_nobody_owns_the_case() -> None:
    # Mon 10:00 is inside working hours: the introduction is due now.
    assert v1(case("acknowledgement", "review", "adr_rights", owner=OWNER)) == [
        (RECEIVED, "introduce Amara Okafor", Step.INTRODUCE)
    ]
    assert v1(case("acknowledgement", "review", "adr_rights")) == [(RECEIVED, "introduce the handler", Step.INTRODUCE)]


def test_v1_plans_no_schedule_once_agreed_and_no_update_at_deadlock() -> None:
    assert v1(case("acknowledgement", "introduction", "review", "adr_rights")) == []
    deadlocked = case("acknowledgement", "introduction", "adr_rights", stage=CaseStage.DEADLOCK)
    assert v1(deadlocked.model_copy(update={"next_update_at": utc(18, 10)})) == []


def test_v3_plans_each_message_at_its_time_in_the_words_the_web_ui_shows() -> None:
    assert customer_facing(v3(case(owner=OWNER))) == [(RECEIVED, "send the acknowledgement", Step.ACKNOWLEDGE)]
    assert customer_facing(v3(case("acknowledgement", "review", "adr_rights", owner=OWNER))) == [
        (RECEIVED, "introduce Amara Okafor", Step.INTRODUCE),
        (
            utc(13, 9),
            "remind the owner: call the customer to introduce yourself by Wed 13 Feb 10:00",
            Step.REMIND,
        ),
    ]
    # Posted a day ahead of the mark: the customer writes by letter.
    assert customer_facing(v3(case("acknowledgement", "introduction", owner=OWNER, next_update_at=utc(18, 10)))) == [
        (utc(14, 10) - REVIEW_LEAD, "offer an update schedule (3 working days)", Step.START_UPDATES),
        (utc(18, 10), "send the regular update", Step.REGULAR_UPDATE),
        (MARK - timedelta(hours=24), "send the ADR-rights letter (8 weeks)", Step.ADR_LETTER),
        (utc(18, 9), "remind the owner: call the customer before the regular update at Mon 18 Feb 10:00", Step.REMIND),
    ]


def test_a_planned_reminder_carries_the_key_that_marks_it_done() -> None:
    [step] = [s for s in v3(case("acknowledgement", "review", owner=OWNER)) if s.step is Step.REMIND]
    assert step.reminder == Reminder(
        utc(13, 9),
        f"introduction@{utc(13, 10).isoformat()}",
        "call the customer to introduce yourself by Wed 13 Feb 10:00",
    )


def test_every_open_clock_is_warned_and_checked_in_words_a_handler_reads() -> None:
    # The acknowledgement is met: the clocks after it are still checked.
    checks = clock_checks(case("acknowledgement"), lambda m: False)
    assert [(s.at, s.what, s.step, s.milestone.name if s.milestone else None) for s in checks] == [
        (utc(13, 10), "check introduction was done in time", Step.CHECK_BREACH, "introduction"),
        (utc(14, 10), "check review was done in time", Step.CHECK_BREACH, "review"),
        (MARK, "check adr_rights was done in time", Step.CHECK_BREACH, "adr_rights"),
    ]
    warning = clock_checks(case(), lambda m: False)[0]
    assert (warning.at, warning.what, warning.step) == (utc(12, 8), "warn the owner acknowledgement is due", Step.WARN)


def test_the_owner_is_reminded_of_the_introduction_in_working_hours_before_it_is_due() -> None:
    # Due Wed 10:00; four hours ahead is 06:00, before the working day: 09:00.
    assert reminders_due(case(owner=OWNER), ComplaintPolicy(), CALENDAR) == [
        Reminder(
            utc(13, 9),
            f"introduction@{utc(13, 10).isoformat()}",
            "call the customer to introduce yourself by Wed 13 Feb 10:00",
        )
    ]


def test_a_reminder_the_working_day_would_bring_too_late_goes_at_the_plain_lead_time() -> None:
    # An update at Mon 09:00: the working day opens just as it is due, so the reminder is at 05:00.
    state = case("introduction", owner=OWNER, next_update_at=utc(18, 9))
    assert [r.at for r in reminders_due(state, ComplaintPolicy(), CALENDAR)] == [utc(18, 5)]
    # One due Sat 10:00: the next working moment is Monday, so 06:00 Saturday.
    state = case("introduction", owner=OWNER, next_update_at=utc(16, 10))
    assert [r.at for r in reminders_due(state, ComplaintPolicy(), CALENDAR)] == [utc(16, 6)]


def test_a_pause_without_an_agreed_schedule_moves_nothing() -> None:
    state = case(updates_paused_until=date(2030, 2, 21))
    assert after_pause(state, CALENDAR, utc(18, 10), pauses_kept=True) == utc(18, 10)


def test_an_update_due_exactly_when_the_pause_ends_stays_where_it_is() -> None:
    # Paused until Sat 23 Feb, updates at 10:00: a moment at the pause's end is not moved to Monday.
    schedule = UpdateSchedule(every=7, contact_time=time(10, 0))
    state = case(schedule=schedule, updates_paused_until=date(2030, 2, 23))
    assert after_pause(state, CALENDAR, utc(23, 10), pauses_kept=True) == utc(23, 10)
