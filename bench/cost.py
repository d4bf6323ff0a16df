"""Scenario `cost`: what a case costs on Temporal Cloud, from its real history, beside the baseline.

For the case closed within 3 days, the 8-week case with weekly updates and one escalation, and the
same with two escalations (the scripts of `bench.time_skipping`, run on the time-skipping test server
with the real worker), and for the same-shape baseline of each: billable actions by the rules of
Temporal Cloud's "Actions" page, history bytes, and dollars per 1,000 cases at the published list
prices for actions, active storage and retained storage.

Sources (read 2026-11-30; docs/performance.md "Cost per case" says which figure came from where):
- "Temporal Cloud Actions", https://docs.temporal.io/cloud/actions
- "Temporal Cloud pricing", https://docs.temporal.io/cloud/pricing
"""

from __future__ import annotations

import os
import re
from collections import Counter
from datetime import timedelta
from pathlib import Path
from unittest import mock

from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.api.history.v1 import History, HistoryEvent

from bench.infra import BenchError, baseline_worker_for, task_queue, vendor_env, vendor_peer
from bench.options import Options
from bench.report import ratio
from bench.shape import event_name, events_by_type, shape_of
from bench.time_skipping import baseline_case, pipeline_case_runs, test_server
from settings import REPO, PipelineSettings

# --- list prices ("Temporal Cloud pricing", Pay-As-You-Go) -----------------------------------------
# "Actions pricing starts at $50 per million Actions ($0.00005 per Action)": the Developer plan's
# price at every volume and the first 5M of the others (volume discounts below that are not assumed).
USD_PER_ACTION = 50 / 1_000_000
# "Storage ... Price per GBh (USD): Retained $0.00105, Active $0.042".
USD_PER_ACTIVE_GBH = 0.042
USD_PER_RETAINED_GBH = 0.00105
# The page does not say whether a GB is 10^9 or 2^30 bytes; 10^9 gives the (slightly) higher price.
BYTES_PER_GB = 1_000_000_000
CASES_PRICED = 1_000

# The targets for an 8-week case (KB as 1,024 bytes, the stricter reading).
TARGET_ACTIONS = 28
TARGET_HISTORY_BYTES = 32 * 1024

# The vendor peer's rates for the production-configuration run: far above what one case sends.
VENDOR_RATE = 1000.0

# The cases the targets are for (the other is the case closed within 3 days).
EIGHT_WEEKS = "eight_weeks"

# Retained storage lasts the namespace's retention: the compose file's default is the deployment's.
COMPOSE = REPO / "docker-compose.yml"
TEMPORAL_CHANGE_VERSION = "TemporalChangeVersion"

E = EventType


def namespace_retention(compose: Path = COMPOSE) -> timedelta:
    """`DEFAULT_NAMESPACE_RETENTION: ${TEMPORAL_RETENTION:-720h}` in docker-compose.yml."""
    found = re.search(r"DEFAULT_NAMESPACE_RETENTION:\s*\$\{TEMPORAL_RETENTION:-(\d+)h\}", compose.read_text())
    if not found:
        raise BenchError(f"no DEFAULT_NAMESPACE_RETENTION default in {compose}")
    return timedelta(hours=int(found.group(1)))


# --- billable actions ---------------------------------------------------------------------------


