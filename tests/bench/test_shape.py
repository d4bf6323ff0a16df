"""Where a case's own send moments come from in its history (bench.shape.steps)."""

from __future__ import annotations

import json

from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.common.v1 import ActivityType, Payload, Payloads
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import (
    ActivityTaskCompletedEventAttributes,
    ActivityTaskScheduledEventAttributes,
    HistoryEvent,
    MarkerRecordedEventAttributes,
)

from bench.shape import steps


def payloads(value: object) -> Payloads:
    return Payloads(payloads=[Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(value).encode())])


def first_attempt(at: float, result: object, complete_time: dict | None) -> HistoryEvent:
    data = {"seq": 1, "attempt": 1, "activity_id": "1", "activity_type": "send_message"}
    if complete_time is not None:
        data["complete_time"] = complete_time
    return HistoryEvent(
        event_id=5,
        event_type=EventType.EVENT_TYPE_MARKER_RECORDED,
        event_time=Timestamp(seconds=int(at), nanos=int(at % 1 * 1e9)),
        marker_recorded_event_attributes=MarkerRecordedEventAttributes(
            marker_name="core_local_activity", details={"data": payloads(data), "result": payloads(result)}
        ),
    )


def test_a_v6_send_is_timed_by_its_first_attempts_completion_not_by_its_tasks() -> None:
    # The marker's event time is the whole workflow task's completion, with the other sends in it.
    [send] = steps([first_attempt(1000.060, {"provider_id": "SG1"}, {"seconds": 1000, "nanos": 2_000_000})])
    assert send.sent_at == 1000.002 and round(send.completed_at, 3) == 1000.06


def test_a_send_before_v6_is_timed_by_its_receipt() -> None:
    receipt = {"key": "k", "channel": "email", "provider_id": "SG1", "sent_at": "1970-01-01T00:16:40.001000Z"}
    [send] = steps([first_attempt(1000.060, receipt, {"seconds": 1000, "nanos": 2_000_000})])
    assert send.sent_at == 1000.001


def test_a_retried_send_is_timed_by_its_completion_event() -> None:
    scheduled = HistoryEvent(
        event_id=7,
        event_type=EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
        activity_task_scheduled_event_attributes=ActivityTaskScheduledEventAttributes(
            activity_type=ActivityType(name="send_message")
        ),
    )
    completed = HistoryEvent(
        event_id=9,
        event_type=EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
        event_time=Timestamp(seconds=2000),
        activity_task_completed_event_attributes=ActivityTaskCompletedEventAttributes(
            scheduled_event_id=7, result=payloads({"provider_id": "SG2"})
        ),
    )
    [send] = steps([scheduled, completed])
    assert send.sent_at == send.completed_at == 2000


def test_an_alert_has_no_send_moment() -> None:
    alert = first_attempt(1000.060, "CC-2026-ABCDEFGH_alert-001.json", {"seconds": 1000, "nanos": 0})
    alert.marker_recorded_event_attributes.details["data"].CopyFrom(
        payloads({"seq": 2, "activity_type": "raise_internal_alert", "complete_time": {"seconds": 1000}})
    )
    [step] = steps([alert])
    assert step.activity_type == "raise_internal_alert" and step.sent_at is None
