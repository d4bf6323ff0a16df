"""Every recorded history still replays on today's workflow code: a deploy cannot wedge a case.

Histories are recorded from the scenario tests (`make histories`) into tests/histories/<version>/
and kept for every shipped version. Changing workflow logic without `workflow.patched` makes
this test fail before the change reaches a running case.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from domain.models import CaseInput, CaseSummary
from workflows.complaint_case import ComplaintCase
from workflows.sandbox import workflow_runner

HISTORIES = sorted((Path(__file__).parent.parent / "histories").glob("*/*.json"))


def load(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(f"{path.parent.name}/{path.stem}", path.read_text())


def replayer(*workflows: type, isolated: bool = True) -> Replayer:
    return Replayer(
        workflows=list(workflows),
        data_converter=pydantic_data_converter,
        workflow_runner=workflow_runner(isolated=isolated),
    )


def test_there_are_recorded_histories_to_replay() -> None:
    assert len(HISTORIES) >= 10


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: f"{p.parent.name}/{p.stem}")
@pytest.mark.parametrize("isolated", [True, False], ids=["isolated", "shared-modules"])
async def test_recorded_case_replays_on_current_code(path: Path, isolated: bool) -> None:
    # Both sandboxes: tests run "isolated"; worker.py's default imports the workflow's modules once.
    await replayer(ComplaintCase, isolated=isolated).replay_workflow(load(path))


@pytest.mark.parametrize("path", [p for p in HISTORIES if p.parent.name != "v1"], ids=lambda p: p.stem)
def test_the_local_first_decision_is_the_first_thing_a_case_records(path: Path) -> None:
    # Asked later (after a local activity), a query or a workflow-task heartbeat can put the patch
    # marker in a later task than the code that asked, and a replay then takes the v1 path.
    events = load(path).events
    first_task_done = next(i for i, e in enumerate(events) if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
    first_command = events[first_task_done + 1]
    assert first_command.marker_recorded_event_attributes.marker_name == "core_patch"


@workflow.defn(name="ComplaintCase")
class ComplaintCaseWithUnpatchedChange(ComplaintCase):
    """A careless change: a new pause before the case opens, not behind workflow.patched."""

    @workflow.run
    async def run(self, input: CaseInput) -> CaseSummary:
        await workflow.sleep(timedelta(seconds=1))
        return await super().run(input)


async def test_an_unpatched_change_to_the_workflow_fails_replay() -> None:
    path = next(p for p in HISTORIES if "acknowledged_introduced_and_closed" in p.name)
    result = await replayer(ComplaintCaseWithUnpatchedChange).replay_workflow(
        load(path), raise_on_replay_failure=False
    )
    assert result.replay_failure is not None
    assert "nondeterminism" in type(result.replay_failure).__name__.lower() or "Nondeterminism" in str(
        result.replay_failure
    )