def billable_actions(events: list[HistoryEvent]) -> Counter[str]:
    """Billable actions in one run's history, by the Actions page's metric name.

    Each rule quotes "Temporal Cloud Actions" (docs.temporal.io/cloud/actions). The page warns that
    history event types "do not always map 1:1 to Action Types": this counts what a history shows.
    Not in a history, so not counted: queries ("An Action occurs for every Query", including the UI's
    call-stack view), activity heartbeats that reach the server, rejected updates ("this event is
    never written to history"), workflow-task heartbeats, and history export.
    """
    actions: Counter[str] = Counter()
    # "All Local Activities associated with one Workflow Task count as a single Action. Temporal
    # Cloud counts all RecordMarkers from each Workflow Task as one action, and not N actions."
    # So every marker counts (a patch marker too: the page exempts none), once per workflow task.
    marker_tasks: set[int] = set()
    for event in events:
        kind = event.event_type
        if kind == E.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            # "Workflow started: client start, Continue-As-New, Child Workflow start." (A run that
            # continued as new is billed here, on the new run, not on CONTINUED_AS_NEW.)
            actions["start_workflow"] += 1
        elif kind == E.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            # "An Action occurs for every Signal, whether sent from a Client or from a Workflow"; a
            # signal to another workflow is billed in the signalled history only.
            actions["signal_workflow"] += 1
        elif kind == E.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
            # "Occurs for every successful Update and every rejected Update."
            actions["accept_workflow_update"] += 1
        elif kind == E.EVENT_TYPE_TIMER_STARTED:
            # "Timer started. Includes implicit Timers ... when timeouts are set" (wait_condition with
            # a timeout); fired or cancelled, the start is what counts.
            actions["start_timer"] += 1
        elif kind == E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            # "Activity started or retried. Occurs each time a Workflow Activity is started or retried."
            actions["schedule_activity"] += 1
        elif kind == E.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            # Retries: "Total attempt count is recorded in ActivityTaskStartedEventAttributes.attempt
            # ... subtract 1, because the first attempt is not a retry."
            retries = event.activity_task_started_event_attributes.attempt - 1
            if retries > 0:
                actions["retry_activity"] += retries
        elif kind == E.EVENT_TYPE_MARKER_RECORDED:
            marker_tasks.add(event.marker_recorded_event_attributes.workflow_task_completed_event_id)
        elif kind == E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            # "Retry Local Activity: ... WorkflowTaskCompletedEventAttributes.metering_metadata.
            # nonfirst_local_activity_execution_attempts".
            retries = event.workflow_task_completed_event_attributes.metering_metadata.nonfirst_local_activity_execution_attempts
            if retries > 0:
                actions["retry_activity_local"] += retries
        elif kind == E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            # "Occurs for each invocation of UpsertSearchAttributes command. Multiple Search
            # Attributes updated in a single ... command count as one Action." "The
            # TemporalChangeVersion Search Attribute ... is also exempt": an upsert of it alone is free.
            fields = set(event.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields)
            if fields - {TEMPORAL_CHANGE_VERSION}:
                actions["upsert_workflow_search_attributes"] += 1
        elif kind == E.EVENT_TYPE_WORKFLOW_EXECUTION_OPTIONS_UPDATED:
            actions["update_workflow_options"] += 1
        elif kind == E.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
            # "Results in two Actions, one for durably storing the intent ... and one for the attempt."
            actions["start_child_workflow"] += 2
        elif kind == E.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            if event.workflow_task_failed_event_attributes.cause == (
                WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_RESET_WORKFLOW
            ):
                actions["reset_workflow"] += 1
        elif kind == E.EVENT_TYPE_NEXUS_OPERATION_SCHEDULED:
            actions["schedule_nexus_operation"] += 1
        elif kind == E.EVENT_TYPE_NEXUS_OPERATION_CANCEL_REQUESTED:
            actions["request_nexus_operation_cancellation"] += 1
        # Not billed: memo upserts (WORKFLOW_PROPERTIES_MODIFIED; the page lists no memo action),
        # workflow tasks, activity completions, timer fired/cancelled, the close, CONTINUED_AS_NEW
        # and SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED (billed elsewhere, see above).
    if marker_tasks:
        actions["record_activity_markers"] = len(marker_tasks)
    return actions


# --- history bytes and storage ------------------------------------------------------------------


def history_bytes(events: list[HistoryEvent]) -> int:
    """The history as Temporal stores and returns it: the serialized `History` message."""
    return History(events=events).ByteSize()


def _seconds(event: HistoryEvent) -> float:
    return event.event_time.seconds + event.event_time.nanos / 1e9


def active_gbh(events: list[HistoryEvent]) -> float:
    """GB-hours held while the run is open: each event from when it was written until the close.

    A case's history grows over its 8 weeks, so this is the area under its size curve, not the
    final size times the open time (that would overstate a case whose history grows late).
    """
    return sum(active_gbh_by_event_type(events).values())


def active_gbh_by_event_type(events: list[HistoryEvent]) -> dict[str, float]:
    """`active_gbh`, split by event type: which events the active-storage dollars are for."""
    found: Counter[str] = Counter()
    if not events:
        return {}
    closed = _seconds(events[-1])
    for event in events:
        held_h = (closed - _seconds(event)) / 3600
        found[event_name(event)] += History(events=[event]).ByteSize() * held_h / BYTES_PER_GB
    return dict(found.most_common())


def retained_gbh(events: list[HistoryEvent], retention: timedelta) -> float:
    """The closed history's whole size, kept for the namespace's retention."""
    return history_bytes(events) * retention.total_seconds() / 3600 / BYTES_PER_GB


