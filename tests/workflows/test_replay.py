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
from workflows.reply_notice import CustomerReplyNotice
from workflows.sandbox import workflow_runner

HISTORIES = sorted((Path(__file__).parent.parent / "histories").glob("*/*.json"))
# The notice of a reply no open case took (workflows/reply_notice.py), by the release that recorded it.
NOTICE_HISTORIES = sorted((Path(__file__).parent.parent / "histories" / "reply-notice").glob("*/*.json"))


def load(path: Path, text: str | None = None) -> WorkflowHistory:
    # Under its own workflow id (the case reference): since v3 a case checks that they match.
    text = text if text is not None else path.read_text()
    return WorkflowHistory.from_json(_reference(text), text)


def _reference(history_json: str) -> str:
    import base64
    import json as jsonlib

    start = jsonlib.loads(history_json)["events"][0]["workflowExecutionStartedEventAttributes"]
    return jsonlib.loads(base64.b64decode(start["input"]["payloads"][0]["data"]))["reference"]


def replayer(*workflows: type, isolated: bool = True) -> Replayer:
    return Replayer(
        workflows=list(workflows),
        data_converter=pydantic_data_converter,
        workflow_runner=workflow_runner(isolated=isolated),
    )


def test_there_are_recorded_histories_to_replay() -> None:
    assert len(HISTORIES) >= 10
    assert len(NOTICE_HISTORIES) >= 2


@pytest.mark.parametrize("path", HISTORIES, ids=lambda p: f"{p.parent.name}/{p.stem}")
@pytest.mark.parametrize("isolated", [True, False], ids=["isolated", "shared-modules"])
async def test_recorded_case_replays_on_current_code(path: Path, isolated: bool) -> None:
    # Both sandboxes: tests run "isolated"; worker.py's default imports the workflow's modules once.
    await replayer(ComplaintCase, isolated=isolated).replay_workflow(load(path))


@pytest.mark.parametrize("path", NOTICE_HISTORIES, ids=lambda p: f"{p.parent.name}/{p.stem}")
async def test_recorded_reply_notice_replays_on_current_code(path: Path) -> None:
    history = WorkflowHistory.from_json("reply-notice", path.read_text())
    await replayer(CustomerReplyNotice).replay_workflow(history)


@pytest.mark.parametrize("path", [p for p in HISTORIES if p.parent.name != "v1"], ids=lambda p: p.stem)
def test_the_local_first_decision_is_the_first_thing_a_case_records(path: Path) -> None:
    # Asked later (after a local activity), a query or a workflow-task heartbeat can put the patch
    # marker in a later task than the code that asked, and a replay then takes the v1 path.
    events = load(path).events
    first_task_done = next(
        i for i, e in enumerate(events) if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    )
    # An update accepted in the same task (a command sent before the case opened) is recorded first.
    accepted = EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    first_command = next(e for e in events[first_task_done + 1 :] if e.event_type != accepted)
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
    result = await replayer(ComplaintCaseWithUnpatchedChange).replay_workflow(load(path), raise_on_replay_failure=False)
    assert result.replay_failure is not None
    assert "nondeterminism" in type(result.replay_failure).__name__.lower() or "Nondeterminism" in str(
        result.replay_failure
    )


def _with_phone(history_json: str, phone: str) -> str:
    """The same recorded history, its customer's number replaced (in the start event's input)."""
    import base64
    import json as jsonlib

    history = jsonlib.loads(history_json)
    start = history["events"][0]["workflowExecutionStartedEventAttributes"]
    payload = start["input"]["payloads"][0]
    case_input = jsonlib.loads(base64.b64decode(payload["data"]))
    case_input["intake"]["customer"]["phone"] = phone
    payload["data"] = base64.b64encode(jsonlib.dumps(case_input).encode()).decode()
    return jsonlib.dumps(history)


async def test_a_case_whose_number_newer_phone_metadata_rejects_still_replays() -> None:
    # A number valid when it was filed, that a later `phonenumbers` release no longer accepts (here
    # simulated with a number today's metadata rejects): what a workflow decodes from history is
    # recorded data, so the case still replays instead of wedging on a validation error.
    import phonenumbers

    rejected = "+447911123"
    assert not phonenumbers.is_valid_number(phonenumbers.parse(rejected))
    path = next(p for p in HISTORIES if p.parent.name == "v3" and "acknowledged_introduced_and_closed" in p.name)
    history = load(path, _with_phone(path.read_text(), rejected))
    await replayer(ComplaintCase).replay_workflow(history)
