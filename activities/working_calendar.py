"""Bank holidays for the working calendar, from the ``holidays`` package (kept out of workflow code)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import holidays
import holidays.version

from domain.calendar import WorkingCalendar
from domain.models import CalendarSpec

# The subdivision for a calendar with no bank holidays at all.
NO_HOLIDAYS = "none"


def bank_holidays(spec: CalendarSpec, years: Iterable[int]) -> dict[date, str]:
    """Public holidays of the spec's UK nation, substitute days ("observed") included, oldest first."""
    wanted = sorted(set(years))
    if not wanted:
        raise ValueError("name at least one year to load bank holidays for")
    if spec.subdivision == NO_HOLIDAYS:
        # A service open every day of the year (and the end-to-end tests, which must run on 25 Dec).
        return {}
    try:
        # The subdivision is always passed: for plain "GB" the package keeps only the holidays common to
        # all four nations, which drops Easter Monday and the August bank holiday in England & Wales.
        found = holidays.country_holidays("GB", subdiv=spec.subdivision, years=wanted)
    except NotImplementedError:
        raise ValueError(
            f"unknown UK subdivision {spec.subdivision!r}; use ENG, WLS, SCT or NIR (or {NO_HOLIDAYS!r})"
        ) from None
    return dict(sorted(found.items()))


def load_calendar(spec: CalendarSpec, years: Iterable[int]) -> WorkingCalendar:
    """The working calendar for ``spec``, refusing dates outside ``years`` rather than guessing."""
    wanted = sorted(set(years))
    return WorkingCalendar.from_spec(spec, bank_holidays(spec, wanted), years=wanted)


def holidays_version() -> str:
    # Recorded with a case, so a deadline can be explained later even after the package is upgraded.
    return holidays.version.__version__
