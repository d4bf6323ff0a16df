"""Scenario 4, time-skipping, and the history-size targets.

On the time-skipping test server (from the venv), with the real worker (build_worker, outbox):
- wall time of a full 8-week case with two escalations: filed, acknowledged and introduced, a note
  from the handler, not satisfied twice (two escalations), weekly updates, the 8-week ADR letter, then
  satisfied and closed. Three ways: the real worker (sends written to the outbox), the real worker
  with sends answered in memory (as the workflow tests' outbox does), and the same-shape baseline,
  all driven by the same signals, update and sleeps;
- history size of a case closed within 3 days, and of an 8-week case with weekly updates and one
  escalation, by event type (what docs/performance.md analyses).
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from zoneinfo import ZoneInfo

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from bench.infra import BenchError, InMemorySends, IntakeTexts, baseline_worker_for, task_queue
from bench.options import Options
from bench.report import median, ratio
from bench.shape import Shape, describe, events_by_type, shape_of, time_spent
from domain import search_attributes as sa
from domain.models import ComplaintIntake, ComplaintPolicy, NotSatisfied, ProgressNote
from ops.dev_server import temporal_cli
from settings import PipelineSettings, load_policy
from starter import file_complaint

DAY = timedelta(days=1)
LONDON = ZoneInfo("Europe/London")
TUESDAY, MORNING = 1, clock_time(10, 30)
WEEK = timedelta(weeks=1)

# (this long after filing, send this signal or update); then the case runs to its close.
# The handler records a note on day 2, as handlers do: the weekly update quotes the latest note.
NOTE = ("add_note", ProgressNote(text="Engineer booked for Friday; line tests clear."))
Step = tuple[timedelta, str, object | None]
SCRIPTS: dict[str, list[Step]] = {
    "eight_weeks_two_escalations": [
        (2 * DAY, *NOTE),
        (2 * DAY, "customer_not_satisfied", NotSatisfied(reason="Still no engineer")),
        (9 * DAY, "customer_not_satisfied", NotSatisfied(reason="Credit too small")),
        (8 * WEEK + DAY, "customer_satisfied", None),
    ],
    "eight_weeks_one_escalation": [
        (2 * DAY, *NOTE),
        (2 * DAY, "customer_not_satisfied", NotSatisfied(reason="Still no engineer")),
        (8 * WEEK + DAY, "customer_satisfied", None),
    ],
    # The same case where nobody ever records a note: each weekly update says there is no news yet
    # (before commit 0fd7f4e the renderer refused it on every channel and the history doubled).
    "eight_weeks_one_escalation_no_note": [
        (2 * DAY, "customer_not_satisfied", NotSatisfied(reason="Still no engineer")),
        (8 * WEEK + DAY, "customer_satisfied", None),
    ],
    "closed_within_3_days": [
        (2 * DAY, "customer_satisfied", None),
    ],
}
UPDATES = {"add_note"}
CONTINUE_AS_NEW_AT = 100
TIMED = "eight_weeks_two_escalations"


def test_server_binary() -> str:
    return str(Path(temporal_cli()).parent / "temporal-test-server")


async def register_search_attributes(client: Client) -> None:
    # Not ops.register_search_attributes: the test server has no ListSearchAttributes to check against.
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=client.namespace,
            search_attributes={k.name: IndexedValueType.ValueType(int(k.indexed_value_type)) for k in sa.REGISTERED},
        )
    )


@asynccontextmanager
async def test_server() -> AsyncIterator[WorkflowEnvironment]:
    """The time-skipping test server from the venv, with the pipeline's search attributes."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=test_server_binary(), data_converter=pydantic_data_converter
    )
    try:
        await register_search_attributes(env.client)
        yield env
    finally:
        await env.shutdown()


async def _play(env: WorkflowEnvironment, handle: WorkflowHandle, script: str) -> None:
    elapsed = timedelta(0)
    for at, name, payload in SCRIPTS[script]:
        if at > elapsed:
            await env.sleep(at - elapsed)
            elapsed = at
        if name in UPDATES:
            await handle.execute_update(name, payload)
        elif payload is None:
            await handle.signal(name)
        else:
            await handle.signal(name, payload)
    await handle.result()


async def advance_to_a_working_morning(env: WorkflowEnvironment) -> datetime:
    """On to the next Tuesday 10:30 London time, so every case starts at the same point of the week.

    The test server's clock starts at today's wall-clock time and each case moves it on by weeks;
    without this, a case's history would depend on the weekday and hour it happened to be filed.
    """
    now = await env.get_current_time()
    local = now.astimezone(LONDON)
    days = (TUESDAY - local.weekday()) % 7 or 7
    target = datetime.combine(local.date() + timedelta(days=days), MORNING, tzinfo=LONDON)
    await env.sleep(target - now)
    return await env.get_current_time()


async def pipeline_case(
    env: WorkflowEnvironment, queue: str, script: str, *, policy: ComplaintPolicy | None = None
) -> tuple[float, list]:
    """One case through `script`; its history (the last run's, if it continued as new)."""
    wall, runs = await pipeline_case_runs(env, queue, script, policy=policy)
    return wall, runs[-1]


