"""The end-to-end harness itself: a wait that times out fails, and the all-hours policy is all hours."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from activities.working_calendar import load_calendar
from domain.policy import contact_moment
from settings import load_policy
from tests.e2e.conftest import ALL_HOURS, Stack, WaitTimedOut


class FakeStack(Stack):
    def __init__(self, statuses: list[dict]) -> None:
        super().__init__(server=None, env={}, data_dir=Path("."), metrics_port=0)
        self._statuses = statuses

    def status(self, reference: str) -> dict:
        return self._statuses.pop(0) if len(self._statuses) > 1 else self._statuses[0]


def test_eventually_fails_with_what_it_last_saw_instead_of_returning_it():
    seen = iter(range(1000))
    with pytest.raises(WaitTimedOut, match=r"report not true within 0.2 s; last saw None"):
        FakeStack([]).eventually(lambda: None if next(seen) >= 0 else None, timeout=0.2, every=0.05, what="report")


def test_eventually_returns_the_first_truthy_value():
    answers = iter([None, "", {"cases": 3}])
    assert FakeStack([]).eventually(lambda: next(answers), timeout=5, every=0.01) == {"cases": 3}


def test_wait_for_fails_with_the_last_status_it_read():
    stack = FakeStack([{"stage": "received"}, {"stage": "acknowledged"}])
    with pytest.raises(WaitTimedOut, match=r"CC-2026-AAAAAA: .* last status: stage 'acknowledged'"):
        stack.wait_for("CC-2026-AAAAAA", lambda d: d["stage"] == "closed", timeout=0.5)


@pytest.fixture
def all_hours_policy(monkeypatch):
    for name, value in ALL_HOURS.items():
        monkeypatch.setenv(name, value)
    return load_policy()


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 12, 25, 12, 0, tzinfo=UTC),  # Christmas Day
        datetime(2026, 12, 28, 3, 0, tzinfo=UTC),  # the Boxing Day substitute, at night
        datetime(2027, 1, 1, 0, 0, tzinfo=UTC),  # New Year's Day, midnight
        datetime(2026, 8, 31, 22, 59, 59, tzinfo=UTC),  # summer bank holiday, 23:59:59 BST
        datetime(2026, 12, 6, 23, 59, 59, 500000, tzinfo=UTC),  # a Sunday, half a second to midnight
    ],
)
def test_the_all_hours_policy_is_working_time_on_bank_holidays_and_at_night(all_hours_policy, moment):
    # The e2e tests file cases whenever they run: a case filed on 25 Dec must still be introduced now.
    calendar = load_calendar(all_hours_policy.calendar, range(2026, 2028))
    assert calendar.is_working_time(moment)
    assert contact_moment(moment, moment, calendar) == moment
    assert calendar.next_working_moment(moment) == moment
