"""The code's clocks, with explicit dates and expected values written out by hand.

Each expectation was worked out on a calendar, not by calling the code under test: if one of these
fails, either the code or the reading of the complaints code changed.
"""

from __future__ import annotations

import time as clock
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

import pytest

from domain.calendar import WorkingCalendar
from domain.models import CalendarSpec, ComplaintPolicy, IntervalUnit, PostRoom, UpdateSchedule
from domain.policy import case_deadlines, contact_moment, letter_dispatch, next_update_at
from domain.reference import legacy_reference_for_intake, reference_for_intake

LONDON = ZoneInfo("Europe/London")
UTC = UTC

# England & Wales bank holidays around the dates used here, written out rather than loaded.
HOLIDAYS = [
    date(2026, 8, 31),  # summer bank holiday
    date(2026, 12, 25),  # Christmas Day (Friday)
    date(2026, 12, 28),  # Boxing Day substitute (Monday)
    date(2027, 1, 1),  # New Year's Day
]
CALENDAR = WorkingCalendar(holidays=frozenset(HOLIDAYS))


def london(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=LONDON)


def utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# --- case deadlines -------------------------------------------------------------------------------


def test_case_deadlines_record_the_bank_holidays_they_were_computed_with():
    # The workflow rebuilds its calendar from this list: without it, a later working-day update
    # would treat Christmas as a working day.
    deadlines = case_deadlines(london(2026, 12, 24, 16, 30), ComplaintPolicy(), CALENDAR, holidays_version="test")
    assert deadlines.holidays == [date(2026, 8, 31), date(2026, 12, 25), date(2026, 12, 28), date(2027, 1, 1)]
    assert deadlines.holidays_version == "test"
    assert deadlines.calendar_subdivision == "ENG"


def test_case_deadlines_for_a_christmas_eve_complaint():
    deadlines = case_deadlines(london(2026, 12, 24, 16, 30), ComplaintPolicy(), CALENDAR, holidays_version="test")
    assert deadlines.acknowledgement_due == utc(2026, 12, 29, 16, 30)  # 30 min Thu, 7.5 h Tue
    assert deadlines.introduction_due == utc(2026, 12, 26, 16, 30)  # 48 elapsed hours
    # 24 working hours: 30 min on Thu 24, 8 h each on Tue 29 and Wed 30, 7.5 h on Thu 31 Dec.
    assert deadlines.review_due == utc(2026, 12, 31, 16, 30)
    assert deadlines.adr_due == utc(2027, 2, 18, 16, 30)  # 8 calendar weeks


# --- the calendar from a spec ---------------------------------------------------------------------


def test_calendar_from_spec_works_in_the_specs_time_zone():
    spec = CalendarSpec(timezone="America/New_York", subdivision="ENG")
    calendar = WorkingCalendar.from_spec(spec, [])
    assert calendar.timezone == "America/New_York"
    # Monday 7 Dec 2026 16:00 in New York (EST, UTC-5) plus 2 working hours: Tuesday 10:00 EST.
    assert calendar.add_working_hours(utc(2026, 12, 7, 21), 2) == utc(2026, 12, 8, 15)


@pytest.mark.parametrize("start", [time(9, 0), time(0, 0), time(17, 0)])
def test_a_zero_length_working_day_is_refused(start):
    # With no working time in a day, adding working hours would search for it forever.
    with pytest.raises(ValueError, match="day_start must be before day_end"):
        WorkingCalendar(holidays=frozenset(), day_start=start, day_end=start)


def test_a_zero_length_working_day_in_a_spec_is_refused_where_the_spec_is_read():
    with pytest.raises(ValueError, match="day_start must be before day_end"):
        CalendarSpec(day_start=time(9, 0), day_end=time(9, 0))


# --- when to phone or text ------------------------------------------------------------------------


def test_contact_at_a_weekend_waits_for_monday_morning_when_the_deadline_allows():
    now = london(2026, 12, 5, 10)  # Saturday
    assert contact_moment(now, due=london(2026, 12, 7, 12), calendar=CALENDAR) == utc(2026, 12, 7, 9)


def test_contact_goes_now_when_waiting_for_working_hours_would_miss_the_deadline():
    now = london(2026, 12, 4, 18)  # Friday evening; the 48 hours run out on Sunday
    assert contact_moment(now, due=london(2026, 12, 6, 18), calendar=CALENDAR) == utc(2026, 12, 4, 18)