async def pipeline_case_runs(
    env: WorkflowEnvironment, queue: str, script: str, *, policy: ComplaintPolicy | None = None
) -> tuple[float, list[list]]:
    """One case through `script`; the history of each of its runs, oldest first."""
    now = await advance_to_a_working_morning(env)
    data = json.loads(IntakeTexts().next(with_intake_id=False))
    data["received_at"] = now.isoformat()
    began = time.perf_counter()
    # Validated against the test server's clock, which has moved on by weeks after earlier runs.
    intake = ComplaintIntake.from_intake(data, now=now)
    filed = await file_complaint(env.client, intake, policy=policy or load_policy(), task_queue=queue)
    handle = env.client.get_workflow_handle(filed.reference)
    await _play(env, handle, script)
    wall = time.perf_counter() - began
    runs: list[list] = []
    run_id: str | None = None
    while True:
        events = [
            e async for e in env.client.get_workflow_handle(filed.reference, run_id=run_id).fetch_history_events()
        ]
        runs.insert(0, events)
        run_id = events[0].workflow_execution_started_event_attributes.continued_execution_run_id or None
        if run_id is None:
            return wall, runs


async def baseline_case(env: WorkflowEnvironment, queue: str, script: str, shape: Shape) -> tuple[float, list]:
    began = time.perf_counter()
    handle = await env.client.start_workflow("BaselineCase", shape, id=f"ts-{uuid.uuid4().hex}", task_queue=queue)
    await _play(env, handle, script)
    wall = time.perf_counter() - began
    return wall, [e async for e in handle.fetch_history_events()]


async def run(options: Options) -> dict[str, object]:
    from worker import build_worker

    async with test_server() as env:
        pq, fq, bq = task_queue("ts-p"), task_queue("ts-f"), task_queue("ts-b")
        folder = options.workdir / "time-skipping"
        settings = PipelineSettings(task_queue=pq, data_dir=folder, graceful_shutdown_seconds=1)
        faked = settings.model_copy(update={"task_queue": fq, "data_dir": folder / "in-memory-sends"})
        fake_client = Client(
            env.client.service_client,
            namespace=env.client.namespace,
            data_converter=env.client.data_converter,
            interceptors=[InMemorySends()],
        )
        async with (
            build_worker(env.client, settings, clock=env.get_current_time),
            build_worker(fake_client, faked, clock=env.get_current_time),
            baseline_worker_for(env.client, bq),
        ):
            history: dict[str, object] = {}
            shapes: dict[str, Shape] = {}
            # One of each script first: its history, its shape, and a warm worker.
            for script in SCRIPTS:
                if script.endswith("_no_note") and not options.history_without_note:
                    continue
                _, events = await pipeline_case(env, pq, script)
                shapes[script] = shape_of(events)
                _, base_events = await baseline_case(env, bq, script, shapes[script])
                history[script] = {
                    "events": len(events),
                    "events_by_type": events_by_type(events),
                    "baseline_events": len(base_events),
                    "shape": describe(shapes[script]),
                }
            # The 8-week case again, continuing as new every ~100 events (a policy value, no code change):
            # what each run's history, the unit a worker replays, then holds.
            if options.history_without_note:
                policy = load_policy().model_copy(update={"continue_as_new_after_events": CONTINUE_AS_NEW_AT})
                _, runs = await pipeline_case_runs(env, pq, "eight_weeks_one_escalation", policy=policy)
                history[f"eight_weeks_one_escalation_continue_as_new_at_{CONTINUE_AS_NEW_AT}"] = {
                    "events": max(len(r) for r in runs),
                    "runs": [len(r) for r in runs],
                    "total_events": sum(len(r) for r in runs),
                    "events_by_type": events_by_type([e for r in runs for e in r]),
                }
            await pipeline_case(env, fq, TIMED)  # warm the second worker
            kinds = ("pipeline", "pipeline_in_memory_sends", "baseline")
            walls: dict[str, list[float]] = {k: [] for k in kinds}
            spent: dict[str, dict[str, object]] = {}
            for number in range(options.time_skipping_runs):
                for kind in kinds if number % 2 == 0 else tuple(reversed(kinds)):
                    if kind == "baseline":
                        wall, events = await baseline_case(env, bq, TIMED, shapes[TIMED])
                    else:
                        wall, events = await pipeline_case(env, pq if kind == "pipeline" else fq, TIMED)
                    walls[kind].append(wall)
                    spent[kind] = time_spent(events)
    if not walls["pipeline"]:
        raise BenchError("no time-skipping run completed")
    timing = {
        "case": TIMED,
        "runs": options.time_skipping_runs,
        "pipeline_s": median(walls["pipeline"]),
        # The same case with sends answered in memory (as the workflow tests do): the workflow's own cost.
        "pipeline_in_memory_sends_s": median(walls["pipeline_in_memory_sends"]),
        "baseline_s": median(walls["baseline"]),
        "runs_s": walls,
        "pipeline_stdev_s": statistics.pstdev(walls["pipeline"]),
        "ratio": ratio(median(walls["pipeline"]), median(walls["baseline"])),
        "ratio_in_memory_sends": ratio(median(walls["pipeline_in_memory_sends"]), median(walls["baseline"])),
        # The last run of each: time inside workflow tasks and activities (event times are the
        # test server's skipped clock, so spans between tasks mean nothing here).
        "time_spent": {k: {x: y for x, y in v.items() if x != "span_s"} for k, v in spent.items()},
    }
    return {"time_skipping": timing, "history": history}
