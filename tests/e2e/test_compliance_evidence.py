"""The compliance report and the evidence archive, on a server of their own.

The report counts every case received in the period, so these cases need a server no other test
files cases on.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.conftest import ALL_HOURS, Stack
from tests.e2e.test_case_end_to_end import fresh_example
from tests.e2e.test_operations import TODAY

pytestmark = pytest.mark.e2e


def test_compliance_report_and_evidence_for_seeded_cases(stack: Stack) -> None:
    closed = stack.file(fresh_example(), **ALL_HOURS)
    escalated = stack.file(fresh_example(), **ALL_HOURS)
    still_open = stack.file(fresh_example(), **ALL_HOURS)
    for ref in (closed, escalated, still_open):
        stack.wait_for(ref, lambda d: d["stage"] == "investigating")
    assert stack.run("admin.py", "not-satisfied", escalated, "--reason", "Wrong bill again").returncode == 0
    stack.wait_for(escalated, lambda d: d["escalation_level"] == 1)
    assert stack.run("admin.py", "satisfied", closed, "--how", "phone").returncode == 0
    stack.wait_for(closed, lambda d: d["stage"] == "closed")

    def report() -> dict | None:
        result = stack.run("admin.py", "report", "--from", TODAY, "--to", TODAY, "--format", "json")
        assert result.returncode == 0, result.stderr
        figures = json.loads(result.stdout)
        return figures if figures["cases_closed"] == 1 and figures["cases_escalated"] == 1 else None

    figures = stack.eventually(report)
    assert figures is not None
    assert figures["cases_received"] == 3
    assert figures["acknowledgements_on_time"] == figures["acknowledgements_due"] == 3
    assert figures["escalations"] == 1
    assert figures["adr_letters_due"] == 0
    assert 0 <= figures["median_days_to_close"] < 0.01

    csv_out = stack.run("admin.py", "report", "--from", TODAY, "--to", TODAY, "--format", "csv").stdout
    assert csv_out.splitlines()[0] == "measure,value" and "cases_received,3" in csv_out

    evidence = stack.run("admin.py", "evidence", closed)
    assert evidence.returncode == 0, evidence.stderr
    record = json.loads(evidence.stdout)
    assert record["reference"] == closed and record["stage"] == "closed"
    # Filed on the all-hours calendar, which has no bank holidays.
    assert record["calendar"]["subdivision"] == "none" and record["calendar"]["holidays_version"]
    assert {c["name"] for c in record["clocks"]} >= {"acknowledgement", "introduction", "review", "adr_rights"}
    assert any(m["kind"] == "closure" for m in record["messages"])
    expires = datetime.fromisoformat(record["archive"]["expires_at"])
    assert expires - datetime.now(UTC) > timedelta(days=729)

    # On demand for an open case, too.
    open_record = json.loads(stack.run("admin.py", "evidence", still_open).stdout)
    assert open_record["stage"] == "investigating" and open_record["closed_at"] is None