def test_contact_inside_working_hours_goes_now():
    now = london(2026, 7, 1, 11)  # Wednesday, BST
    assert contact_moment(now, due=london(2026, 7, 3, 11), calendar=CALENDAR) == utc(2026, 7, 1, 10)


def test_contact_due_exactly_when_working_hours_open_waits_for_the_opening():
    # Saturday night, due Monday 09:00: the first working moment still meets the deadline.
    now = london(2026, 12, 5, 22)
    assert contact_moment(now, due=london(2026, 12, 7, 9), calendar=CALENDAR) == utc(2026, 12, 7, 9)


def test_contact_waits_past_christmas_when_the_deadline_is_later():
    now = london(2026, 12, 24, 17, 30)
    assert contact_moment(now, due=london(2026, 12, 29, 12), calendar=CALENDAR) == utc(2026, 12, 29, 9)


# --- the next regular update ----------------------------------------------------------------------


@pytest.fixture
def machine_in_utc(monkeypatch):
    # The update date must come from London's calendar, not the machine's: pin the machine to UTC so
    # a version reading the machine's local date gives a different answer whatever host runs this.
    monkeypatch.setenv("TZ", "UTC")
    clock.tzset()
    yield
    monkeypatch.undo()
    clock.tzset()


def test_next_update_after_2330_utc_in_summer_counts_from_the_london_date(machine_in_utc):
    # 23:30 UTC on Wed 1 Jul is 00:30 BST on Thu 2 Jul: seven days on is Thu 9 Jul, 10:00 BST.
    after = utc(2026, 7, 1, 23, 30)
    assert next_update_at(after, UpdateSchedule(every=7), CALENDAR) == utc(2026, 7, 9, 9)


def test_next_update_in_winter_is_at_the_contact_time_in_gmt():
    after = utc(2026, 11, 30, 15)  # Monday
    schedule = UpdateSchedule(every=7, contact_time=time(14, 30))
    assert next_update_at(after, schedule, CALENDAR) == utc(2026, 12, 7, 14, 30)


def test_next_update_falling_on_christmas_moves_to_the_next_working_day():
    # Fri 18 Dec + 7 days is Christmas Day; 26-27 are the weekend, 28 the Boxing Day substitute.
    after = london(2026, 12, 18, 12)
    assert next_update_at(after, UpdateSchedule(every=7), CALENDAR) == utc(2026, 12, 29, 10)


def test_next_update_in_working_days_skips_christmas():
    # Three working days after Thu 24 Dec: Tue 29, Wed 30, Thu 31 Dec.
    schedule = UpdateSchedule(every=3, unit=IntervalUnit.WORKING_DAYS, contact_time=time(10, 0))
    assert next_update_at(london(2026, 12, 24, 11), schedule, CALENDAR) == utc(2026, 12, 31, 10)


def test_next_update_at_a_contact_time_outside_working_hours_is_kept():
    # The customer agreed 18:00; that is their time, not a working period.
    schedule = UpdateSchedule(every=1, unit=IntervalUnit.WORKING_DAYS, contact_time=time(18, 0))
    assert next_update_at(london(2026, 12, 4, 12), schedule, CALENDAR) == utc(2026, 12, 7, 18)


# --- posted letters -------------------------------------------------------------------------------

POST_ROOM = PostRoom()  # last collection 17:00, delivery in 2 working days


def test_a_letter_printed_before_the_collection_goes_that_day():
    dispatched, delivered = letter_dispatch(london(2026, 12, 2, 11), CALENDAR, POST_ROOM)  # Wednesday
    assert dispatched == utc(2026, 12, 2, 17)
    assert delivered == utc(2026, 12, 4, 17)  # Friday, end of the working day


def test_a_letter_printed_after_friday_collection_goes_on_monday_and_arrives_wednesday():
    dispatched, delivered = letter_dispatch(london(2026, 12, 4, 17, 30), CALENDAR, POST_ROOM)
    assert dispatched == utc(2026, 12, 7, 17)
    assert delivered == utc(2026, 12, 9, 17)


def test_a_letter_printed_at_the_collection_time_has_missed_it():
    dispatched, _ = letter_dispatch(london(2026, 12, 2, 17), CALENDAR, POST_ROOM)
    assert dispatched == utc(2026, 12, 3, 17)


def test_a_letter_printed_on_christmas_eve_afternoon_arrives_after_the_bank_holidays():
    dispatched, delivered = letter_dispatch(london(2026, 12, 24, 16), CALENDAR, POST_ROOM)
    assert dispatched == utc(2026, 12, 24, 17)
    assert delivered == utc(2026, 12, 30, 17)  # Tue 29, Wed 30 Dec


