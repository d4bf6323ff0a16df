"""What a case's history looks like, as counts: the baseline workflow replays the same shape with no work.

A shape is read from a real ComplaintCase history, so the baseline follows the workflow as it
changes: same local activities, activities, timers (fired or cancelled) and signals, in the same
phases. Search-attribute and memo upserts are not copied: they are part of the pipeline's own cost.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime

from pydantic import BaseModel, Field
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent

from workflows.case_constants import SEND_MESSAGE

LOCAL_ACTIVITY_MARKER = "core_local_activity"


class Phase(BaseModel):
    """The work between two customer signals (or before the first / after the last)."""

    # Local activities run inside the workflow task that wakes the case: the first count is the
    # phase's start (the case opening, or the signal), each later one follows a timer that fired.
    local_by_wake: list[int] = Field(default_factory=lambda: [0])
    activities: int = 0
    # Timers the case started and then cancelled: an activity or a signal woke it first.
    raced_timers: int = 0
    fired_timers: int = 0
    # Visibility writes: search-attribute and memo upserts (copied only when Shape.with_visibility).
    search_attribute_upserts: int = 0
    memo_upserts: int = 0


class PayloadSizes(BaseModel):
    """Mean payload bytes of a case, by where history keeps them (read by `payload_sizes`)."""

    start_input: int = 0
    local_result: int = 0
    activity_input: int = 0
    activity_result: int = 0
    workflow_result: int = 0


class Shape(BaseModel):
    # The baseline waits for one signal between consecutive phases.
    phases: list[Phase] = Field(default_factory=lambda: [Phase()])
    # Set for the "baseline with the case's payloads": its start input, activities and result carry
    # filler of these sizes, so pipeline / baseline splits into bytes and work.
    carry: PayloadSizes | None = None
    ballast: str = ""  # the start input's filler (this model is the baseline's input)
    signal_timeout_days: float = 365.0
    fired_timer_seconds: float = 3600.0
    # Also make the case's search-attribute and memo upserts (the "baseline with visibility").
    with_visibility: bool = False

    @property
    def local_activities(self) -> int:
        return sum(sum(phase.local_by_wake) for phase in self.phases)


def payload_sizes(events: list[HistoryEvent]) -> PayloadSizes:
    """Mean payload bytes per start, local-activity result, activity input and result, and
    workflow result, from a real case's history."""
    found: dict[str, list[int]] = {field: [] for field in PayloadSizes.model_fields}
    for event in events:
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            found["start_input"].append(event.workflow_execution_started_event_attributes.input.ByteSize())
        elif is_local_activity(event):
            details = event.marker_recorded_event_attributes.details
            found["local_result"].append(details["result"].ByteSize() if "result" in details else 0)
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            found["activity_input"].append(event.activity_task_scheduled_event_attributes.input.ByteSize())
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            found["activity_result"].append(event.activity_task_completed_event_attributes.result.ByteSize())
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
            found["workflow_result"].append(event.workflow_execution_completed_event_attributes.result.ByteSize())
    return PayloadSizes(**{k: (sum(v) // len(v) if v else 0) for k, v in found.items()})


def carrying(shape: Shape, sizes: PayloadSizes) -> Shape:
    """The shape as the baseline that carries the case's payload sizes."""
    return shape.model_copy(update={"carry": sizes, "ballast": "x" * sizes.start_input})


def event_name(event: HistoryEvent) -> str:
    return EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")


def events_by_type(events: list[HistoryEvent]) -> dict[str, int]:
    return dict(Counter(event_name(e) for e in events).most_common())


def shape_of(events: list[HistoryEvent]) -> Shape:
    """The shape of a history; a timer still pending at the end counts as raced (a signal wakes it)."""
    phases = [Phase()]
    timer_phase: dict[str, int] = {}
    for event in events:
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            phases.append(Phase())
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            phases[-1].activities += 1
        elif kind == EventType.EVENT_TYPE_MARKER_RECORDED:
            if event.marker_recorded_event_attributes.marker_name == LOCAL_ACTIVITY_MARKER:
                phases[-1].local_by_wake[-1] += 1
        elif kind == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            phases[-1].search_attribute_upserts += 1
        elif kind == EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED:
            phases[-1].memo_upserts += 1
        elif kind == EventType.EVENT_TYPE_TIMER_STARTED:
            timer_phase[event.timer_started_event_attributes.timer_id] = len(phases) - 1
        elif kind == EventType.EVENT_TYPE_TIMER_FIRED:
            # Counted where it wakes the case: a timer can outlive the signal that began a phase.
            timer_phase.pop(event.timer_fired_event_attributes.timer_id, None)
            phases[-1].fired_timers += 1
            phases[-1].local_by_wake.append(0)
        elif kind == EventType.EVENT_TYPE_TIMER_CANCELED:
            phases[timer_phase.pop(event.timer_canceled_event_attributes.timer_id)].raced_timers += 1
    for index in timer_phase.values():
        phases[index].raced_timers += 1
    return Shape(phases=phases)


def describe(shape: Shape) -> str:
    parts = []
    for number, phase in enumerate(shape.phases):
        if number:
            parts.append("signal")
        wakes = "+".join(str(n) for n in phase.local_by_wake)
        parts.append(
            f"[local activities {wakes}, {phase.activities} activities, "
            f"{phase.raced_timers} cancelled + {phase.fired_timers} fired timers]"
        )
    return " -> ".join(parts)


class Step(BaseModel):
    """One activity or local activity of a case, in the order the case ran them."""

    activity_type: str
    local: bool
    completed_at: float | None  # epoch seconds: the completion (local: when it was recorded)
    # A send's own moment, when its history is readable (not encrypted by the codec): epoch seconds.
    # Cases begun before v6: the DeliveryReceipt's `sent_at` (the worker's clock as the channel
    # returned). Since v6 the receipt is the vendor's id alone: a first attempt's own completion,
    # `complete_time` in its marker (within 2 ms of the ledger's `sent_at` on one host, where the
    # marker's event time is the whole task's completion, 40-60 ms later); a retried send's
    # completion event.
    sent_at: float | None = None


def is_local_activity(event: HistoryEvent) -> bool:
    return (
        event.event_type == EventType.EVENT_TYPE_MARKER_RECORDED
        and event.marker_recorded_event_attributes.marker_name == LOCAL_ACTIVITY_MARKER
    )


def _sent_at(payloads) -> float | None:  # noqa: ANN001 - a repeated Payload field
    """`sent_at` of a DeliveryReceipt result, or None (another result, or encrypted)."""
    try:
        result = json.loads(payloads[0].data) if payloads else None
    except ValueError:
        return None
    if not isinstance(result, dict) or "sent_at" not in result:
        return None
    return datetime.fromisoformat(result["sent_at"]).timestamp()


def _marker_data(event: HistoryEvent) -> dict:
    payloads = event.marker_recorded_event_attributes.details["data"].payloads
    try:
        return json.loads(payloads[0].data) if payloads else {}
    except ValueError:  # encrypted by the codec: the type is unknown, the time is the record's
        return {}


def steps(events: list[HistoryEvent]) -> list[Step]:
    found: list[Step] = []
    scheduled: dict[int, int] = {}  # scheduled event id -> index in found
    for event in events:
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            scheduled[event.event_id] = len(found)
            name = event.activity_task_scheduled_event_attributes.activity_type.name
            found.append(Step(activity_type=name, local=False, completed_at=None))
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            index = scheduled.get(event.activity_task_completed_event_attributes.scheduled_event_id)
            if index is not None:
                step = found[index]
                step.completed_at = _seconds(event)
                step.sent_at = _sent_at(event.activity_task_completed_event_attributes.result.payloads)
                if step.sent_at is None and step.activity_type == SEND_MESSAGE:
                    step.sent_at = step.completed_at
        elif is_local_activity(event):
            data = _marker_data(event)
            failed = event.marker_recorded_event_attributes.HasField("failure")
            step = Step(activity_type=str(data.get("activity_type", "?")), local=True, completed_at=None)
            if not failed:
                step.completed_at = _seconds(event)
                step.sent_at = _sent_at(event.marker_recorded_event_attributes.details["result"].payloads)
                if step.sent_at is None and step.activity_type == SEND_MESSAGE:
                    step.sent_at = _completed_locally(data)
            found.append(step)
    return found


def _completed_locally(data: dict) -> float | None:
    """When a local activity completed, from its marker's own data (`complete_time`)."""
    done = data.get("complete_time")
    if not isinstance(done, dict) or "seconds" not in done:
        return None
    return int(done["seconds"]) + int(done.get("nanos", 0)) / 1e9


def _seconds(event: HistoryEvent) -> float:
    return event.event_time.seconds + event.event_time.nanos / 1e9


def time_spent(events: list[HistoryEvent]) -> dict[str, object]:
    """Where a case's wall time went, from its own event times.

    Workflow tasks: started -> completed (the worker running case code, replaying nothing: a cached
    case). Activities: started -> completed, by activity type. The rest is queueing and the server.
    """
    started: dict[int, float] = {}
    activity_type: dict[int, str] = {}
    wft_s, wft_count = 0.0, 0
    by_activity: Counter[str] = Counter()
    activity_s: dict[str, float] = {}
    for event in events:
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
            started[event.event_id] = _seconds(event)
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            began = started.pop(event.workflow_task_completed_event_attributes.started_event_id, None)
            if began is not None:
                wft_s += _seconds(event) - began
                wft_count += 1
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            activity_type[event.event_id] = event.activity_task_scheduled_event_attributes.activity_type.name
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started[event.event_id] = _seconds(event)
        elif kind in (EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED, EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED):
            attrs = (
                event.activity_task_completed_event_attributes
                if kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
                else event.activity_task_failed_event_attributes
            )
            name = activity_type.get(attrs.scheduled_event_id, "?")
            began = started.pop(attrs.started_event_id, None)
            by_activity[name] += 1
            if began is not None:
                activity_s[name] = activity_s.get(name, 0.0) + _seconds(event) - began
    local: Counter[str] = Counter()
    local_s: dict[str, float] = {}
    for event in events:
        if is_local_activity(event):
            data = _marker_data(event)
            name = str(data.get("activity_type", "?"))
            local[name] += 1
            try:
                done, began = data["complete_time"], data["original_schedule_time"]
                took = done["seconds"] + done["nanos"] / 1e9 - began["seconds"] - began["nanos"] / 1e9
                local_s[name] = local_s.get(name, 0.0) + took
            except (KeyError, TypeError):
                pass
    total = _seconds(events[-1]) - _seconds(events[0]) if events else 0.0
    return {
        "span_s": total,
        "workflow_tasks": wft_count,
        "workflow_task_s": wft_s,
        "workflow_task_ms_mean": 1000 * wft_s / wft_count if wft_count else None,
        "activities": dict(by_activity.most_common()),
        "activity_s": {k: round(v, 4) for k, v in sorted(activity_s.items(), key=lambda kv: -kv[1])},
        # Local activities run inside workflow tasks: their time is part of workflow_task_s.
        "local_activities": dict(local.most_common()),
        "local_activity_s": {k: round(v, 4) for k, v in sorted(local_s.items(), key=lambda kv: -kv[1])},
    }
