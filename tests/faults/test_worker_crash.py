"""The only worker is SIGKILLed at (seeded) random moments while a batch is in flight, and
restarted each time. Temporal re-runs what the dead process had in hand; the sent-message ledger
makes a re-run send answer from its record instead of sending again.
"""

from __future__ import annotations

import asyncio
import os
import random
from collections import Counter

import pytest

from tests.faults.conftest import FaultStack, Scenarios
from tests.faults.harness import (
    BEFORE_CLOSURE,
    EXPECTED_SENDS,
    OutboxWrites,
    WorkerProcess,
    delivery_problems,
    eventually,
    interruptions,
    outbox_files,
    problems_before_closure,
    workers_in_history,
)

BATCH = 12
KILLS = 3
# FAULTS_SEED=... replays another schedule of kills; the seed is in every failure message.
SEED = int(os.environ.get("FAULTS_SEED", "20261125"))

pytestmark = pytest.mark.e2e


async def worker_killed_at_random_moments(stack: FaultStack) -> None:
    kill_rng, filing_rng = random.Random(SEED), random.Random(SEED + 1)
    intakes = stack.intakes(BATCH)
    references = [stack.reference(i) for i in intakes]
    worker = await stack.start_worker("worker-0")
    kills: list[float] = []
    killed: list[WorkerProcess] = []

    async def file_batch() -> list[str]:
        filed = []
        for intake in intakes:
            filed.append(await stack.file(intake))
            await asyncio.sleep(filing_rng.uniform(0.1, 0.6))
        return filed

    with OutboxWrites(stack.outbox, references) as writes:
        filing = asyncio.create_task(file_batch())
        for n in range(1, KILLS + 1):
            # Random moments inside the busy stretch: filing, sends, timers and workflow tasks.
            delay = kill_rng.uniform(0.2, 2.5)
            kills.append(round(delay, 2))
            await asyncio.sleep(delay)
            stack.processes.kill(worker.process)
            killed.append(worker)
            worker = await stack.start_worker(f"worker-{n}")
        assert await filing == references
        context = f"seed {SEED}, kills after {kills} s of each worker's life"

        def all_introduced() -> bool:
            return all(len(outbox_files(stack.outbox, r)) >= len(BEFORE_CLOSURE) for r in references)

        # A send cut off by a kill is retried when its 60 s start-to-close runs out.
        await eventually(all_introduced, timeout=120, what=f"every case introduced ({context})")
        states = await stack.wait_for_states(
            references, lambda s: not problems_before_closure(s), timeout=30, what=f"case_state settled ({context})"
        )
        assert [p for s in states.values() for p in problems_before_closure(s)] == [], context

        final = await stack.close_all(references)
        await writes.settle()

    problems = delivery_problems(final, stack.data_dir, writes)
    assert problems == [], context
    assert sum(writes.counts.values()) == BATCH * len(EXPECTED_SENDS), context
    assert worker.alive()
    # The kills cut into work in hand: cases passed from a dead worker process to the next one.
    handled = await asyncio.gather(*(workers_in_history(stack.client, r) for r in references))
    assert any(len(pids) > 1 for pids in handled), f"no case changed worker ({context})"
    faults = sum((await asyncio.gather(*(interruptions(stack.client, r) for r in references))), Counter())
    print(f"{context}: {dict(faults)}")


@pytest.mark.fault_scenario.with_args(worker_killed_at_random_moments)
async def test_worker_killed_at_random_moments_loses_and_repeats_no_message(
    scenarios: Scenarios, request: pytest.FixtureRequest
) -> None:
    await scenarios.outcome(request.node)
