"""Scenario 1, intake: complaints started per second through the real intake path, vs bare starts.

Pipeline: `parse_intake` (validation) then `file_complaint` (reference, start with search attributes
and memo; with an intake id also the describe that makes a retried intake idempotent).
Baseline: `client.start_workflow` of the baseline workflow with a tiny input.
Attribution (`baseline_carrying_the_case`): a bare start that carries what a case's start carries (a
real case input, the memo, summary, details and initial search attributes) with no validation and
no reference: the gap between it and the baseline is what the server does with that, the gap
between the pipeline and it is the intake code.
No worker polls any task queue: this measures starting, not running.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Awaitable, Callable

from temporalio.client import Client

from bench.infra import IntakeTexts, cpu_seconds, round_the_clock_policy, task_queue
from bench.lifecycle import baseline_starter
from bench.options import Options
from bench.report import median, ratio
from bench.shape import Shape
from domain.models import CaseInput
from ops.contact_keys import configured_secret
from ops.reference_registry import ReferenceRegistry
from settings import PipelineSettings
from starter import file_complaint, parse_intake

VARIANTS = ("pipeline", "pipeline_no_intake_id", "baseline", "baseline_carrying_the_case")


async def _rate(
    count: int, concurrency: int, start_one: Callable[[], Awaitable[object]], cpu: dict[str, list[int]]
) -> tuple[float, dict[str, float]]:
    """Starts per second for `count` starts, `concurrency` in flight; and CPU ms per start by process."""
    queue = iter(range(count))

    async def lane() -> None:
        for _ in queue:
            await start_one()

    cpu_before = {label: cpu_seconds(pids) for label, pids in cpu.items()}
    began = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(concurrency)))
    rate = count / (time.perf_counter() - began)
    return rate, {label: 1000 * (cpu_seconds(pids) - cpu_before[label]) / count for label, pids in cpu.items()}


async def run(client: Client, options: Options, server_pid: int | None = None) -> dict[str, object]:
    policy = round_the_clock_policy()
    texts = IntakeTexts()
    queues = {v: task_queue(f"intake-{v.replace('_', '-')}") for v in VARIANTS}
    tiny = Shape()
    # As an intake system files (docs/intake.md): the registry of used references (the data folder's
    # stores, as `file_complaint` defaults to) and the contact-key secret read once, not per complaint.
    registry = ReferenceRegistry(PipelineSettings().data_dir)
    contact_key_secret = configured_secret()

    def starter(variant: str) -> Callable[[], Awaitable[object]]:
        if variant == "baseline":
            return lambda: client.start_workflow(
                "BaselineCase", tiny, id=f"bare-{uuid.uuid4().hex}", task_queue=queues[variant]
            )
        if variant == "baseline_carrying_the_case":
            # Never run (no worker polls), so the payload need not fit BaselineCase's input.
            case = CaseInput(
                reference="CC-2026-BENCH1", intake=parse_intake(texts.next(with_intake_id=True)), policy=policy
            )
            carried = baseline_starter(client, queues[variant], case, like_the_intake=True)  # type: ignore[arg-type]
            return carried
        with_id = variant == "pipeline"

        async def file_one() -> object:
            intake = parse_intake(texts.next(with_intake_id=with_id))
            return await file_complaint(
                client,
                intake,
                policy=policy,
                task_queue=queues[variant],
                registry=registry,
                contact_key_secret=contact_key_secret,
            )

        return file_one

    # The driver (parse_intake, encoding) runs here; the server is its own process.
    cpu = {"bench": [os.getpid()]} | ({"server": [server_pid]} if server_pid else {})
    # Warm up connections, the converter and the server's namespace caches.
    for variant in VARIANTS:
        await _rate(min(20, options.intake_starts), options.intake_concurrency, starter(variant), cpu)

    runs: list[dict[str, float]] = []
    cpu_runs: list[dict[str, dict[str, float]]] = []
    for repeat in range(options.repeat):
        order = VARIANTS if repeat % 2 == 0 else tuple(reversed(VARIANTS))
        measured, used = {}, {}
        for variant in order:
            measured[variant], used[variant] = await _rate(
                options.intake_starts, options.intake_concurrency, starter(variant), cpu
            )
        runs.append(measured)
        cpu_runs.append(used)

    result: dict[str, object] = {
        "starts_per_batch": options.intake_starts,
        "concurrency": options.intake_concurrency,
        "runs": runs,
    }
    for variant in VARIANTS:
        result[f"{variant}_per_s"] = median([r[variant] for r in runs])
    result["cpu_ms_per_start"] = {
        variant: {label: median([c[variant][label] for c in cpu_runs]) for label in cpu} for variant in VARIANTS
    }
    result["ratio"] = median([ratio(r["pipeline"], r["baseline"]) for r in runs])
    result["ratio_no_intake_id"] = median([ratio(r["pipeline_no_intake_id"], r["baseline"]) for r in runs])
    result["ratio_carrying_the_case"] = median([ratio(r["baseline_carrying_the_case"], r["baseline"]) for r in runs])
    return result
