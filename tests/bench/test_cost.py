"""bench.cost counts billable actions by the rules of Temporal Cloud's "Actions" page, one test per rule.

Each history is built by hand from temporalio.api.history.v1 events, so a test says exactly which
events are in it; the rules and their quotes are next to `bench.cost.billable_actions`.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.common.v1 import ActivityType, Payload, SearchAttributes
from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.api.history.v1 import (
    ActivityTaskScheduledEventAttributes,
    ActivityTaskStartedEventAttributes,
    History,
    HistoryEvent,
    MarkerRecordedEventAttributes,
    UpsertWorkflowSearchAttributesEventAttributes,
    WorkflowTaskCompletedEventAttributes,
    WorkflowTaskFailedEventAttributes,
)
from temporalio.client import WorkflowHistory

from bench import cost
from bench.__main__ import rows_and_targets
from bench.infra import BenchError

E = EventType
HOUR = 3600


class Builder:
    """A history, event ids in order; `at` is seconds since the case opened."""

    def __init__(self) -> None:
        self.events: list[HistoryEvent] = []

    def add(self, kind: EventType.ValueType, at: float = 0, **attributes: Any) -> int:
        event_id = len(self.events) + 1
        self.events.append(
            HistoryEvent(event_id=event_id, event_type=kind, event_time=Timestamp(seconds=int(at)), **attributes)
        )
        return event_id

    def workflow_task(self, at: float = 0, local_retries: int = 0) -> int:
        """Scheduled, started, completed: the id of the completion (what markers point at)."""
        self.add(E.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED, at)
        self.add(E.EVENT_TYPE_WORKFLOW_TASK_STARTED, at)
        completed = WorkflowTaskCompletedEventAttributes()
        completed.metering_metadata.nonfirst_local_activity_execution_attempts = local_retries
        return self.add(E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED, at, workflow_task_completed_event_attributes=completed)

    def marker(self, task: int, name: str = "core_local_activity", at: float = 0) -> int:
        return self.add(
            E.EVENT_TYPE_MARKER_RECORDED,
            at,
            marker_recorded_event_attributes=MarkerRecordedEventAttributes(
                marker_name=name, workflow_task_completed_event_id=task
            ),
        )

    def upsert(self, *names: str) -> int:
        fields = {name: Payload(data=b'"x"') for name in names}
        return self.add(
            E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
            upsert_workflow_search_attributes_event_attributes=UpsertWorkflowSearchAttributesEventAttributes(
                search_attributes=SearchAttributes(indexed_fields=fields)
            ),
        )


def actions(builder: Builder) -> dict[str, int]:
    return dict(cost.billable_actions(builder.events))


def test_three_local_activities_in_one_workflow_task_count_as_one_action() -> None:
    history = Builder()
    task = history.workflow_task()
    for _ in range(3):
        history.marker(task)
    assert actions(history) == {"record_activity_markers": 1}


def test_local_activities_in_two_workflow_tasks_count_as_two_actions() -> None:
    history = Builder()
    first = history.workflow_task()
    history.marker(first)
    history.marker(first)
    second = history.workflow_task(at=HOUR)
    history.marker(second)
    assert actions(history) == {"record_activity_markers": 2}


def test_a_patch_marker_shares_its_workflow_task_action_with_the_local_activities() -> None:
    # "Temporal Cloud counts all RecordMarkers from each Workflow Task as one action."
    history = Builder()
    task = history.workflow_task()
    history.marker(task, name="core_patch")
    history.marker(task)
    assert actions(history) == {"record_activity_markers": 1}


def test_local_activity_retries_count_from_the_workflow_task_metering_metadata() -> None:
    history = Builder()
    task = history.workflow_task(local_retries=2)
    history.marker(task)
    assert actions(history) == {"record_activity_markers": 1, "retry_activity_local": 2}


def test_a_workflow_task_without_markers_costs_nothing() -> None:
    history = Builder()
    history.workflow_task()
    history.workflow_task(at=HOUR)
    assert actions(history) == {}


def test_the_start_counts_one_and_continue_as_new_is_billed_on_the_new_run() -> None:
    history = Builder()
    history.add(E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED)
    history.add(E.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW)
    assert actions(history) == {"start_workflow": 1}


def test_each_signal_received_counts_and_a_signal_sent_to_another_workflow_does_not() -> None:
    history = Builder()
    history.add(E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED)
    history.add(E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED)
    history.add(E.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED)
    assert actions(history) == {"signal_workflow": 2}


def test_an_accepted_update_counts_once_not_again_when_it_completes() -> None:
    history = Builder()
    history.add(E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED)
    history.add(E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED)
    assert actions(history) == {"accept_workflow_update": 1}


def test_a_timer_counts_when_started_whether_it_fires_or_is_cancelled() -> None:
    history = Builder()
    history.add(E.EVENT_TYPE_TIMER_STARTED)
    history.add(E.EVENT_TYPE_TIMER_FIRED)
    history.add(E.EVENT_TYPE_TIMER_STARTED)
    history.add(E.EVENT_TYPE_TIMER_CANCELED)
    assert actions(history) == {"start_timer": 2}


def test_an_activity_counts_once_plus_one_per_retry_from_its_started_attempt() -> None:
    history = Builder()
    scheduled = history.add(
        E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
        activity_task_scheduled_event_attributes=ActivityTaskScheduledEventAttributes(
            activity_type=ActivityType(name="send_email")
        ),
    )
    history.add(
        E.EVENT_TYPE_ACTIVITY_TASK_STARTED,
        activity_task_started_event_attributes=ActivityTaskStartedEventAttributes(
            scheduled_event_id=scheduled, attempt=3
        ),
    )
    history.add(E.EVENT_TYPE_ACTIVITY_TASK_COMPLETED)
    assert actions(history) == {"schedule_activity": 1, "retry_activity": 2}


def test_a_first_attempt_activity_is_not_a_retry() -> None:
    history = Builder()
    history.add(E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
    history.add(
        E.EVENT_TYPE_ACTIVITY_TASK_STARTED,
        activity_task_started_event_attributes=ActivityTaskStartedEventAttributes(attempt=1),
    )
    assert actions(history) == {"schedule_activity": 1}


def test_each_search_attribute_upsert_counts_once_however_many_attributes_it_sets() -> None:
    history = Builder()
    history.upsert("CaseStage", "NextDeadline", "CaseOwner")
    history.upsert("NextDeadline")
    assert actions(history) == {"upsert_workflow_search_attributes": 2}


def test_an_upsert_of_temporal_change_version_alone_is_exempt() -> None:
    history = Builder()
    history.upsert(cost.TEMPORAL_CHANGE_VERSION)
    history.upsert(cost.TEMPORAL_CHANGE_VERSION, "CaseStage")
    assert actions(history) == {"upsert_workflow_search_attributes": 1}


def test_a_memo_upsert_is_not_an_action() -> None:
    history = Builder()
    history.add(E.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED)
    assert actions(history) == {}


def test_a_child_workflow_start_counts_two_actions() -> None:
    history = Builder()
    history.add(E.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED)
    assert actions(history) == {"start_child_workflow": 2}


def test_a_reset_counts_and_another_failed_workflow_task_does_not() -> None:
    history = Builder()
    for cause in (
        WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW,
        WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR,
    ):
        history.add(
            E.EVENT_TYPE_WORKFLOW_TASK_FAILED,
            workflow_task_failed_event_attributes=WorkflowTaskFailedEventAttributes(cause=cause),
        )
    assert actions(history) == {"reset_workflow": 1}


def test_options_updates_and_nexus_operations_count_once_each() -> None:
    history = Builder()
    history.add(E.EVENT_TYPE_WORKFLOW_EXECUTION_OPTIONS_UPDATED)
    history.add(E.EVENT_TYPE_NEXUS_OPERATION_SCHEDULED)
    history.add(E.EVENT_TYPE_NEXUS_OPERATION_CANCEL_REQUESTED)
    history.add(E.EVENT_TYPE_NEXUS_OPERATION_COMPLETED)
    assert actions(history) == {
        "update_workflow_options": 1,
        "schedule_nexus_operation": 1,
        "request_nexus_operation_cancellation": 1,
    }


# --- storage and dollars -------------------------------------------------------------------------


def _opened_then_closed_after(hours: float) -> Builder:
    history = Builder()
    history.add(E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED, at=0)
    history.add(E.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED, at=hours * HOUR)
    return history


def test_active_storage_holds_each_event_from_when_it_was_written_until_the_close() -> None:
    history = _opened_then_closed_after(10)
    started = History(events=history.events[:1]).ByteSize()
    # The start is held 10 hours; the close event is written at the close, so it is held for none.
    assert cost.active_gbh(history.events) == pytest.approx(started * 10 / cost.BYTES_PER_GB)


def test_retained_storage_is_the_whole_history_for_the_retention() -> None:
    history = _opened_then_closed_after(10)
    size = cost.history_bytes(history.events)
    assert size == History(events=history.events).ByteSize() > 0
    assert cost.retained_gbh(history.events, timedelta(days=30)) == pytest.approx(size * 720 / cost.BYTES_PER_GB)


def test_dollars_per_thousand_cases_are_the_list_prices_times_actions_and_gb_hours() -> None:
    history = _opened_then_closed_after(24)
    history.add(E.EVENT_TYPE_TIMER_STARTED, at=24 * HOUR)
    # A JSON-shaped table: its values are numbers and a nested table of them.
    found: dict[str, Any] = cost.cost_of([history.events], timedelta(days=30))
    usd = found["usd_per_1000_cases"]
    assert found["actions"] == 2  # the start and the timer
    assert usd["actions"] == pytest.approx(2 * 50 / 1_000_000 * 1000)
    assert usd["active_storage"] == pytest.approx(found["active_gbh"] * 0.042 * 1000)
    assert usd["retained_storage"] == pytest.approx(found["retained_gbh"] * 0.00105 * 1000)
    assert usd["total"] == pytest.approx(usd["actions"] + usd["active_storage"] + usd["retained_storage"])
    assert found["open_days"] == 1.0


def test_a_case_that_continued_as_new_costs_the_sum_of_its_runs() -> None:
    first, second = _opened_then_closed_after(5), _opened_then_closed_after(7)
    retention = timedelta(days=30)
    both = cost.cost_of([first.events, second.events], retention)
    assert both["actions"] == 2 and both["runs"] == 2
    assert both["history_bytes"] == cost.history_bytes(first.events) + cost.history_bytes(second.events)


def test_the_retention_is_the_compose_files_default(tmp_path: Path) -> None:
    compose = tmp_path / "docker-compose.yml"
    compose.write_text("    environment:\n      DEFAULT_NAMESPACE_RETENTION: ${TEMPORAL_RETENTION:-48h}\n")
    assert cost.namespace_retention(compose) == timedelta(hours=48)
    compose.write_text("services: {}\n")
    with pytest.raises(BenchError):
        cost.namespace_retention(compose)
    assert cost.namespace_retention() > timedelta(0)  # the repo's own compose file still says it


# --- the table ------------------------------------------------------------------------------------


def _priced(actions: int, size: int) -> dict[str, object]:
    return {"actions": actions, "history_bytes": size, "usd_per_1000_cases": {"total": 1.0}}


def test_the_eight_week_targets_are_at_most_28_actions_and_32_kb() -> None:
    scenarios = {
        "cost": {
            "cases": {
                "eight_weeks_one_escalation": {"pipeline": _priced(28, 32 * 1024), "baseline": _priced(20, 9000)},
                "eight_weeks_two_escalations": {"pipeline": _priced(29, 32 * 1024 + 1), "baseline": _priced(20, 9000)},
                "closed_within_3_days": {"pipeline": _priced(99, 99_999), "baseline": _priced(6, 4000)},
            }
        }
    }
    _, targets = rows_and_targets(scenarios)
    met = {t["name"]: t["met"] for t in targets}
    assert met == {
        "cost_actions_eight_weeks_one_escalation": True,
        "cost_history_kb_eight_weeks_one_escalation": True,
        "cost_actions_eight_weeks_two_escalations": False,
        "cost_history_kb_eight_weeks_two_escalations": False,
    }


# --- recorded cases ------------------------------------------------------------------------------

RECORDED = sorted((Path(__file__).resolve().parents[1] / "histories" / "v1").glob("*.json"))


@pytest.mark.parametrize("recorded", RECORDED, ids=lambda p: p.stem)
def test_a_recorded_case_pays_one_marker_action_per_workflow_task_that_recorded_markers(recorded: Path) -> None:
    events = list(WorkflowHistory.from_json("case", json.loads(recorded.read_text())).events)
    found = cost.billable_actions(events)
    markers = [e for e in events if e.event_type == E.EVENT_TYPE_MARKER_RECORDED]
    tasks = {e.marker_recorded_event_attributes.workflow_task_completed_event_id for e in markers}
    assert found["start_workflow"] == 1
    assert found["record_activity_markers"] == len(tasks) <= len(markers)
    assert found["signal_workflow"] == sum(e.event_type == E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED for e in events)


def test_active_storage_by_event_type_adds_up_to_the_whole() -> None:
    history = _opened_then_closed_after(10)
    timer = HistoryEvent(event_type=E.EVENT_TYPE_TIMER_STARTED, event_time=Timestamp(seconds=5 * HOUR))
    history.events.insert(1, timer)  # written half-way: held for 5 of the 10 hours
    split = cost.active_gbh_by_event_type(history.events)
    assert set(split) == {"WORKFLOW_EXECUTION_STARTED", "TIMER_STARTED", "WORKFLOW_EXECUTION_COMPLETED"}
    assert split["WORKFLOW_EXECUTION_COMPLETED"] == 0
    assert split["TIMER_STARTED"] == pytest.approx(History(events=[timer]).ByteSize() * 5 / cost.BYTES_PER_GB)
    assert sum(split.values()) == pytest.approx(cost.active_gbh(history.events))