def cost_of(runs: list[list[HistoryEvent]], retention: timedelta) -> dict[str, object]:
    """Actions, bytes and dollars of one case (every run of it, if it continued as new)."""
    actions: Counter[str] = Counter()
    for events in runs:
        actions.update(billable_actions(events))
    total = sum(actions.values())
    size = sum(history_bytes(events) for events in runs)
    active = sum(active_gbh(events) for events in runs)
    retained = sum(retained_gbh(events, retention) for events in runs)
    all_events = [e for events in runs for e in events]
    open_days = (_seconds(runs[-1][-1]) - _seconds(runs[0][0])) / 86400 if all_events else 0.0
    usd = {
        "actions": total * USD_PER_ACTION * CASES_PRICED,
        "active_storage": active * USD_PER_ACTIVE_GBH * CASES_PRICED,
        "retained_storage": retained * USD_PER_RETAINED_GBH * CASES_PRICED,
    }
    return {
        "runs": len(runs),
        "events": len(all_events),
        "open_days": round(open_days, 2),
        "actions": total,
        "actions_by_type": dict(actions.most_common()),
        "history_bytes": size,
        # Which events the bytes are in: what to shrink first.
        "bytes_by_event_type": _bytes_by_type(all_events),
        "active_gbh_by_event_type": _summed([active_gbh_by_event_type(events) for events in runs]),
        # What the billed upserts and activities were: the candidates for the proposals.
        "upserts_by_attributes": _upserts(all_events),
        "activities_by_type": dict(
            Counter(
                e.activity_task_scheduled_event_attributes.activity_type.name
                for e in all_events
                if e.event_type == E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
            ).most_common()
        ),
        "events_by_type": events_by_type(all_events),
        "active_gbh": active,
        "retained_gbh": retained,
        "usd_per_1000_cases": usd | {"total": sum(usd.values())},
    }


def _summed(parts: list[dict[str, float]]) -> dict[str, float]:
    total: Counter[str] = Counter()
    for part in parts:
        total.update(part)
    return dict(total.most_common())


def _upserts(events: list[HistoryEvent]) -> dict[str, int]:
    """Search-attribute upserts by the set of attributes each one wrote (TemporalChangeVersion apart)."""
    found: Counter[str] = Counter()
    for event in events:
        if event.event_type == E.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
            fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
            found[",".join(sorted(fields))] += 1
    return dict(found.most_common())


def _bytes_by_type(events: list[HistoryEvent]) -> dict[str, int]:
    sizes: Counter[str] = Counter()
    for event in events:
        sizes[event_name(event)] += History(events=[event]).ByteSize()
    return dict(sizes.most_common())


# --- the scenario -------------------------------------------------------------------------------


async def run(options: Options) -> dict[str, object]:
    from worker import build_worker

    retention = namespace_retention()
    found: dict[str, dict[str, object]] = {}
    async with test_server() as env:
        pq, bq = task_queue("cost-p"), task_queue("cost-b")
        settings = PipelineSettings(task_queue=pq, data_dir=options.workdir / "cost", graceful_shutdown_seconds=1)
        async with build_worker(env.client, settings, clock=env.get_current_time), baseline_worker_for(env.client, bq):
            for case in options.cost_cases:
                _, runs = await pipeline_case_runs(env, pq, case)
                # The baseline takes the shape of the run that closed (as the history scenario does).
                _, base_events = await baseline_case(env, bq, case, shape_of(runs[-1]))
                pipeline, baseline = cost_of(runs, retention), cost_of([base_events], retention)
                found[case] = {
                    "pipeline": pipeline,
                    "baseline": baseline,
                    "ratio_actions": ratio(pipeline["actions"], baseline["actions"]),
                    "ratio_bytes": ratio(pipeline["history_bytes"], baseline["history_bytes"]),
                }
        # What production runs: SendGrid and Twilio through their official clients (to the
        # rate-limited peer, unthrottled here), so each receipt carries the vendor's message id,
        # not the laptop outbox's file path (about 75 bytes longer, in each of 24 send markers).
        vq = task_queue("cost-v")
        folder = options.workdir / "cost-vendors"
        with (
            vendor_peer(folder, VENDOR_RATE, VENDOR_RATE) as url,
            mock.patch.dict(os.environ, vendor_env(url, VENDOR_RATE, VENDOR_RATE)),
        ):
            settings = PipelineSettings(task_queue=vq, data_dir=folder, graceful_shutdown_seconds=1)
            async with build_worker(env.client, settings, clock=env.get_current_time):
                for case in options.cost_cases:
                    _, runs = await pipeline_case_runs(env, vq, case)
                    found[case]["pipeline_vendors"] = cost_of(runs, retention)
    return {
        "cases": found,
        "retention_days": retention.total_seconds() / 86400,
        "prices": {
            "usd_per_action": USD_PER_ACTION,
            "usd_per_active_gbh": USD_PER_ACTIVE_GBH,
            "usd_per_retained_gbh": USD_PER_RETAINED_GBH,
            "bytes_per_gb": BYTES_PER_GB,
        },
        "targets": {"actions_at_most": TARGET_ACTIONS, "history_bytes_at_most": TARGET_HISTORY_BYTES},
    }
