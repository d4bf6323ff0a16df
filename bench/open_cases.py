"""Scenario 3, open cases: N cases asleep on their timers, and what the worker process holds for them.

Pipeline: N complaints filed through the real intake path (round-the-clock contact hours, so each is
acknowledged and introduced at once) and worked by the real `python worker.py`, default cache; when
every case waits only on a timer, the worker's RSS is read from /proc/<pid>/status. Then the same
cases with a worker whose cache holds all N (`COMPLAINTS_MAX_CACHED_WORKFLOWS`), loaded by one query per case
(a query on an uncached case replays its history into the cache): RSS / N is memory per open case.
Baseline: N baseline workflows parked in the same shape (read from the first pipeline case) on their
own worker process, opened at the same time as the pipeline's: only memory is compared here, and
each process's RSS is its own.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from temporalio.client import Client

from bench.infra import (
    BenchError,
    IntakeTexts,
    is_asleep,
    progress,
    round_the_clock_policy,
    spawn_worker,
    stop_all,
    task_queue,
    wait_until_polling,
)
from bench.options import Options
from bench.report import median, ratio
from bench.shape import Phase, Shape, describe, events_by_type, shape_of
from starter import file_complaint, parse_intake

START_CONCURRENCY = 32
# Cases started at a time; the next batch starts when these are all asleep on their timers.
OPEN_BATCH = 200
CHECK_CONCURRENCY = 32
QUERY_CONCURRENCY = 16
SAMPLE = 20
DEFAULT_CACHE = 1000  # temporalio.worker.Worker's max_cached_workflows default


async def _bounded(items: list[str], concurrency: int, work) -> None:  # noqa: ANN001
    source = iter(items)

    async def lane() -> None:
        for item in source:
            await work(item)

    await asyncio.gather(*(lane() for _ in range(concurrency)))


async def wait_until_all_asleep(client: Client, ids: list[str], limit_s: float) -> float:
    """Until no case has an activity or workflow task pending; returns when that was (monotonic)."""
    pending = list(ids)
    deadline = time.monotonic() + limit_s
    while pending:
        busy: list[str] = []
        for offset in range(0, len(pending), CHECK_CONCURRENCY):
            chunk = pending[offset : offset + CHECK_CONCURRENCY]
            quiet = await asyncio.gather(*(is_asleep(client, i) for i in chunk))
            chunk_busy = [i for i, q in zip(chunk, quiet) if not q]
            busy += chunk_busy
            # Cases are worked roughly in the order they were filed: once a chunk is mostly busy,
            # the rest are too; look again later rather than describe them all.
            if len(chunk_busy) > len(chunk) // 2:
                busy += pending[offset + CHECK_CONCURRENCY :]
                break
        pending = busy
        if not pending:
            break
        if time.monotonic() > deadline:
            raise BenchError(f"{len(pending)} of {len(ids)} cases still busy after {limit_s:.0f}s")
        await asyncio.sleep(0.5)
    return time.monotonic()


async def _events(client: Client, ids: list[str]) -> tuple[list[int], dict[str, int]]:
    sample = ids[:: max(1, len(ids) // SAMPLE)][:SAMPLE]
    histories = [[e async for e in client.get_workflow_handle(i).fetch_history_events()] for i in sample]
    return [len(h) for h in histories], events_by_type(histories[-1])


@dataclass
class Side:
    """The pipeline's cases or the baseline's, with the worker processes that hold them."""

    kind: str
    queue: str
    data: Path
    ids: list[str] = field(default_factory=list)
    shape: Shape | None = None
    result: dict[str, object] = field(default_factory=dict)


def _memory(idle: dict[str, float], now: dict[str, float], n: int, cache: int) -> dict[str, float]:
    grown = now["rss_mb"] - idle["rss_mb"]
    return {
        "max_cached_workflows": cache,
        "rss_idle_mb": idle["rss_mb"],
        "rss_mb": now["rss_mb"],
        "hwm_mb": now["hwm_mb"],
        "per_open_case_kb": grown * 1024 / n,
        "per_cached_case_kb": grown * 1024 / min(n, cache),
    }


async def run(client: Client, address: str, options: Options) -> dict[str, object]:
    """Both sides at once: each has its own worker process, whose memory is all that is read here."""
    n = options.open_cases
    # Thousands of cases take a while to open and to replay on a small machine; still bounded.
    limit_s = max(options.wait_limit_s, 0.5 * n)
    data = options.workdir / "open-cases"
    sides = [
        Side("pipeline", task_queue("open-p"), data / "pipeline"),
        Side("baseline", task_queue("open-b"), data / "baseline"),
    ]
    pipeline, baseline = sides
    policy = round_the_clock_policy()
    texts = IntakeTexts()

    async def open_one(side: Side) -> None:
        if side.kind == "pipeline":
            filed = await file_complaint(client, parse_intake(texts.next()), policy=policy, task_queue=side.queue)
            side.ids.append(filed.reference)
        else:
            handle = await client.start_workflow(
                "BaselineCase", side.shape, id=f"open-{uuid.uuid4().hex}", task_queue=side.queue
            )
            side.ids.append(handle.id)

    async def open_all(side: Side, count: int) -> None:
        """In batches, each asleep before the next: a bounded backlog, as a steady intake would give."""
        began = time.monotonic()
        deadline = began + limit_s
        for offset in range(0, count, OPEN_BATCH):
            batch = min(OPEN_BATCH, count - offset)
            first = len(side.ids)
            await _bounded(list(range(batch)), START_CONCURRENCY, lambda _: open_one(side))
            await wait_until_all_asleep(client, side.ids[first:], deadline - time.monotonic())
            if (offset // OPEN_BATCH) % 10 == 9:
                progress(f"open_cases: {len(side.ids):,} {side.kind} cases open and asleep")
        side.result["open_s"] = time.monotonic() - began

    # 1. The real worker.py (default cache) beside the baseline worker; cases opened until all sleep.
    workers = [spawn_worker(side.kind, address, side.queue, side.data) for side in sides]
    try:
        wait_until_polling(workers)
        await asyncio.sleep(options.settle_s)
        idle = [w.rss() for w in workers]
        # One case first: the baseline is parked in the same shape, then waits for a signal that never comes.
        await open_all(pipeline, 1)
        parked = shape_of([e async for e in client.get_workflow_handle(pipeline.ids[0]).fetch_history_events()])
        baseline.shape = Shape(phases=[parked.phases[0], Phase()], signal_timeout_days=30)
        await asyncio.gather(open_all(pipeline, n - 1), open_all(baseline, n))
        await asyncio.sleep(options.settle_s)
        for side, worker, before in zip(sides, workers, idle):
            side.result["default_cache"] = _memory(before, worker.rss(), n, DEFAULT_CACHE) | {
                "opened_per_s": n / side.result.pop("open_s"),  # type: ignore[operator]
            }
            lengths, by_type = await _events(client, side.ids)
            side.result |= {"events_per_case": median(lengths), "events_max": max(lengths), "events_by_type": by_type}
    finally:
        stop_all(workers)

    # 2. Workers whose cache holds every case; one query per case replays it into the cache.
    cache = n + 100
    workers = [spawn_worker(side.kind, address, side.queue, side.data, max_cached=cache) for side in sides]
    try:
        wait_until_polling(workers)
        await asyncio.sleep(options.settle_s)
        idle = [w.rss() for w in workers]

        async def load(side: Side) -> float:
            began = time.monotonic()
            await _bounded(side.ids, QUERY_CONCURRENCY, lambda i: client.get_workflow_handle(i).query("case_state"))
            return n / (time.monotonic() - began)

        rates = await asyncio.wait_for(asyncio.gather(*(load(s) for s in sides)), timeout=limit_s)
        await asyncio.sleep(options.settle_s)
        for side, worker, before, rate in zip(sides, workers, idle, rates):
            side.result["all_cached"] = _memory(before, worker.rss(), n, cache) | {"replayed_per_s": rate}
    finally:
        stop_all(workers)

    p, b = pipeline.result, baseline.result
    return {
        "n": n,
        "backend": options.open_cases_backend,
        "pipeline": p,
        "baseline": b,
        "baseline_shape": describe(baseline.shape) if baseline.shape else None,
        "rss_ratio": ratio(p["default_cache"]["rss_mb"], b["default_cache"]["rss_mb"]),  # type: ignore[index]
        "per_case_ratio": ratio(
            p["all_cached"]["per_open_case_kb"],
            b["all_cached"]["per_open_case_kb"],  # type: ignore[index]
        ),
    }
