"""When a customer may be phoned or texted: the quiet hours, on UK wall clocks, whatever the deadline."""

from __future__ import annotations

import time as clock
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain.contact import local_date, local_moment, next_phone_moment, phone_allowed, text_wait
from domain.models import QuietHours

LONDON = ZoneInfo("Europe/London")
UK = "Europe/London"
QUIET = QuietHours()  # 08:00-20:00 UK time, never on 25 December


def london(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=LONDON)


@pytest.mark.parametrize(
    ("moment", "allowed"),
    [
        (london(2026, 11, 30, 7, 59), False),
        (london(2026, 11, 30, 8, 0), True),
        (london(2026, 11, 30, 19, 59), True),
        (london(2026, 11, 30, 20, 0), False),
        (london(2026, 11, 28, 10, 0), True),  # a Saturday: quiet hours are not working hours
        (london(2026, 12, 25, 12, 0), False),  # Christmas Day, at noon
        (london(2026, 12, 24, 12, 0), True),
    ],
)
def test_texts_go_from_0800_up_to_but_not_including_2000_and_never_on_christmas_day(
    moment: datetime, allowed: bool
) -> None:
    assert phone_allowed(moment, QUIET, UK) is allowed


def test_quiet_hours_are_judged_on_uk_wall_clocks_across_the_clock_change() -> None:
    # 07:30 UTC is 08:30 in British Summer Time but 07:30 in winter.
    assert phone_allowed(datetime(2026, 7, 1, 7, 30, tzinfo=UTC), QUIET, UK)
    assert not phone_allowed(datetime(2026, 12, 1, 7, 30, tzinfo=UTC), QUIET, UK)
    # 19:30 UTC is 20:30 BST: too late in summer, fine in winter.
    assert not phone_allowed(datetime(2026, 7, 1, 19, 30, tzinfo=UTC), QUIET, UK)
    assert phone_allowed(datetime(2026, 12, 1, 19, 30, tzinfo=UTC), QUIET, UK)


def test_a_configured_no_contact_day_is_silent_all_day() -> None:
    new_year = QuietHours(no_contact_days=["01-01"])
    assert not phone_allowed(london(2027, 1, 1, 12), new_year, UK)
    assert phone_allowed(london(2026, 12, 25, 12), new_year, UK)  # Christmas only when listed


def test_a_text_allowed_now_goes_now_in_utc() -> None:
    moment = london(2026, 7, 1, 10)
    sent = next_phone_moment(moment, QUIET, UK)
    assert sent == moment
    assert sent.tzinfo is UTC


def test_a_text_due_at_two_in_the_morning_waits_for_0800_that_day() -> None:
    assert next_phone_moment(london(2026, 11, 28, 2), QUIET, UK) == london(2026, 11, 28, 8)


def test_a_text_due_in_the_evening_waits_for_0800_next_morning() -> None:
    assert next_phone_moment(london(2026, 11, 30, 21), QUIET, UK) == london(2026, 12, 1, 8)


def test_a_text_due_on_christmas_eve_night_waits_for_boxing_day() -> None:
    assert next_phone_moment(london(2026, 12, 24, 21), QUIET, UK) == london(2026, 12, 26, 8)
    assert next_phone_moment(london(2026, 12, 25, 7), QUIET, UK) == london(2026, 12, 26, 8)


def test_several_no_contact_days_in_a_row_are_all_skipped() -> None:
    holidays = QuietHours(no_contact_days=["12-25", "12-26", "12-27"])
    assert next_phone_moment(london(2026, 12, 24, 20), holidays, UK) == london(2026, 12, 28, 8)


def test_the_next_moment_honours_a_different_window() -> None:
    later = QuietHours(start=time(9, 30), end=time(18))
    assert next_phone_moment(london(2026, 11, 30, 18), later, UK) == london(2026, 12, 1, 9, 30)


def test_the_next_moment_after_the_spring_clock_change_is_0800_bst() -> None:
    # 29 March 2026: the clocks go forward at 01:00 UTC; 08:00 BST is 07:00 UTC.
    assert next_phone_moment(datetime(2026, 3, 29, 0, 30, tzinfo=UTC), QUIET, UK) == datetime(
        2026, 3, 29, 7, 0, tzinfo=UTC
    )


def test_local_date_is_the_date_on_uk_wall_clocks() -> None:
    # 23:30 UTC on 30 June is 00:30 BST on 1 July; in winter the date is the UTC one.
    assert local_date(datetime(2026, 6, 30, 23, 30, tzinfo=UTC), UK) == date(2026, 7, 1)
    assert local_date(datetime(2026, 12, 30, 23, 30, tzinfo=UTC), UK) == date(2026, 12, 30)


def test_local_moment_is_the_uk_wall_clock_time_as_utc() -> None:
    summer = local_moment(date(2026, 7, 1), time(9), UK)
    assert summer == datetime(2026, 7, 1, 8, 0, tzinfo=UTC) and summer.tzinfo is UTC
    assert local_moment(date(2026, 12, 1), time(9), UK) == datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def machine_in_london(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # A worker host on UK time: the moment the workflow records must still be UTC.
    monkeypatch.setenv("TZ", "Europe/London")
    clock.tzset()
    yield
    monkeypatch.undo()
    clock.tzset()


def test_a_deferred_text_time_is_utc_whatever_the_machine_zone(machine_in_london: None) -> None:
    moved = next_phone_moment(london(2026, 7, 1, 21), QUIET, UK)
    assert moved == london(2026, 7, 2, 8) and moved.utcoffset() == timedelta(0)


def test_quiet_hours_that_leave_no_day_to_phone_fail_loudly_instead_of_looping() -> None:
    # The model allows at most 20 no-contact days; a hand-built one with every day must still stop.
    every_day = [f"{d:%m-%d}" for d in (date(2028, 1, 1) + timedelta(days=n) for n in range(366))]
    silent = QuietHours.model_construct(start=time(8), end=time(20), no_contact_days=every_day)
    with pytest.raises(ValueError, match="^quiet hours leave no moment to phone in a year$"):
        next_phone_moment(london(2026, 11, 30, 21), silent, UK)


@pytest.fixture
def machine_far_ahead(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Kiritimati is 14 hours ahead of GMT: its date is already tomorrow by 10:00 in London.
    monkeypatch.setenv("TZ", "Pacific/Kiritimati")
    clock.tzset()
    yield
    monkeypatch.undo()
    clock.tzset()


def test_the_day_to_phone_on_is_londons_not_the_machines(machine_far_ahead: None) -> None:
    late_start = QuietHours(start=time(11), end=time(20))
    assert next_phone_moment(london(2026, 11, 30, 10, 30), late_start, UK) == london(2026, 11, 30, 11)


def test_a_text_ready_at_night_waits_until_eight_and_one_by_day_not_at_all() -> None:
    assert text_wait(london(2026, 11, 30, 21, 32), QUIET, UK) == timedelta(hours=10, minutes=28)
    assert text_wait(london(2026, 11, 30, 8, 0), QUIET, UK) == timedelta(0)
    assert text_wait(london(2026, 12, 24, 20, 0), QUIET, UK) == timedelta(hours=36)  # not on Christmas Day
