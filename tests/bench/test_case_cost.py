"""What a real 8-week case costs, counted from its history by `bench.cost`: a guard on issue #15's
gains (v4), on the time-skipping server with the real worker, as `python -m bench --only cost` runs it."""

from __future__ import annotations

from pathlib import Path

# time_skipping as a module: a bare `test_server` imported here would be collected as a test.
from bench import cost, time_skipping
from bench.infra import task_queue
from settings import PipelineSettings


async def test_an_eight_week_case_with_one_escalation_costs_at_most_31_actions(tmp_path: Path) -> None:
    from worker import build_worker

    async with time_skipping.test_server() as env:
        queue = task_queue("case-cost")
        settings = PipelineSettings(task_queue=queue, data_dir=tmp_path, graceful_shutdown_seconds=1)
        async with build_worker(env.client, settings):
            _, runs = await time_skipping.pipeline_case_runs(env, queue, "eight_weeks_one_escalation")
    events = [e for run in runs for e in run]
    actions = cost.billable_actions(events)
    # 55 before v4. 31 when the 8-week letter has a day of its own, 29 when it shares a week's
    # update (see docs/performance.md, "v4 (closed loop): before and after").
    assert sum(actions.values()) <= 31, actions
    # No reminder wakes of their own, no alert activities, no timer restarted by the escalation.
    assert actions["start_timer"] <= 10 and "schedule_activity" not in actions, actions
    assert actions["upsert_workflow_search_attributes"] == 5, actions
    # 68 KB before v4: the result no longer carries the case's state, the memo counts met updates.
    assert cost.history_bytes(runs[-1]) < 42 * 1024
