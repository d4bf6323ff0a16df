"""The code's clocks, computed on the working calendar. Pure: the workflow and activities share it."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from domain.calendar import WorkingCalendar
from domain.models import CaseDeadlines, ComplaintPolicy, IntervalUnit, PostRoom, UpdateSchedule


def case_deadlines(
    received_at: datetime,
    policy: ComplaintPolicy,
    calendar: WorkingCalendar,
    *,
    holidays_version: str,
) -> CaseDeadlines:
    return CaseDeadlines(
        acknowledgement_due=calendar.add_working_hours(received_at, policy.acknowledgement_working_hours),
        # "Within 48 hours of your complaint being raised": elapsed hours, weekends included.
        introduction_due=received_at + timedelta(hours=policy.introduction_hours),
        review_due=calendar.add_working_days(received_at, policy.review_working_days),
        # Eight calendar weeks from first receipt; a re-open never pauses or resets it.
        adr_due=received_at + timedelta(weeks=policy.adr_weeks),
        calendar_subdivision=policy.calendar.subdivision,
        holidays_version=holidays_version,
        holidays=sorted(calendar.holidays),
    )


def contact_moment(now: datetime, due: datetime, calendar: WorkingCalendar) -> datetime:
    """When to phone or text: inside contact hours, unless waiting would miss the deadline."""
    moment = calendar.next_working_moment(now)
    return moment if moment <= due else now


def next_update_at(after: datetime, schedule: UpdateSchedule, calendar: WorkingCalendar) -> datetime:
    """The next regular update: `every` days on, at the agreed local time, on a working day."""
    zone = ZoneInfo(calendar.timezone)
    local = after.astimezone(zone)
    if schedule.unit is IntervalUnit.WORKING_DAYS:
        day = local.date()
        remaining = schedule.every
        while remaining:
            day += timedelta(days=1)
            if calendar.is_working_day(day):
                remaining -= 1
    else:
        day = local.date() + timedelta(days=schedule.every)
    start = datetime.combine(day, schedule.contact_time, tzinfo=zone)
    return calendar.next_working_day_at(start, schedule.contact_time).astimezone(UTC)


def letter_dispatch(printed_at: datetime, calendar: WorkingCalendar, post_room: PostRoom) -> tuple[datetime, datetime]:
    """When a printed letter leaves the post room, and by when it should reach the customer (UTC).

    Dispatched at the post room's last collection on the day it is printed, if that is a working day
    and it was printed before the collection (a letter printed at 17:00 exactly has missed it); else at
    the next working day's collection. Expected delivery is the end of the working day (the calendar's
    ``day_end``, and never before the collection itself) ``delivery_working_days`` working days after
    dispatch: posted letters are counted on the provider's own working days, so a bank holiday adds a
    day, as it does for the post.
    """
    if printed_at.tzinfo is None or printed_at.utcoffset() is None:
        raise ValueError("printed_at must be timezone-aware")
    zone = ZoneInfo(calendar.timezone)
    local = printed_at.astimezone(zone)
    day = local.date()
    if not (calendar.is_working_day(day) and local.time() < post_room.last_collection):
        day = _next_working_date(day, calendar)
    dispatched = _at(day, post_room.last_collection, zone)
    for _ in range(post_room.delivery_working_days):
        day = _next_working_date(day, calendar)
    delivered = max(_at(day, calendar.day_end, zone), dispatched)
    return dispatched, delivered


def _next_working_date(day: date, calendar: WorkingCalendar) -> date:
    day += timedelta(days=1)
    while not calendar.is_working_day(day):
        day += timedelta(days=1)
    return day


def _at(day: date, wall: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, wall, tzinfo=zone).astimezone(UTC)
