"""The policy file is checked before any case starts."""

from __future__ import annotations

import pytest

from settings import ConfigError, load_policy


def test_a_policy_with_a_zero_length_working_day_is_refused_at_load(tmp_path, monkeypatch):
    # CalendarSpec alone accepts it; a case started with it would fail its first step for ever
    # (the working calendar cannot be built, and adding working hours to such a day never ends).
    monkeypatch.delenv("COMPLAINTS_POLICY__CALENDAR__DAY_END", raising=False)
    path = tmp_path / "policy.toml"
    path.write_text('[calendar]\nday_start = "09:00:00"\nday_end = "09:00:00"\n')
    with pytest.raises(ConfigError, match="calendar: day_start must be before day_end"):
        load_policy(path)


def test_a_policy_with_a_working_day_loads(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text('[calendar]\nday_start = "08:30:00"\nday_end = "16:30:00"\n')
    assert str(load_policy(path).calendar.day_end) == "16:30:00"


def test_filing_with_a_zero_length_working_day_is_refused_before_anything_starts():
    import asyncio
    from datetime import time

    import starter
    from domain.models import CalendarSpec, ComplaintPolicy

    policy = ComplaintPolicy(calendar=CalendarSpec(day_start=time(9), day_end=time(9)))
    intake = starter.parse_intake(
        '{"customer": {"name": "Gwen Pritchard", "email": "gwen@example.com"}, "account_number": "ISS-1",'
        ' "source": "web", "complaint": "Broadband down."}'
    )
    # No client: the policy must be refused before any call to Temporal is attempted.
    with pytest.raises(ValueError, match="day_start must be before day_end"):
        asyncio.run(starter.file_complaint(None, intake, policy=policy, task_queue="complaints"))  # type: ignore[arg-type]
