"""What a real 8-week case costs, counted from its history by `bench.cost`: a guard on issue #15's
gains (v4), on the time-skipping server with the real worker, as `python -m bench --only cost` runs it."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

# time_skipping as a module: a bare `test_server` imported here would be collected as a test.
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest

from bench import cost, time_skipping
from bench.infra import task_queue
from domain.compliance_report import case_outcome, outcome_from_memo
from settings import PipelineSettings


async def test_an_eight_week_case_with_one_escalation_costs_at_most_31_actions(tmp_path: Path) -> None:
    from worker import build_worker
    from workflows.complaint_case import ComplaintCase

    async with time_skipping.test_server() as env:
        queue = task_queue("case-cost")
        settings = PipelineSettings(task_queue=queue, data_dir=tmp_path, graceful_shutdown_seconds=1)
        async with build_worker(env.client, settings, clock=env.get_current_time):
            _, runs = await time_skipping.pipeline_case_runs(env, queue, "eight_weeks_one_escalation")
            started = runs[-1][0].workflow_execution_started_event_attributes
            reference = json.loads(started.input.payloads[0].data)["reference"]
            handle = env.client.get_workflow_handle_for(ComplaintCase.run, reference)
            state = await handle.query(ComplaintCase.case_state)
            # The raw description: the test server's Datetime search attributes do not decode.
            described = await env.client.workflow_service.describe_workflow_execution(
                DescribeWorkflowExecutionRequest(
                    namespace=env.client.namespace, execution=WorkflowExecution(workflow_id=reference)
                )
            )
            fields = described.workflow_execution_info.memo.fields
            memo = {key: env.client.data_converter.payload_converter.from_payload(fields[key]) for key in fields}
    events = [e for run in runs for e in run]
    actions = cost.billable_actions(events)
    # 55 before v4. 31 when the 8-week letter has a day of its own, 29 when it shares a week's
    # update (see docs/performance.md, "v4 (closed loop): before and after").
    assert sum(actions.values()) <= 31, actions
    # No reminder wakes of their own, no alert activities, no timer restarted by the escalation.
    assert actions["start_timer"] <= 10 and "schedule_activity" not in actions, actions
    assert actions["upsert_workflow_search_attributes"] == 5, actions
    # v5: one patch marker, and so one TemporalChangeVersion upsert (a visibility write), not four.
    patches = [e for e in runs[-1] if e.HasField("marker_recorded_event_attributes")]
    patches = [e for e in patches if e.marker_recorded_event_attributes.marker_name == "core_patch"]
    assert len(patches) == 1, patches
    versions = cost._upserts(runs[-1]).get("TemporalChangeVersion", 0)
    assert versions == 1, versions
    # 68 KB before v4 (the result carried the case's state, the memo listed every met update);
    # 40 KB under v4, when each of the 12 memo upserts rewrote the whole outcome (7.8 KB of memo).
    assert cost.history_bytes(runs[-1]) < 36 * 1024
    memo_bytes = sum(e.ByteSize() for e in runs[-1] if e.HasField("workflow_properties_modified_event_attributes"))
    assert memo_bytes < 2.5 * 1024, memo_bytes
    # The deltas add up, on the server, to the whole outcome the report reads.
    received_at = datetime.fromisoformat(json.loads(started.input.payloads[0].data)["intake"]["received_at"])
    assert outcome_from_memo(memo) == case_outcome(state, received_at, updates_met_counted=True)
