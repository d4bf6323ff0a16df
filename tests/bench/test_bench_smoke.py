"""`python -m bench --quick` runs every scenario end to end and reports them as a table and a JSON line.

Speed is not asserted: this machine is shared and the sizes are tiny. The numbers that matter are in
docs/performance.md, from full runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory

from bench.options import SCENARIOS
from bench.report import percentile
from bench.shape import events_by_type, shape_of
from settings import REPO

HISTORIES = REPO / "tests" / "histories" / "v1"


@pytest.mark.e2e
def test_quick_bench_prints_the_table_and_a_json_line_with_every_scenario(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            # The rush at its smallest: the time to set it up does not grow with the cases.
            "--rush-cases",
            "20",
            "--workdir",
            str(tmp_path / "work"),
            "--json-out",
            str(tmp_path / "bench.json"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    header = lines[0].split()
    assert header[:6] == ["scenario", "setup", "metric", "pipeline", "baseline", "ratio"]
    for scenario in SCENARIOS:
        assert any(line.startswith(scenario) for line in lines[2:]), f"no {scenario} row in the table"

    document = json.loads(lines[-1])
    assert document == json.loads((tmp_path / "bench.json").read_text())
    assert document["quick"] is True and document["errors"] == []
    assert set(document["scenarios"]) == set(SCENARIOS)
    assert document["scenarios"]["lifecycle"]["memory"]["pipeline"]["per_s"] > 0
    assert document["scenarios"]["open_cases"]["pipeline"]["default_cache"]["rss_mb"] > 0
    # cost: every case priced from its real history, the pipeline beside its baseline.
    priced = document["scenarios"]["cost"]["cases"]
    assert set(priced) == set(document["options"]["cost_cases"])
    for case in priced.values():
        for kind in ("pipeline", "baseline", "pipeline_vendors"):
            found = case[kind]
            assert found["actions"] == sum(found["actions_by_type"].values()) > 0
            assert found["actions_by_type"]["start_workflow"] == 1
            assert found["history_bytes"] == sum(found["bytes_by_event_type"].values())
            assert found["usd_per_1000_cases"]["total"] > 0
        # The production configuration: the same case, only the receipts' ids differ.
        assert case["pipeline_vendors"]["actions"] == case["pipeline"]["actions"]
        # Both were driven by the same signals.
        assert (
            case["pipeline"]["actions_by_type"]["signal_workflow"]
            == case["baseline"]["actions_by_type"]["signal_workflow"]
        )
    # rush: every update reached both vendors once, none refused for good, and the replay was seen.
    rushed = document["scenarios"]["rush"]
    assert rushed["cases"] == 20 and not rushed["timed_out"]
    assert rushed["vendor"]["sms"]["accepted"] == rushed["vendor"]["email"]["accepted"] == 20
    assert rushed["duplicates"] == rushed["cases_not_sent_on_both_channels"] == 0
    assert rushed["replay"]["cases_woken"] == 20
    assert {t["name"] for t in document["targets"]} >= {
        "intake_ratio_memory",
        "lifecycle_ratio_memory",
        "closure_p99_memory",
        "time_skipping_eight_weeks_two_escalations",
        "history_closed_within_3_days",
        "history_eight_weeks_one_escalation",
        "cost_actions_eight_weeks_one_escalation",
        "cost_history_kb_eight_weeks_one_escalation",
        "cost_history_kb_vendors_eight_weeks_one_escalation",
        "rush_drain_ratio",
        "rush_429_share",
    }
    assert document["machine"]["nproc"] >= 1


@pytest.mark.parametrize("recorded", sorted(HISTORIES.glob("*.json")), ids=lambda p: p.stem)
def test_the_baseline_shape_counts_what_the_recorded_case_did(recorded: Path) -> None:
    history = WorkflowHistory.from_json("case", json.loads(recorded.read_text()))
    events = list(history.events)
    counts = events_by_type(events)
    shape = shape_of(events)

    assert sum(p.activities for p in shape.phases) == counts.get("ACTIVITY_TASK_SCHEDULED", 0)
    assert len(shape.phases) == counts.get("WORKFLOW_EXECUTION_SIGNALED", 0) + 1
    assert sum(p.fired_timers for p in shape.phases) == counts.get("TIMER_FIRED", 0)
    assert sum(p.raced_timers + p.fired_timers for p in shape.phases) == counts.get("TIMER_STARTED", 0)


def test_p99_of_fewer_than_a_hundred_samples_is_the_slowest() -> None:
    samples = [0.1 * n for n in range(1, 51)]
    assert percentile(samples, 50) == pytest.approx(2.5)
    assert percentile(samples, 99) == pytest.approx(5.0)
    assert percentile([], 99) is None