def test_a_letter_printed_on_christmas_day_goes_on_the_29th():
    dispatched, delivered = letter_dispatch(london(2026, 12, 25, 10), CALENDAR, POST_ROOM)
    assert dispatched == utc(2026, 12, 29, 17)
    assert delivered == utc(2026, 12, 31, 17)


def test_a_letter_printed_before_the_august_bank_holiday_weekend_keeps_bst():
    # Printed Fri 28 Aug 2026 at 17:00 BST: missed; Mon 31 Aug is a bank holiday; Tue 1 Sep 17:00 BST.
    dispatched, delivered = letter_dispatch(london(2026, 8, 28, 17), CALENDAR, POST_ROOM)
    assert dispatched == utc(2026, 9, 1, 16)
    assert delivered == utc(2026, 9, 3, 16)


def test_a_letter_with_a_later_collection_and_next_day_delivery():
    room = PostRoom(last_collection=time(18, 30), delivery_working_days=1)
    dispatched, delivered = letter_dispatch(london(2026, 12, 31, 18), CALENDAR, room)
    assert dispatched == utc(2026, 12, 31, 18, 30)
    assert delivered == utc(2027, 1, 4, 17)  # New Year's Day is a bank holiday, then the weekend


def test_same_day_delivery_is_never_before_the_collection():
    room = PostRoom(last_collection=time(18, 0), delivery_working_days=0)
    dispatched, delivered = letter_dispatch(london(2026, 12, 2, 9), CALENDAR, room)
    assert dispatched == delivered == utc(2026, 12, 2, 18)


def test_letter_dispatch_refuses_a_naive_time():
    with pytest.raises(ValueError, match="timezone-aware"):
        letter_dispatch(datetime(2026, 12, 2, 11), CALENDAR, POST_ROOM)


# --- references -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("intake_id", "reference", "six_character_reference"),
    [
        # sha256(intake id), first 8 bytes big-endian, written in base 31 least significant digit
        # first over 23456789ABCDEFGHJKMNPQRSTUVWXYZ (worked out with sha256sum, not this code).
        # Eight digits now; the six issued before the widening are the same number's first six.
        ("crm-2026-000417", "CC-2026-V9XJQ6J7", "CC-2026-V9XJQ6"),  # 214d25f49556febf...
        ("web-form/8841", "CC-2026-N6Q5N5K7", "CC-2026-N6Q5N5"),  # 12a161d57019fc1a...
    ],
)
def test_an_intake_id_always_gives_the_same_reference(intake_id, reference, six_character_reference):
    # Pinned: a change here would give a retried intake a second case instead of finding its first
    # (starter.file_complaint also looks for the six-character one an earlier release gave it).
    assert reference_for_intake(2026, intake_id) == reference
    assert legacy_reference_for_intake(2026, intake_id) == six_character_reference


@pytest.fixture
def machine_in_london(monkeypatch):
    # A worker host on UK time: times the workflow records must still come back in UTC.
    monkeypatch.setenv("TZ", "Europe/London")
    clock.tzset()
    yield
    monkeypatch.undo()
    clock.tzset()


def test_the_next_update_is_in_utc_whatever_the_machine_zone(machine_in_london):
    when = next_update_at(london(2026, 7, 1, 11), UpdateSchedule(every=7), CALENDAR)
    assert when == utc(2026, 7, 8, 9) and when.utcoffset() == timedelta(0)


def test_letter_times_are_in_utc_whatever_the_machine_zone(machine_in_london):
    dispatched, delivered = letter_dispatch(london(2026, 7, 1, 11), CALENDAR, POST_ROOM)
    assert dispatched == utc(2026, 7, 1, 16) and dispatched.utcoffset() == timedelta(0)
    assert delivered.utcoffset() == timedelta(0)


class _NoOffset(tzinfo):
    """A zone that cannot say its offset: no better than no zone for a post-room time."""

    def tzname(self, dt: datetime | None) -> str | None:
        return None

    def utcoffset(self, dt):
        return None

    def dst(self, dt):
        return None


@pytest.mark.parametrize("printed_at", [datetime(2026, 12, 2, 11), datetime(2026, 12, 2, 11, tzinfo=_NoOffset())])
def test_a_letter_printed_at_a_time_without_an_offset_is_refused(printed_at):
    with pytest.raises(ValueError, match="^printed_at must be timezone-aware$"):
        letter_dispatch(printed_at, CALENDAR, POST_ROOM)
