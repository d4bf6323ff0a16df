"""The policy file is checked before any case starts."""

from __future__ import annotations

import pytest

from settings import ConfigError, load_policy


def test_a_policy_with_a_zero_length_working_day_is_refused_at_load(tmp_path, monkeypatch):
    # A case started with it would fail its first step for ever (adding working hours to such a day
    # never ends): refused where the policy is read, naming the field.
    monkeypatch.delenv("COMPLAINTS_POLICY__CALENDAR__DAY_END", raising=False)
    path = tmp_path / "policy.toml"
    path.write_text('[calendar]\nday_start = "09:00:00"\nday_end = "09:00:00"\n')
    with pytest.raises(ConfigError, match=r"calendar\n.*day_start must be before day_end"):
        load_policy(path)


def test_a_policy_with_a_working_day_loads(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text('[calendar]\nday_start = "08:30:00"\nday_end = "16:30:00"\n')
    assert str(load_policy(path).calendar.day_end) == "16:30:00"


def test_filing_with_a_week_without_working_days_is_refused_before_anything_starts():
    import asyncio

    import starter
    from domain.models import CalendarSpec, ComplaintPolicy

    # A policy built in code, not read by load_policy: no working day in the week.
    policy = ComplaintPolicy(calendar=CalendarSpec(workdays=[]))
    intake = starter.parse_intake(
        '{"customer": {"name": "Gwen Pritchard", "email": "gwen@example.com"}, "account_number": "ISS-1",'
        ' "source": "web", "complaint": "Broadband down."}'
    )
    # No client: the policy must be refused before any call to Temporal is attempted.
    with pytest.raises(ValueError, match="workdays must be a non-empty set"):
        asyncio.run(starter.file_complaint(None, intake, policy=policy, task_queue="complaints"))
