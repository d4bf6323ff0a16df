"""Open-loop sustained load (issue #15, section 4): complaints arrive at a fixed rate for a while,
whether or not earlier ones are done, one rate step after another, to find the knee.

A closed loop (lifecycle: a fixed number in flight) slows its own arrivals when the pipeline slows,
and so hides queueing; intake systems do not wait. Here each step files `rate` complaints a second
for `seconds`, each at its scheduled moment (a late filing is counted late, not postponed), through
the real intake path, to the real `python worker.py` in its own process. Each case's latency is from
just before `parse_intake` to its acknowledgement's own send time (read from history: its
receipt's `sent_at` before v6, its first attempt's `complete_time` since; see `bench.shape.Step`)
and to the introduction's; per step: p50, p90, p99 and max, the rate achieved (cases
acknowledged / the step's length) and how many were still not acknowledged when the step's wait
ran out. The knee is the first step whose p99 is over `KNEE_P99_S` or which falls behind.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from temporalio.client import Client

from bench.infra import (
    IntakeTexts,
    cpu_seconds,
    pipeline_client,
    progress,
    round_the_clock_policy,
    task_queue,
    worker_processes,
)
from bench.options import Options
from bench.report import percentile
from bench.shape import steps
from domain.models import ComplaintPolicy
from ops.dev_server import DevServer
from starter import file_complaint, parse_intake
from workflows.case_constants import SEND_MESSAGE

KNEE_P99_S = 2.0  # an acknowledgement later than this at p99 is queueing, not work


@dataclass
class Filed:
    intake_at: float
    late_s: float  # how far behind its scheduled moment the filing began
    reference: str | None = None
    error: str | None = None
    sends: list[float] = field(default_factory=list)  # sent_at of each message, in order


async def _file(client: Client, queue: str, policy: ComplaintPolicy, texts: IntakeTexts, case: Filed) -> None:
    try:
        intake = parse_intake(texts.next(with_intake_id=True))
        filed = await file_complaint(client, intake, policy=policy, task_queue=queue)
        case.reference = filed.reference
    except Exception as exc:  # noqa: BLE001 - a refused start is a result of the step, not a crash
        case.error = f"{type(exc).__name__}: {exc}"


async def _sends(client: Client, case: Filed) -> None:
    events = [e async for e in client.get_workflow_handle(case.reference).fetch_history_events()]
    case.sends = [s.sent_at for s in steps(events) if s.activity_type == SEND_MESSAGE and s.sent_at is not None]


async def step(client: Client, queue: str, rate: float, seconds: float, settle_s: float) -> dict[str, Any]:
    policy, texts = round_the_clock_policy(), IntakeTexts()
    count = max(1, round(rate * seconds))
    cases: list[Filed] = []
    tasks: list[asyncio.Task[None]] = []
    began = time.time()
    for number in range(count):
        at = began + number / rate
        await asyncio.sleep(max(0.0, at - time.time()))
        case = Filed(intake_at=time.time(), late_s=max(0.0, time.time() - at))
        cases.append(case)
        tasks.append(asyncio.create_task(_file(client, queue, policy, texts, case)))
    await asyncio.gather(*tasks)
    # Until every case has its acknowledgement and introduction out (3 sends), or the wait ends.
    deadline = time.monotonic() + settle_s
    filed = [c for c in cases if c.reference]
    gate = asyncio.Semaphore(16)

    async def read(case: Filed) -> None:
        async with gate:
            await _sends(client, case)

    while True:
        await asyncio.gather(*(read(c) for c in filed if len(c.sends) < 3))
        if all(len(c.sends) >= 3 for c in filed) or time.monotonic() > deadline:
            break
        await asyncio.sleep(1)
    ack = [c.sends[0] - c.intake_at for c in filed if c.sends]
    intro = [c.sends[-1] - c.intake_at for c in filed if len(c.sends) >= 3]
    last_ack = max((c.sends[0] for c in filed if c.sends), default=began)
    return {
        "offered_per_s": rate,
        "seconds": seconds,
        "filed": len(filed),
        "refused": [c.error for c in cases if c.error][:5],
        "refused_count": sum(1 for c in cases if c.error),
        "acknowledged": len(ack),
        "not_acknowledged": len(filed) - len(ack),
        "acknowledged_per_s": round(len(ack) / max(last_ack - began, seconds), 2),
        "filing_late_p99_s": percentile([c.late_s for c in cases], 99),
        "ack_p50_s": percentile(ack, 50),
        "ack_p90_s": percentile(ack, 90),
        "ack_p99_s": percentile(ack, 99),
        "ack_max_s": max(ack) if ack else None,
        "intro_p50_s": percentile(intro, 50),
        "intro_p99_s": percentile(intro, 99),
    }


async def run(server: DevServer, options: Options) -> dict[str, Any]:
    client = await pipeline_client(server.address)
    queue = task_queue("sustained")
    folder = options.workdir / "sustained"
    results: list[dict[str, Any]] = []
    with worker_processes("pipeline", 1, server.address, queue, folder) as workers:
        pids = [server.process.pid, *(w.pid for w in workers)]
        for rate in options.sustained_rates:
            progress(f"sustained: {rate:g} complaints/s for {options.sustained_seconds:g}s")
            cpu_before = cpu_seconds(pids)
            found = await step(client, queue, rate, options.sustained_seconds, settle_s=options.sustained_settle_s)
            found["cpu_ms_per_case_worker_and_server"] = round(
                1000 * (cpu_seconds(pids) - cpu_before) / max(1, found["filed"]), 1
            )
            results.append(found)
            if found["not_acknowledged"] > found["filed"] // 2:
                break  # far past the knee: the next step would only pile up more
    knee = next(
        (
            s["offered_per_s"]
            for s in results
            if (s["ack_p99_s"] or 0) > KNEE_P99_S or s["not_acknowledged"] or s["refused_count"]
        ),
        None,
    )
    return {"steps": results, "knee_per_s": knee, "knee_rule": f"first step with ack p99 > {KNEE_P99_S:g} s or behind"}
