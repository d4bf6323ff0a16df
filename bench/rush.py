"""The 09:00 rush (issue #15, section 2): N cases whose regular updates fall due at the same moment,
as after a bank-holiday weekend, sent through Twilio and SendGrid held to their rates.

How the cases are made: one real case runs on the time-skipping test server with the real worker
until an hour before its first regular update (acknowledged, introduced, the schedule offered, the
owner's reminder raised). Its `CaseState` is then moved in time so that update falls due at one
moment T a little ahead of now, and N cases start from it with fresh references, exactly as a case
continues as new (`CaseInput.carried_state`). Every case then sleeps on its timer to T. A case that
had been running for weeks is the same to the workflow from here on, except that its history is
short (so the replay storm measured here is a floor: an 8-week case replays more).

At T every case wakes, sends its update by SMS then, as the written follow-up, by email. The vendors
are `tests/peers/rate_limited.py` (its own process), holding Twilio to 10 texts a second and SendGrid
to the e-mail rate, with 429 + Retry-After above it. The cases were started by one worker process,
which is then replaced by a fresh one before T: every case's wake is a replay (a weekend's deploy or
restart empties the cache), which is what bounds a rush of cases not in memory.

Measured: the drain (T to the vendor's last accepted message) against the ideal N / vendor rate,
429s received against sends, duplicates (the peer counts a key seen twice), cases whose update clock
was breached or whose update did not go on both channels, and the replay storm: when each case's
wake task completed (its history), as cases woken per second.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from bench.infra import (
    BenchError,
    cpu_seconds,
    pipeline_client,
    progress,
    round_the_clock_policy,
    spawn_worker,
    stop_all,
    task_queue,
    vendor_env,
    vendor_peer,
    wait_until_polling,
)
from bench.options import Options
from bench.report import percentile
from channels.rate_limits import STAFF_SHARE
from domain.models import (
    CaseInput,
    CaseState,
    ChannelKind,
    ComplaintIntake,
    ComplaintPolicy,
    MessageKind,
    QuietHours,
)
from domain.reference import new_reference
from ops.dev_server import DevServer

UPDATE = MessageKind.PROGRESS_UPDATE
SENDS_PER_CASE = 2  # the update by SMS, then its written follow-up by email
HOUR = timedelta(hours=1)


def rush_policy() -> ComplaintPolicy:
    """Round the clock (bench.infra), and texts allowed at any hour: the rush runs whenever the bench
    does. At a real 09:00 nothing differs: it is inside the working day and the quiet hours."""
    policy = round_the_clock_policy()
    quiet = QuietHours(start=clock_time(0, 0), end=clock_time(23, 59, 59), no_contact_days=[])
    return policy.model_copy(update={"quiet_hours": quiet})


# --- the case a rush is made of ------------------------------------------------------------------


async def template_case(folder: Path, policy: ComplaintPolicy) -> tuple[ComplaintIntake, CaseState]:
    """A real case, run on the time-skipping server to an hour before its first regular update."""
    from bench.infra import IntakeTexts
    from bench.time_skipping import advance_to_a_working_morning, test_server
    from settings import PipelineSettings
    from starter import file_complaint
    from worker import build_worker
    from workflows.complaint_case import ComplaintCase

    async with test_server() as env:
        queue = task_queue("rush-template")
        settings = PipelineSettings(task_queue=queue, data_dir=folder, graceful_shutdown_seconds=1)
        async with build_worker(env.client, settings, clock=env.get_current_time):
            now = await advance_to_a_working_morning(env)
            data = json.loads(IntakeTexts().next(with_intake_id=False))
            data["received_at"] = now.isoformat()
            intake = ComplaintIntake.from_intake(data, now=now)
            filed = await file_complaint(env.client, intake, policy=policy, task_queue=queue)
            handle = env.client.get_workflow_handle(filed.reference)
            await env.sleep(timedelta(days=4))  # past the 3-working-day review: updates are scheduled
            state = await handle.query(ComplaintCase.case_state)
            if state.next_update_at is None:
                raise BenchError("the template case has no regular update scheduled after its review")
            await env.sleep(state.next_update_at - HOUR - await env.get_current_time())
            state = await handle.query(ComplaintCase.case_state)
            await handle.terminate("rush template taken")
    return intake, state


# A moment written inside a string: the case keys the reminders it has raised by the moment they
# were for ("update@2026-12-08T10:00:00+00:00"), so those move with everything else.
_MOMENT_IN_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[+-]\d{2}:\d{2}|Z)")


def _moved(value: Any, by: timedelta, old: str, new: str) -> Any:
    if isinstance(value, datetime):
        return value + by
    if isinstance(value, str):
        moved = _MOMENT_IN_TEXT.sub(lambda m: (datetime.fromisoformat(m.group(0)) + by).isoformat(), value)
        return moved.replace(old, new)
    if isinstance(value, dict):
        return {k: _moved(v, by, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_moved(v, by, old, new) for v in value]
    return value


def case_due_at(
    intake: ComplaintIntake, state: CaseState, policy: ComplaintPolicy, reference: str, due: datetime
) -> CaseInput:
    """The template as another case (its reference everywhere), every moment moved so that its
    next regular update falls due at `due`."""
    assert state.next_update_at is not None
    by = due - state.next_update_at
    moved = _moved(state.model_dump(), by, state.reference, reference)
    return CaseInput(
        reference=reference,
        intake=ComplaintIntake.model_validate(_moved(intake.model_dump(), by, state.reference, reference)),
        policy=policy,
        carried_state=CaseState.model_validate(moved),
    )


# --- the vendors --------------------------------------------------------------------------------


def peer_stats(url: str, reset: bool = False) -> dict[str, Any]:
    request = urllib.request.Request(f"{url}/{'reset' if reset else 'stats'}", method="POST" if reset else "GET")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


# --- the rush -----------------------------------------------------------------------------------


async def _start_all(client: Client, inputs: list[CaseInput], queue: str, concurrency: int = 16) -> None:
    pending = iter(inputs)

    async def starter() -> None:
        for case in pending:
            await client.start_workflow("ComplaintCase", case, id=case.reference, task_queue=queue)

    await asyncio.gather(*(starter() for _ in range(concurrency)))


async def _woken_at(client: Client, reference: str, due: datetime) -> datetime | None:
    """When the case's first workflow task at or after `due` completed: its wake (nothing else
    wakes a rush case then)."""
    async for event in client.get_workflow_handle(reference).fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            at = event.event_time.ToDatetime(tzinfo=UTC)
            if at >= due:
                return at
    return None


async def _outcome(client: Client, reference: str, due: datetime) -> dict[str, Any]:
    from temporalio.client import WorkflowQueryFailedError

    from workflows.complaint_case import ComplaintCase

    handle = client.get_workflow_handle(reference)
    for attempt in range(5):
        try:
            state = await handle.query(ComplaintCase.case_state)
            break
        except WorkflowQueryFailedError:
            # An overloaded worker replaying a cold case for the query can trip the SDK's 2-second
            # deadlock detector (seen after an unpaced rush): ask again, then count it unknown.
            await asyncio.sleep(2 * (attempt + 1))
    else:
        return {"both_channels": None, "breached": None, "woken_at": await _woken_at(client, reference, due)}
    sent = {m.channel for m in state.messages if m.kind is UPDATE and m.status == "sent"}
    # The update's clock: due within a working hour of its time (the case adds it when it sends).
    updates = [m for m in state.milestones if m.name.startswith("update_")]
    update = updates[-1] if updates else None
    return {
        "both_channels": sent >= {ChannelKind.SMS, ChannelKind.EMAIL},
        "breached": bool(update is None or update.done_at is None or not update.met),
        "woken_at": await _woken_at(client, reference, due),
    }


async def _bounded(count: int, work: Any, concurrency: int = 16) -> list[Any]:
    gate = asyncio.Semaphore(concurrency)

    async def one(item: Any) -> Any:
        async with gate:
            return await work(item)

    return await asyncio.gather(*(one(i) for i in range(count)))


async def run(server: DevServer, options: Options) -> dict[str, Any]:
    n, sms_rate, email_rate = options.rush_cases, options.rush_sms_per_second, options.rush_email_per_second
    folder = options.workdir / "rush"
    policy = rush_policy()
    progress(f"rush: a template case on the time-skipping server, then {n} cases due at one moment")
    intake, template = await template_case(folder / "template", policy)
    client = await pipeline_client(server.address)
    queue = task_queue("rush")
    with vendor_peer(folder, sms_rate, email_rate) as url:
        # Unpaced (the design before v4's vendor queues, for comparison): the workers are told the
        # vendors take 10,000 a second, so only the vendor's 429s and Retry-After slow the sends.
        paced = (sms_rate, email_rate) if options.rush_paced else (10_000.0, 10_000.0)
        env = vendor_env(url, *paced)
        starting = spawn_worker("pipeline", server.address, queue, folder / "worker-a", extra_env=env)
        try:
            wait_until_polling([starting])
            # Far enough ahead to start every case (15 a second on this busy machine, with their
            # first tasks) and change workers (a few seconds).
            setup_s = 10 + n / 15
            due = (datetime.now(UTC) + timedelta(seconds=setup_s)).replace(microsecond=0)
            inputs = [case_due_at(intake, template, policy, new_reference(due.year), due) for _ in range(n)]
            began = time.monotonic()
            await _start_all(client, inputs, queue)
            started_s = time.monotonic() - began
            # Every case's first task done and asleep on its timer: the worker has nothing queued.
            while time.monotonic() - began < setup_s - 10:
                if await _all_asleep(client, inputs):
                    break
                await asyncio.sleep(1)
        finally:
            stop_all([starting])
        fresh = spawn_worker("pipeline", server.address, queue, folder / "worker-b", extra_env=env)
        try:
            wait_until_polling([fresh])
            slack_s = (due - datetime.now(UTC)).total_seconds()
            if slack_s <= 0:
                raise BenchError(f"the {n} cases were not started and asleep before they fell due")
            peer_stats(url, reset=True)
            load_before = os.getloadavg()
            cpu_before = cpu_seconds([fresh.pid, server.process.pid])
            progress(f"rush: {n} cases asleep ({started_s:.0f}s to start); all due in {slack_s:.0f}s")
            await asyncio.sleep(slack_s)
            stats = await _drained(url, n, limit_s=max(120.0, 6 * n / min(sms_rate, email_rate)))
            cpu_s = cpu_seconds([fresh.pid, server.process.pid]) - cpu_before
            load_after = os.getloadavg()
            outcomes = await _bounded(n, lambda i: _outcome(client, inputs[i].reference, due))
            # The owners' reminders are paced below the customers (STAFF_SHARE): they drain after
            # the customers' messages, and must all arrive. Their 429s count in the total.
            stats = await _staff_notices_delivered(url, n, limit_s=60 + 3 * n / (email_rate * STAFF_SHARE))
        finally:
            stop_all([fresh])
    found = _report(n, sms_rate, email_rate, due, stats, outcomes, started_s, slack_s, cpu_s, load_before, load_after)
    return found | {"paced": options.rush_paced}


async def _all_asleep(client: Client, inputs: list[CaseInput]) -> bool:
    """The last cases started are asleep on their timers (so, very nearly, every case is)."""
    from bench.infra import is_asleep

    answers = await asyncio.gather(*(is_asleep(client, case.reference) for case in inputs[-20:]))
    return all(answers)


async def _drained(url: str, n: int, limit_s: float) -> dict[str, Any]:
    """Wait until the vendors have accepted every update (or the limit); what the peer saw."""
    deadline = time.monotonic() + limit_s
    while True:
        stats = peer_stats(url)
        if stats["sms"]["accepted"] >= n and stats["email"]["accepted"] >= n:
            return stats
        if time.monotonic() > deadline:
            return stats | {"timed_out": True}
        await asyncio.sleep(0.5)


async def _staff_notices_delivered(url: str, n: int, limit_s: float) -> dict[str, Any]:
    """Wait until the e-mail vendor has taken an owner's reminder per case; what the peer saw, and
    when the last arrived (`staff_notices_done_at`, time.time())."""
    deadline = time.monotonic() + limit_s
    while True:
        stats = peer_stats(url)
        if stats["email"]["staff_notices"] >= n:
            return stats | {"staff_notices_done_at": time.time()}
        if time.monotonic() > deadline:
            return stats | {"staff_notices_timed_out": True}
        await asyncio.sleep(0.5)


def _report(
    n: int,
    sms_rate: float,
    email_rate: float,
    due: datetime,
    stats: dict[str, Any],
    outcomes: list[dict[str, Any]],
    started_s: float,
    slack_s: float,
    cpu_s: float,
    load_before: tuple[float, ...],
    load_after: tuple[float, ...],
) -> dict[str, Any]:
    at = due.timestamp()
    last = max((stats[v]["last_accepted_at"] or at) for v in ("sms", "email"))
    drain_s = last - at
    ideal_s = max(n / sms_rate, n / email_rate)
    sends = stats["sms"]["accepted"] + stats["email"]["accepted"]
    # Every 429 the account gave, the customers' and the staff notices' (counted apart by the peer).
    staff_refused = stats["email"].get("staff_notices_too_many_requests", 0)
    refused = stats["sms"]["too_many_requests"] + stats["email"]["too_many_requests"] + staff_refused
    woken = sorted((o["woken_at"] - due).total_seconds() for o in outcomes if o["woken_at"] is not None)
    return {
        "cases": n,
        "sends_per_case": SENDS_PER_CASE,
        "sms_per_second": sms_rate,
        "email_per_second": email_rate,
        "due_at": due.isoformat(),
        "timed_out": bool(stats.get("timed_out")),
        "drain_s": round(drain_s, 2),
        "ideal_s": round(ideal_s, 2),
        "drain_ratio": round(drain_s / ideal_s, 3),
        "sms_drain_s": round((stats["sms"]["last_accepted_at"] or at) - at, 2),
        "email_drain_s": round((stats["email"]["last_accepted_at"] or at) - at, 2),
        "sends": sends,
        "too_many_requests": refused,
        "too_many_requests_share": round(refused / sends, 4) if sends else None,
        "staff_notices": stats["email"].get("staff_notices", 0),
        "staff_notices_too_many_requests": staff_refused,
        # To the half second (polled): notices are internal mail, paced to a small share.
        "staff_notices_drain_s": round(stats["staff_notices_done_at"] - at, 1)
        if "staff_notices_done_at" in stats
        else None,
        "staff_notices_timed_out": bool(stats.get("staff_notices_timed_out")),
        "duplicates": stats["sms"]["duplicates"] + stats["email"]["duplicates"],
        "cases_breached": sum(bool(o["breached"]) for o in outcomes),
        "cases_not_sent_on_both_channels": sum(o["both_channels"] is False for o in outcomes),
        "cases_unknown": sum(o["both_channels"] is None for o in outcomes),
        "vendor": {v: stats[v] for v in ("sms", "email")},
        # The replay storm: every wake is a replay on the fresh worker.
        "replay": {
            "cases_woken": len(woken),
            "all_woken_s": round(woken[-1], 2) if woken else None,
            "woken_p50_s": percentile(woken, 50),
            "woken_p99_s": percentile(woken, 99),
            "woken_per_s": round(len(woken) / woken[-1], 1) if woken and woken[-1] > 0 else None,
        },
        "setup": {"start_s": round(started_s, 1), "slack_before_due_s": round(slack_s, 1)},
        "cpu_s_worker_and_server": round(cpu_s, 1),
        "loadavg": {"before": list(load_before), "after": list(load_after)},
    }
