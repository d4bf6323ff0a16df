"""The working calendar read the way the complaints code reads it, with real 2026 dates."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from activities.working_calendar import bank_holidays, holidays_version, load_calendar
from domain.calendar import WorkingCalendar
from domain.models import CalendarSpec

LONDON = ZoneInfo("Europe/London")
UTC = UTC
# Property tests reach past 2028 when they add 80 hours to a late-December start.
YEARS = range(2024, 2031)
ENGLAND_AND_WALES = load_calendar(CalendarSpec(), YEARS)
SCOTLAND = load_calendar(CalendarSpec(subdivision="SCT"), YEARS)
ACKNOWLEDGEMENT = timedelta(hours=8)


def london(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=LONDON)


def utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# --- deadlines the code sets ----------------------------------------------------------------------


def test_christmas_eve_complaint_is_acknowledged_at_1630_on_tuesday_29_december() -> None:
    # 25 Dec is Christmas, 26-27 a weekend, 28 Dec the substitute for Boxing Day.
    received = london(2026, 12, 24, 16, 30)
    due = ENGLAND_AND_WALES.add_working_hours(received, ACKNOWLEDGEMENT)
    assert due == london(2026, 12, 29, 16, 30)
    assert due.tzinfo is UTC


def test_complaint_on_friday_before_august_bank_holiday_is_acknowledged_on_tuesday() -> None:
    # One hour on Friday, Monday 31 Aug is the summer bank holiday in England & Wales, seven on Tuesday.
    received = london(2026, 8, 28, 16)
    assert ENGLAND_AND_WALES.add_working_hours(received, ACKNOWLEDGEMENT) == london(2026, 9, 1, 16)


def test_in_scotland_31_august_is_a_working_day() -> None:
    # Scotland's summer bank holiday is the first Monday of August (3 Aug 2026).
    received = london(2026, 8, 28, 16)
    assert SCOTLAND.add_working_hours(received, ACKNOWLEDGEMENT) == london(2026, 8, 31, 16)
    assert not SCOTLAND.is_working_day(date(2026, 8, 3))
    assert ENGLAND_AND_WALES.is_working_day(date(2026, 8, 3))


def test_review_across_the_october_clock_change_keeps_its_local_hour() -> None:
    received = london(2026, 10, 23, 16)  # Friday, BST
    assert received.utcoffset() == timedelta(hours=1)
    due = ENGLAND_AND_WALES.add_working_days(received, 3)
    local = due.astimezone(LONDON)
    assert (local.date(), local.time()) == (date(2026, 10, 28), time(16))
    assert local.utcoffset() == timedelta(0)
    assert due == utc(2026, 10, 28, 16)


def test_two_working_hours_from_friday_1600_bst_is_monday_1000_gmt() -> None:
    due = ENGLAND_AND_WALES.add_working_hours(london(2026, 10, 23, 16), 2)
    # After the clocks go back London is on GMT, so 10:00 local is 10:00 UTC.
    assert due == utc(2026, 10, 26, 10)


def test_review_across_the_march_clock_change_keeps_its_local_hour() -> None:
    received = london(2026, 3, 27, 16)  # Friday, GMT
    assert received.utcoffset() == timedelta(0)
    due = ENGLAND_AND_WALES.add_working_days(received, 3)
    local = due.astimezone(LONDON)
    assert (local.date(), local.time()) == (date(2026, 4, 1), time(16))
    assert local.utcoffset() == timedelta(hours=1)
    assert due == utc(2026, 4, 1, 15)
    assert ENGLAND_AND_WALES.add_working_hours(received, 2) == utc(2026, 3, 30, 9)


def test_easter_weekend_is_skipped() -> None:
    # Good Friday 3 Apr and Easter Monday 6 Apr 2026.
    assert ENGLAND_AND_WALES.add_working_days(london(2026, 4, 2, 12), 1) == london(2026, 4, 7, 12)


def test_three_working_days_from_monday_1000_is_thursday_1000() -> None:
    assert ENGLAND_AND_WALES.add_working_days(london(2026, 10, 12, 10), 3) == london(2026, 10, 15, 10)


def test_three_working_days_from_saturday_is_wednesday_1700() -> None:
    # Counting starts at 09:00 Monday; three full days end at the close of Wednesday.
    assert ENGLAND_AND_WALES.add_working_days(london(2026, 10, 10, 11), 3) == london(2026, 10, 14, 17)


def test_deadline_that_uses_up_a_day_is_that_days_close_not_next_morning() -> None:
    assert ENGLAND_AND_WALES.add_working_hours(london(2026, 10, 12, 10), 7) == london(2026, 10, 12, 17)


def test_ten_working_days_of_hours_from_monday_morning_ends_friday_week() -> None:
    assert ENGLAND_AND_WALES.add_working_hours(london(2026, 10, 12, 9), 80) == london(2026, 10, 23, 17)


def test_adding_no_working_time_leaves_the_moment_where_it_is() -> None:
    saturday = london(2026, 10, 10, 11)
    assert ENGLAND_AND_WALES.add_working_hours(saturday, 0) == saturday
    assert ENGLAND_AND_WALES.add_working_days(saturday, 0) == saturday


def test_negative_working_time_is_refused() -> None:
    with pytest.raises(ValueError, match="^cannot add negative working time$"):
        ENGLAND_AND_WALES.add_working_hours(london(2026, 10, 12, 10), -1)
    with pytest.raises(ValueError, match="^cannot add negative working days$"):
        ENGLAND_AND_WALES.add_working_days(london(2026, 10, 12, 10), -1)


# --- working time and the next working moment -----------------------------------------------------


@pytest.mark.parametrize(
    ("hour", "minute", "working"),
    [(8, 59, False), (9, 0, True), (16, 59, True), (17, 0, False)],
)
def test_working_hours_are_0900_up_to_but_not_including_1700(hour: int, minute: int, working: bool) -> None:
    assert ENGLAND_AND_WALES.is_working_time(london(2026, 10, 14, hour, minute)) is working


def test_working_time_is_judged_on_london_time_whatever_zone_the_moment_is_in() -> None:
    # 08:30 UTC in summer is 09:30 in London.
    assert ENGLAND_AND_WALES.is_working_time(utc(2026, 7, 1, 8, 30))
    assert not ENGLAND_AND_WALES.is_working_time(utc(2026, 7, 1, 16, 30))


def test_next_working_moment_on_a_bank_holiday_is_the_next_morning() -> None:
    assert ENGLAND_AND_WALES.next_working_moment(london(2026, 8, 31, 11)) == london(2026, 9, 1, 9)


def test_next_working_moment_at_the_weekend_is_monday_0900() -> None:
    assert ENGLAND_AND_WALES.next_working_moment(london(2026, 10, 24, 12)) == utc(2026, 10, 26, 9)
    assert ENGLAND_AND_WALES.next_working_moment(london(2026, 10, 23, 17)) == london(2026, 10, 26, 9)


def test_next_working_moment_in_hours_is_the_moment_itself_in_utc() -> None:
    moment = london(2026, 10, 14, 11, 15)
    result = ENGLAND_AND_WALES.next_working_moment(moment)
    assert result == moment
    assert result.tzinfo is UTC


def test_early_morning_moment_waits_for_0900_the_same_day() -> None:
    assert ENGLAND_AND_WALES.next_working_moment(london(2026, 10, 14, 6)) == london(2026, 10, 14, 9)


def test_agreed_contact_time_skips_the_bank_holiday() -> None:
    agreed = time(14)
    assert ENGLAND_AND_WALES.next_working_day_at(london(2026, 8, 28, 15), agreed) == london(2026, 9, 1, 14)
    assert ENGLAND_AND_WALES.next_working_day_at(london(2026, 9, 1, 10), agreed) == london(2026, 9, 1, 14)
    assert ENGLAND_AND_WALES.next_working_day_at(london(2026, 9, 1, 14), agreed) == london(2026, 9, 1, 14)


def test_agreed_contact_time_may_be_outside_working_hours() -> None:
    assert ENGLAND_AND_WALES.next_working_day_at(london(2026, 10, 23, 19), time(18)) == london(2026, 10, 26, 18)


def test_working_time_between_counts_only_working_hours_either_way() -> None:
    received, due = london(2026, 12, 24, 16, 30), london(2026, 12, 29, 16, 30)
    assert ENGLAND_AND_WALES.working_time_between(received, due) == ACKNOWLEDGEMENT
    assert ENGLAND_AND_WALES.working_time_between(due, received) == -ACKNOWLEDGEMENT
    assert ENGLAND_AND_WALES.working_time_between(london(2026, 10, 24, 9), london(2026, 10, 25, 17)) == timedelta(0)


@pytest.mark.parametrize(
    "call",
    [
        lambda cal, naive: cal.is_working_time(naive),
        lambda cal, naive: cal.next_working_moment(naive),
        lambda cal, naive: cal.add_working_hours(naive, 8),
        lambda cal, naive: cal.add_working_days(naive, 3),
        lambda cal, naive: cal.working_time_between(naive, london(2026, 10, 14, 9)),
        lambda cal, naive: cal.next_working_day_at(naive, time(14)),
    ],
)
def test_a_time_without_a_zone_is_refused(call) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        call(ENGLAND_AND_WALES, datetime(2026, 10, 14, 10))


class _NoOffset(tzinfo):
    """A zone that cannot say its offset: as unusable for a deadline as no zone at all."""

    def tzname(self, dt: datetime | None) -> str | None:
        return None

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None


def test_a_time_whose_zone_gives_no_offset_is_refused_like_a_naive_one() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ENGLAND_AND_WALES.add_working_hours(datetime(2026, 10, 14, 10, tzinfo=_NoOffset()), 8)


def test_an_agreed_contact_time_is_a_wall_clock_time_without_a_zone() -> None:
    with pytest.raises(ValueError, match="^'at' is a local wall-clock time and takes no tzinfo$"):
        ENGLAND_AND_WALES.next_working_day_at(london(2026, 10, 14, 10), time(14, tzinfo=UTC))


# --- loading the calendar ---------------------------------------------------------------------------


def test_england_and_wales_keep_easter_monday_and_the_august_holiday() -> None:
    found = bank_holidays(CalendarSpec(subdivision="ENG"), [2026])
    assert date(2026, 4, 6) in found
    assert date(2026, 8, 31) in found
    assert date(2026, 12, 28) in found  # Boxing Day substitute
    assert bank_holidays(CalendarSpec(subdivision="WLS"), [2026]).keys() == found.keys()


def test_scotland_has_its_own_holidays() -> None:
    found = bank_holidays(CalendarSpec(subdivision="SCT"), [2026])
    assert date(2026, 8, 3) in found
    assert date(2026, 11, 30) in found  # St Andrew's Day
    assert date(2026, 8, 31) not in found
    assert date(2026, 4, 6) not in found


def test_unknown_subdivision_is_refused() -> None:
    with pytest.raises(ValueError, match="subdivision"):
        bank_holidays(CalendarSpec(subdivision="XX"), [2026])


def test_calendar_refuses_dates_beyond_the_years_it_was_loaded_for() -> None:
    only_2026 = load_calendar(CalendarSpec(), [2026])
    with pytest.raises(ValueError, match="2027"):
        only_2026.add_working_hours(london(2026, 12, 31, 16), ACKNOWLEDGEMENT)


def test_a_calendar_loaded_for_one_year_answers_up_to_its_last_day() -> None:
    only_2026 = load_calendar(CalendarSpec(), [2026])
    assert only_2026.add_working_hours(london(2026, 12, 31, 10), 1) == london(2026, 12, 31, 11)
    assert only_2026.working_time_between(london(2026, 12, 30, 10), london(2026, 12, 31, 12)) == timedelta(hours=10)


def test_a_calendar_missing_several_years_names_each_of_them() -> None:
    only_2026 = load_calendar(CalendarSpec(), [2026])
    with pytest.raises(ValueError, match="no bank-holiday data for 2027, 2028; load it with those years"):
        only_2026.working_time_between(london(2026, 12, 30, 10), london(2028, 6, 1, 12))


def test_calendar_from_spec_honours_a_different_working_week() -> None:
    spec = CalendarSpec(day_start=time(8), day_end=time(18), workdays=[0, 1, 2, 3, 4, 5])
    calendar = WorkingCalendar.from_spec(spec, [date(2026, 12, 25)])
    assert calendar.working_day_length == timedelta(hours=10)
    assert calendar.is_working_time(london(2026, 10, 10, 8))  # Saturday
    assert calendar.add_working_days(london(2026, 12, 24, 12), 1) == london(2026, 12, 26, 12)


WORKDAYS_REFUSED = "^workdays must be a non-empty set of weekday numbers 0 \\(Monday\\) to 6$"


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        ({"workdays": frozenset()}, WORKDAYS_REFUSED),
        ({"workdays": frozenset({0, 7})}, WORKDAYS_REFUSED),
        ({"day_start": time(17), "day_end": time(9)}, "^day_start must be before day_end$"),
        ({"timezone": "Europe/Atlantis"}, "^unknown time zone 'Europe/Atlantis'$"),
        ({"day_start": time(9, tzinfo=UTC)}, "^day_start and day_end are local wall-clock times and take no tzinfo$"),
        ({"day_end": time(17, tzinfo=UTC)}, "^day_start and day_end are local wall-clock times and take no tzinfo$"),
    ],
)
def test_impossible_calendars_are_refused_saying_why(settings: dict, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        WorkingCalendar(holidays=frozenset(), **settings)


def test_a_seven_day_working_week_is_a_calendar() -> None:
    every_day = WorkingCalendar(holidays=frozenset(), workdays=frozenset(range(7)))
    assert every_day.is_working_time(london(2026, 10, 11, 10))  # a Sunday


def test_a_calendar_built_from_lists_and_sets_is_hashable_and_immutable() -> None:
    calendar = WorkingCalendar(
        holidays=[date(2026, 12, 25)],  # type: ignore[arg-type]
        workdays={0, 1, 2, 3, 4},  # type: ignore[arg-type]
        holiday_years=[2026],  # type: ignore[arg-type]
    )
    assert hash(calendar) == hash(
        WorkingCalendar(
            holidays=frozenset({date(2026, 12, 25)}),
            workdays=frozenset(range(5)),
            holiday_years=frozenset({2026}),
        )
    )
    assert isinstance(calendar.holidays, frozenset)
    assert isinstance(calendar.workdays, frozenset)
    assert isinstance(calendar.holiday_years, frozenset)


def test_holidays_version_is_reported() -> None:
    assert holidays_version()[0].isdigit()


# --- properties ---------------------------------------------------------------------------------------

moments = st.datetimes(
    min_value=datetime(2025, 1, 1),
    max_value=datetime(2028, 12, 31, 23, 59, 59),
    timezones=st.sampled_from([UTC, LONDON, ZoneInfo("America/New_York"), timezone(timedelta(hours=5, minutes=30))]),
    allow_imaginary=False,
)
# Microsecond steps, so sums are exact and associativity is tested without float rounding.
working_amounts = st.integers(min_value=0, max_value=80 * 3600 * 10**6).map(lambda us: timedelta(microseconds=us))
bounded = settings(max_examples=200, deadline=None)


def _is_a_day_end(calendar: WorkingCalendar, moment: datetime) -> bool:
    local = moment.astimezone(ZoneInfo(calendar.timezone))
    return local.time() == calendar.day_end and calendar.is_working_day(local.date())


@bounded
@given(start=moments, amount=working_amounts)
def test_deadline_is_never_before_start_and_lands_in_hours_or_at_a_close(start: datetime, amount: timedelta) -> None:
    due = ENGLAND_AND_WALES.add_working_hours(start, amount)
    assert due >= start
    assert due.tzinfo is UTC
    if amount:
        assert ENGLAND_AND_WALES.is_working_time(due) or _is_a_day_end(ENGLAND_AND_WALES, due)


@bounded
@given(start=moments, first=working_amounts, second=working_amounts)
def test_adding_in_two_steps_is_adding_once(start: datetime, first: timedelta, second: timedelta) -> None:
    calendar = ENGLAND_AND_WALES
    in_steps = calendar.add_working_hours(calendar.add_working_hours(start, first), second)
    assert in_steps == calendar.add_working_hours(start, first + second)


@bounded
@given(start=moments, amount=working_amounts)
def test_working_time_to_the_deadline_is_the_time_added(start: datetime, amount: timedelta) -> None:
    due = ENGLAND_AND_WALES.add_working_hours(start, amount)
    assert ENGLAND_AND_WALES.working_time_between(start, due) == amount


@bounded
@given(start=moments, amount=working_amounts)
def test_scottish_deadlines_obey_the_same_laws(start: datetime, amount: timedelta) -> None:
    due = SCOTLAND.add_working_hours(start, amount)
    assert due >= start
    assert SCOTLAND.working_time_between(start, due) == amount


@bounded
@given(start=moments, shorter=working_amounts, longer=working_amounts)
def test_more_working_time_never_gives_an_earlier_deadline(
    start: datetime, shorter: timedelta, longer: timedelta
) -> None:
    shorter, longer = sorted((shorter, longer))
    assert ENGLAND_AND_WALES.add_working_hours(start, shorter) <= ENGLAND_AND_WALES.add_working_hours(start, longer)


@bounded
@given(moment=moments)
def test_next_working_moment_is_working_time_and_no_working_time_is_skipped(moment: datetime) -> None:
    nxt = ENGLAND_AND_WALES.next_working_moment(moment)
    assert nxt >= moment
    assert ENGLAND_AND_WALES.is_working_time(nxt)
    assert ENGLAND_AND_WALES.working_time_between(moment, nxt) == timedelta(0)


@bounded
@given(first=moments, second=moments, third=moments)
def test_working_time_between_adds_up_along_the_way(first: datetime, second: datetime, third: datetime) -> None:
    a, b, c = sorted((first, second, third))
    between = ENGLAND_AND_WALES.working_time_between
    assert between(a, b) + between(b, c) == between(a, c)
    assert between(a, c) >= timedelta(0)
