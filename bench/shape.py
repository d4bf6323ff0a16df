"""What a case's history looks like, as counts: the baseline workflow replays the same shape with no work.

A shape is read from a real ComplaintCase history, so the baseline follows the workflow as it
changes: same local activities, activities, timers (fired or cancelled) and signals, in the same
phases. Search-attribute and memo upserts are not copied: they are part of the pipeline's own cost.
"""

from __future__ import annotations

from collections import Counter

from pydantic import BaseModel, Field
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent

LOCAL_ACTIVITY_MARKER = "core_local_activity"


class Phase(BaseModel):
    """The work between two customer signals (or before the first / after the last)."""

    activities: int = 0
    # Timers the case started and then cancelled: an activity or a signal woke it first.
    raced_timers: int = 0
    fired_timers: int = 0
    # Visibility writes: search-attribute and memo upserts (copied only when Shape.with_visibility).
    search_attribute_upserts: int = 0
    memo_upserts: int = 0


class Shape(BaseModel):
    local_activities: int = 0
    # The baseline waits for one signal between consecutive phases.
    phases: list[Phase] = Field(default_factory=lambda: [Phase()])
    signal_timeout_days: float = 365.0
    fired_timer_seconds: float = 3600.0
    # Also make the case's search-attribute and memo upserts (the "baseline with visibility").
    with_visibility: bool = False


def event_name(event: HistoryEvent) -> str:
    return EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")


def events_by_type(events: list[HistoryEvent]) -> dict[str, int]:
    return dict(Counter(event_name(e) for e in events).most_common())


def shape_of(events: list[HistoryEvent]) -> Shape:
    """The shape of a history; a timer still pending at the end counts as raced (a signal wakes it)."""
    phases = [Phase()]
    local_activities = 0
    timer_phase: dict[str, int] = {}
    for event in events:
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            phases.append(Phase())
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            phases[-1].activities += 1
        elif kind == EventType.EVENT_TYPE_MARKER_RECORDED:
            if event.marker_recorded_event_attributes.marker_name == LOCAL_ACTIVITY_MARKER:
                local_activities += 1
        elif kind == EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            phases[-1].search_attribute_upserts += 1
        elif kind == EventType.EVENT_TYPE_WORKFLOW_PROPERTIES_MODIFIED:
            phases[-1].memo_upserts += 1
        elif kind == EventType.EVENT_TYPE_TIMER_STARTED:
            timer_phase[event.timer_started_event_attributes.timer_id] = len(phases) - 1
        elif kind == EventType.EVENT_TYPE_TIMER_FIRED:
            phases[timer_phase.pop(event.timer_fired_event_attributes.timer_id)].fired_timers += 1
        elif kind == EventType.EVENT_TYPE_TIMER_CANCELED:
            phases[timer_phase.pop(event.timer_canceled_event_attributes.timer_id)].raced_timers += 1
    for index in timer_phase.values():
        phases[index].raced_timers += 1
    return Shape(local_activities=local_activities, phases=phases)


def describe(shape: Shape) -> str:
    parts = [f"{shape.local_activities} local activity(ies)"]
    for number, phase in enumerate(shape.phases):
        if number:
            parts.append("signal")
        parts.append(
            f"[{phase.activities} activities, {phase.raced_timers} cancelled + {phase.fired_timers} fired timers]"
        )
    return " -> ".join(parts)


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
    total = _seconds(events[-1]) - _seconds(events[0]) if events else 0.0
    return {
        "span_s": total,
        "workflow_tasks": wft_count,
        "workflow_task_s": wft_s,
        "workflow_task_ms_mean": 1000 * wft_s / wft_count if wft_count else None,
        "activities": dict(by_activity.most_common()),
        "activity_s": {k: round(v, 4) for k, v in sorted(activity_s.items(), key=lambda kv: -kv[1])},
    }
