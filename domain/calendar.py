"""Working time under the UK Customer Complaints Code: 09:00-17:00 local, Monday-Friday, bank holidays out.

Pure and deterministic, because workflow code imports it: bank holidays arrive as data, no clock is read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from domain.models import CalendarSpec

_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class WorkingCalendar:
    """A working week in one time zone, with its bank holidays supplied as data.

    How the code's phrases are read here:
    - Working time is counted on the local wall clock of ``timezone`` and converted to UTC, so a deadline
      that crosses a clock change keeps its local hour (UK clocks change at 01:00-02:00, never in hours).
    - ``add_working_hours(t, h)`` is the *earliest* instant by which ``h`` of working time has passed
      since ``t``: a start outside hours counts from the next working moment, a result that uses a day
      up exactly is that day's ``day_end`` (17:00, not 09:00 next morning), and adding zero returns ``t``
      itself, even at a weekend. That single definition makes the arithmetic exactly associative:
      ``add(add(t, x), y) == add(t, x + y)`` for all ``x, y >= 0``.
    - ``add_working_days(t, n)`` is ``add_working_hours(t, n * (day_end - day_start))``: 3 working days
      from Monday 10:00 is Thursday 10:00; from a Saturday it is Wednesday 17:00.
    """

    holidays: frozenset[date]
    timezone: str = "Europe/London"
    day_start: time = time(9, 0)
    day_end: time = time(17, 0)
    workdays: frozenset[int] = frozenset({0, 1, 2, 3, 4})
    # Years the holiday data was loaded for; None skips the check. A date outside them raises rather
    # than silently treating an unknown Christmas as a working day and setting a wrong deadline.
    holiday_years: frozenset[int] | None = None

    def __post_init__(self) -> None:
        # Coerced so that sets or lists from callers still leave the calendar hashable and immutable.
        object.__setattr__(self, "holidays", frozenset(self.holidays))
        object.__setattr__(self, "workdays", frozenset(self.workdays))
        if self.holiday_years is not None:
            object.__setattr__(self, "holiday_years", frozenset(self.holiday_years))
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {self.timezone!r}") from None
        if self.day_start.tzinfo is not None or self.day_end.tzinfo is not None:
            raise ValueError("day_start and day_end are local wall-clock times and take no tzinfo")
        if not self.day_start < self.day_end:
            raise ValueError("day_start must be before day_end")
        # An empty week would make every search for the next working day run forever.
        if not self.workdays or not self.workdays <= set(range(7)):
            raise ValueError("workdays must be a non-empty set of weekday numbers 0 (Monday) to 6")

    @classmethod
    def from_spec(
        cls,
        spec: CalendarSpec,
        holidays: Iterable[date],
        *,
        years: Iterable[int] | None = None,
    ) -> WorkingCalendar:
        return cls(
            holidays=frozenset(holidays),
            timezone=spec.timezone,
            day_start=spec.day_start,
            day_end=spec.day_end,
            workdays=frozenset(spec.workdays),
            holiday_years=None if years is None else frozenset(years),
        )

    @property
    def working_day_length(self) -> timedelta:
        return datetime.combine(date.min, self.day_end) - datetime.combine(date.min, self.day_start)

    # --- questions about one day or moment --------------------------------------------------------

    def is_working_day(self, day: date) -> bool:
        self._check_covered(day, day)
        return day.weekday() in self.workdays and day not in self.holidays

    def is_working_time(self, moment: datetime) -> bool:
        wall = self._to_wall(moment)
        return self.is_working_day(wall.date()) and self.day_start <= wall.time() < self.day_end

    def next_working_moment(self, moment: datetime) -> datetime:
        """``moment`` itself if it is working time, else the start of the next working period (UTC)."""
        return self._from_wall(self._next_working_wall(self._to_wall(moment)))

    def next_working_day_at(self, moment: datetime, at: time) -> datetime:
        """The first instant at or after ``moment`` that falls on a working day at local time ``at`` (UTC).

        ``at`` need not be inside working hours: it is a time the customer agreed, not a working period.
        """
        if at.tzinfo is not None:
            raise ValueError("'at' is a local wall-clock time and takes no tzinfo")
        _require_aware(moment)
        day = self._to_wall(moment).date()
        while True:
            if self.is_working_day(day):
                # Compared in UTC, not on the wall clock, so the repeated hour of an autumn clock change
                # cannot produce an instant before ``moment``.
                candidate = self._from_wall(datetime.combine(day, at))
                if candidate >= moment:
                    return candidate
            day += _ONE_DAY

    # --- arithmetic ------------------------------------------------------------------------------

    def add_working_hours(self, start: datetime, hours: float | timedelta) -> datetime:
        """The earliest instant by which ``hours`` of working time have passed since ``start`` (UTC)."""
        remaining = hours if isinstance(hours, timedelta) else timedelta(hours=hours)
        if remaining < timedelta(0):
            raise ValueError("cannot add negative working time")
        _require_aware(start)
        if not remaining:
            return start.astimezone(UTC)
        wall = self._next_working_wall(self._to_wall(start))
        # Whole working periods are consumed a day at a time, never minute by minute.
        while True:
            period_end = datetime.combine(wall.date(), self.day_end)
            available = period_end - wall
            if remaining <= available:
                return self._from_wall(wall + remaining)
            remaining -= available
            wall = datetime.combine(self._next_working_day(wall.date()), self.day_start)

    def add_working_days(self, start: datetime, days: int) -> datetime:
        if days < 0:
            raise ValueError("cannot add negative working days")
        return self.add_working_hours(start, days * self.working_day_length)

    def working_time_between(self, start: datetime, end: datetime) -> timedelta:
        """Working time from ``start`` to ``end``; negative when ``end`` is before ``start``."""
        _require_aware(start)
        _require_aware(end)
        if end < start:
            return -self.working_time_between(end, start)
        first, last = self._to_wall(start), self._to_wall(end)
        whole_days = self._count_working_days(first.date(), last.date())
        return whole_days * self.working_day_length - self._worked_before(first) + self._worked_before(last)

    # --- internals: naive datetimes below are local wall-clock times in ``self.timezone`` ---------

    def _to_wall(self, moment: datetime) -> datetime:
        _require_aware(moment)
        return moment.astimezone(ZoneInfo(self.timezone)).replace(tzinfo=None)

    def _from_wall(self, wall: datetime) -> datetime:
        # fold=0 picks the first of a repeated hour; working hours never straddle a UK clock change.
        return wall.replace(tzinfo=ZoneInfo(self.timezone)).astimezone(UTC)

    def _next_working_wall(self, wall: datetime) -> datetime:
        day = wall.date()
        if self.is_working_day(day) and wall.time() < self.day_end:
            return max(wall, datetime.combine(day, self.day_start))
        return datetime.combine(self._next_working_day(day), self.day_start)

    def _next_working_day(self, day: date) -> date:
        day += _ONE_DAY
        while not self.is_working_day(day):
            day += _ONE_DAY
        return day

    def _worked_before(self, wall: datetime) -> timedelta:
        """Working time on ``wall``'s own date that lies before ``wall``."""
        day = wall.date()
        if not self.is_working_day(day):
            return timedelta(0)
        clamped = min(max(wall.time(), self.day_start), self.day_end)
        return datetime.combine(day, clamped) - datetime.combine(day, self.day_start)

    def _count_working_days(self, first: date, stop: date) -> int:
        """Working days in ``[first, stop)``, by arithmetic rather than a walk, so long spans stay cheap."""
        if stop <= first:
            return 0
        self._check_covered(first, stop - _ONE_DAY)
        weeks, extra = divmod((stop - first).days, 7)
        count = weeks * len(self.workdays)
        count += sum(1 for offset in range(extra) if (first.weekday() + offset) % 7 in self.workdays)
        count -= sum(1 for day in self.holidays if first <= day < stop and day.weekday() in self.workdays)
        return count

    def _check_covered(self, first: date, last: date) -> None:
        if self.holiday_years is None:
            return
        missing = sorted(set(range(first.year, last.year + 1)) - self.holiday_years)
        if missing:
            raise ValueError(
                f"the calendar has no bank-holiday data for {', '.join(map(str, missing))}; load it with those years"
            )


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"datetime must be timezone-aware, got naive {moment.isoformat()}")
