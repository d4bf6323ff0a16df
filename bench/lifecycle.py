"""Scenario 2, lifecycle: cases per second from intake through acknowledgement, introduction and closure.

Each case is filed through the real intake path, its history is followed as it grows (one long poll,
no queries), and `customer_satisfied` is sent as soon as the introduction's sends have completed.
The baseline gets the same treatment with the shape read from a real case (bench.shape).

Latencies come from the server's own event times (same host clock as the driver):
- intake -> acknowledgement sent: driver clock before `parse_intake` to the acknowledgement's own
  send time, read from history: its receipt's `sent_at` (the worker's clock as the channel
  returned, same host) for a case begun before v6, its first attempt's own completion
  (`complete_time` in the marker) since (`bench.shape.Step`). The marker's event time, reported beside it as
  "recorded", is later: the server stamps it when the whole first workflow task completes, with
  both introduction sends in it;
- customer_satisfied -> closure confirmation: driver clock before the signal RPC to the closure
  message's completion in history (the moment the case records it sent).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from pydantic import BaseModel
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHandle

from bench.infra import BenchError, IntakeTexts, cpu_seconds, is_asleep, round_the_clock_policy
from bench.report import median, percentile, ratio
from bench.shape import (
    Phase,
    Shape,
    carrying,
    events_by_type,
    is_local_activity,
    payload_sizes,
    shape_of,
    steps,
    time_spent,
)
from domain.models import ComplaintPolicy
from starter import case_start_details, file_complaint, parse_intake
from workflows.case_constants import SEND_MESSAGE

SATISFIED = "customer_satisfied"
CLOSE_EVENTS = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
}


@dataclass
class Plan:
    """What a lifecycle case looks like, read from one real case."""

    shape: Shape
    ack_index: int  # position of the acknowledgement send among the case's steps (bench.shape.steps)
    probe_events: list[HistoryEvent]

    @property
    def before_signal(self) -> int:
        """Steps (activities and local activities) the case completes before the customer answers."""
        first = self.shape.phases[0]
        return first.activities + sum(first.local_by_wake)

    @property
    def closure_index(self) -> int:
        return self.before_signal


@dataclass
class CaseRun:
    intake_at: float
    signalled_at: float | None = None
    done_at: float | None = None
    events: list[HistoryEvent] = field(default_factory=list)

    def completion_times(self, *step_indexes: int) -> list[float | None]:
        done = steps(self.events)  # parses every marker: once per case, not once per index
        return [done[i].completed_at if i < len(done) else None for i in step_indexes]

    def acknowledgement(self) -> tuple[float | None, float | None]:
        """(sent_at, recorded) of the case's first message, found by type: a regular activity
        scheduled in the same task can come before its marker in history, so a position read
        from the probe may name another step."""
        first = next((s for s in steps(self.events) if s.activity_type == SEND_MESSAGE), None)
        return (first.sent_at, first.completed_at) if first else (None, None)


Starter = Callable[[], Awaitable[WorkflowHandle]]


def pipeline_starter(client: Client, queue: str, policy: ComplaintPolicy, texts: IntakeTexts) -> Starter:
    async def start() -> WorkflowHandle:
        intake = parse_intake(texts.next(with_intake_id=True))
        filed = await file_complaint(client, intake, policy=policy, task_queue=queue)
        return client.get_workflow_handle(filed.reference)

    return start


def baseline_starter(client: Client, queue: str, shape: BaseModel, *, like_the_intake: bool = False) -> Starter:
    """Bare starts; `like_the_intake` adds what file_complaint sends besides the input (summary,
    details, search attributes), from the same `case_start_details`.

    `shape` is the baseline's input: a Shape, or (intake's attribution, never run) a real case input.
    """

    intake = parse_intake(IntakeTexts().next(with_intake_id=True)) if like_the_intake else None

    async def start() -> WorkflowHandle:
        workflow_id = f"baseline-{uuid.uuid4().hex}"
        details = case_start_details(workflow_id, intake) if intake else {}
        return await client.start_workflow("BaselineCase", shape, id=workflow_id, task_queue=queue, **details)

    return start


async def drive_case(start: Starter, signal_after_activities: int, limit_s: float) -> CaseRun:
    run = CaseRun(intake_at=time.time())
    handle = await start()
    completed = 0

    async def follow() -> None:
        nonlocal completed
        async for event in handle.fetch_history_events(wait_new_event=True):
            run.events.append(event)
            if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                completed += 1
            local = is_local_activity(event)
            completed += local
            # The customer answers once the case has recorded the introduction (the workflow task
            # after the last send completed, or the one its local activities ran in), not in a race
            # with that task.
            if (
                run.signalled_at is None
                and completed >= signal_after_activities
                and (local or event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
            ):
                run.signalled_at = time.time()
                await handle.signal(SATISFIED)
            if event.event_type in CLOSE_EVENTS:
                break

    try:
        await asyncio.wait_for(follow(), timeout=limit_s)
    except TimeoutError:
        raise BenchError(f"case {handle.id} did not close within {limit_s:.0f}s") from None
    run.done_at = time.time()
    return run


async def probe_pipeline(client: Client, queue: str, limit_s: float) -> Plan:
    """One real case, taken through introduction to closure, read for its shape.

    With round-the-clock contact hours nothing waits after the introduction but the review timer, so
    the first moment the case has no activity or workflow task pending is "introduced". Describe
    answers from the server alone (a query would need the worker, which is busy with the case).
    """
    start = pipeline_starter(client, queue, round_the_clock_policy(), IntakeTexts())
    handle = await start()
    deadline = time.monotonic() + limit_s
    await asyncio.sleep(0.2)
    while not await is_asleep(client, handle.id):
        if time.monotonic() > deadline:
            raise BenchError(f"probe case {handle.id} still busy after {limit_s:.0f}s; see bench.log")
        await asyncio.sleep(0.1)
    await handle.signal(SATISFIED)
    summary = await asyncio.wait_for(handle.result(), timeout=limit_s)
    # Since v4 the result is small (no state): the closed run's state is a query away.
    state = summary.get("state") or await handle.query("case_state")
    kinds = [m.get("kind") for m in state.get("messages", [])]
    if "introduction" not in kinds:
        raise BenchError(f"probe case {handle.id} closed without an introduction (sent: {kinds})")
    events = [e async for e in handle.fetch_history_events()]
    sends = [step.activity_type for step in steps(events)]
    if SEND_MESSAGE not in sends:
        raise BenchError("the probe case sent no message")
    return Plan(shape=shape_of(events), ack_index=sends.index(SEND_MESSAGE), probe_events=events)


@dataclass
class Batch:
    per_s: float
    ack_s: list[float]  # to the receipt's sent_at
    ack_recorded_s: list[float]  # to the marker's event time (the first task's completion)
    closure_s: list[float]
    events_per_case: float
    by_type: dict[str, int]
    spent: dict[str, object]
    cpu_ms_per_case: dict[str, float]


CpuPids = dict[str, list[int]]  # who to charge CPU to ("server", "workers", "bench") -> process ids


async def run_batch(
    start: Starter, plan: Plan, count: int, concurrency: int, limit_s: float, cpu: CpuPids | None = None
) -> Batch:
    numbers = iter(range(count))
    runs: list[CaseRun] = []
    cpu = cpu or {}
    cpu_before = {label: cpu_seconds(pids) for label, pids in cpu.items()}

    async def lane() -> None:
        for _ in numbers:
            runs.append(await drive_case(start, plan.before_signal, limit_s))

    await asyncio.wait_for(asyncio.gather(*(lane() for _ in range(concurrency))), timeout=limit_s)
    cpu_ms = {label: 1000 * (cpu_seconds(pids) - cpu_before[label]) / count for label, pids in cpu.items()}
    first = min(r.intake_at for r in runs)
    last = max(r.done_at for r in runs if r.done_at is not None)
    ack, ack_recorded, closure = [], [], []
    for r in runs:
        (closed,) = r.completion_times(plan.closure_index)
        sent, acked = r.acknowledgement()
        if acked is not None:
            ack_recorded.append(acked - r.intake_at)
        if sent is not None:
            ack.append(sent - r.intake_at)
        if closed is not None and r.signalled_at is not None:
            closure.append(closed - r.signalled_at)
    return Batch(
        per_s=len(runs) / (last - first),
        ack_s=ack,
        ack_recorded_s=ack_recorded,
        closure_s=closure,
        events_per_case=sum(len(r.events) for r in runs) / len(runs),
        by_type=events_by_type(runs[-1].events),
        spent=time_spent(runs[-1].events),
        cpu_ms_per_case=cpu_ms,
    )


PIPELINE, BASELINE = "pipeline", "baseline"
# Optional kinds that split the gap between the two (see docs/performance.md, "Attribution"):
IN_MEMORY_SENDS = "pipeline_in_memory_sends"  # the pipeline with send_message answered in memory
WITH_VISIBILITY = "baseline_with_visibility"  # the baseline plus the case's start attributes and upserts
# What production runs (COMPLAINTS_CODEC_KEYS): the pipeline with every payload AES-GCM encrypted.
ENCRYPTED = "pipeline_encrypted"
# The baseline carrying the case's payload sizes: pipeline / this is the work, this / baseline the bytes.
WITH_PAYLOADS = "baseline_with_payloads"
# A fixed no-op workflow, the same in every version and run (3 activities, a signal, 1 activity):
# "pipeline / reference" compares versions measured on different days, which absolute rates cannot.
REFERENCE = "reference"
REFERENCE_SHAPE = Shape(phases=[Phase(activities=3), Phase(activities=1)])


def summarise(results: dict[str, list[Batch]]) -> dict[str, object]:
    def side(batches: list[Batch]) -> dict[str, object]:
        ack = [v for b in batches for v in b.ack_s]
        ack_recorded = [v for b in batches for v in b.ack_recorded_s]
        closure = [v for b in batches for v in b.closure_s]
        return {
            "per_s": median([b.per_s for b in batches]),
            "runs_per_s": [b.per_s for b in batches],
            "ack_p50_s": percentile(ack, 50),
            "ack_p99_s": percentile(ack, 99),
            "ack_recorded_p50_s": percentile(ack_recorded, 50),
            "ack_recorded_p99_s": percentile(ack_recorded, 99),
            "closure_p50_s": percentile(closure, 50),
            "closure_p99_s": percentile(closure, 99),
            "closure_p99_s_per_batch": [percentile(b.closure_s, 99) for b in batches],
            "ack_p99_s_per_batch": [percentile(b.ack_s, 99) for b in batches],
            "events_per_case": median([b.events_per_case for b in batches]),
            # CPU milliseconds per case, by process group, while the batch ran.
            "cpu_ms_per_case": {
                label: median([b.cpu_ms_per_case[label] for b in batches])
                for label in (batches[0].cpu_ms_per_case if batches else {})
            },
            "events_by_type": batches[-1].by_type if batches else {},
            # One case of the last batch: time inside workflow tasks and activities.
            "time_spent": batches[-1].spent if batches else {},
        }

    def against_baseline(kind: str) -> float | None:
        return median([ratio(k.per_s, b.per_s) for k, b in zip(results[kind], results[BASELINE])])

    summary: dict[str, object] = {kind: side(batches) for kind, batches in results.items()}
    summary["ratio"] = against_baseline(PIPELINE)
    summary["ratios"] = {kind: against_baseline(kind) for kind in results if kind != BASELINE}
    return summary


async def compare(
    client: Client,
    plan: Plan,
    queues: dict[str, str],
    *,
    count: int,
    concurrency: int,
    repeat: int,
    limit_s: float,
    warm_up: bool = True,
    cpu: dict[str, CpuPids] | None = None,
    clients: dict[str, Client] | None = None,
) -> dict[str, object]:
    """Batches of each kind side by side (`queues`: kind -> task queue), rotating which goes first.

    `cpu`, per kind, names the processes whose CPU time each case is charged with; `clients`, per
    kind, a client of its own (the encrypted kind's has the codec).
    """
    cpu = cpu or {}
    clients = clients or {}
    policy = round_the_clock_policy()
    starters: dict[str, Starter] = {}
    for kind, queue in queues.items():
        if kind in (PIPELINE, IN_MEMORY_SENDS, ENCRYPTED):
            starters[kind] = pipeline_starter(clients.get(kind, client), queue, policy, IntakeTexts())
        elif kind == BASELINE:
            starters[kind] = baseline_starter(client, queue, plan.shape)
        elif kind == REFERENCE:
            starters[kind] = baseline_starter(client, queue, REFERENCE_SHAPE)
        elif kind == WITH_PAYLOADS:
            starters[kind] = baseline_starter(client, queue, carrying(plan.shape, payload_sizes(plan.probe_events)))
        elif kind == WITH_VISIBILITY:
            starters[kind] = baseline_starter(
                client, queue, plan.shape.model_copy(update={"with_visibility": True}), like_the_intake=True
            )
        else:
            raise ValueError(f"unknown kind {kind}")
    plans = {
        kind: Plan(shape=REFERENCE_SHAPE, ack_index=0, probe_events=[]) if kind == REFERENCE else plan
        for kind in starters
    }
    if warm_up:
        for kind in starters:
            await run_batch(starters[kind], plans[kind], min(concurrency, count), concurrency, limit_s)
    kinds = list(starters)
    results: dict[str, list[Batch]] = {kind: [] for kind in kinds}
    for number in range(repeat):
        for kind in kinds[number % len(kinds) :] + kinds[: number % len(kinds)]:
            results[kind].append(
                await run_batch(starters[kind], plans[kind], count, concurrency, limit_s, cpu.get(kind))
            )
    summary = summarise(results)
    summary |= {"cases_per_batch": count, "concurrency": concurrency}
    return summary
