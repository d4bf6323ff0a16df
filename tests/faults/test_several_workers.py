"""Three workers share one task queue; one is SIGKILLed while a batch of complaints is in flight.

The survivors take over its cases (its sticky cache and any send it had started), and every case
is still acknowledged once, introduced once per planned channel, and closed once.

The workers run as if on three hosts: each its own data folder, the stores (sent-message ledger,
billing ledger, case archive) on PostgreSQL (`COMPLAINTS_DATABASE_URL`). The only other thing they
share is the outbox, which stands in for the customer's inbox (as one SendGrid account would be
shared). So a send the dead worker recorded is found by the others through the database alone.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.faults.conftest import FaultStack, Scenarios
from tests.faults.harness import (
    BEFORE_CLOSURE,
    EXPECTED_SENDS,
    OutboxWrites,
    delivery_problems,
    eventually,
    file_name,
    outbox_files,
    problems_before_closure,
    workers_in_history,
)

BATCH = 12
VIA_STARTER = 2  # filed through starter.py, the rest through file_complaint

pytestmark = pytest.mark.e2e


async def worker_killed_mid_batch(stack: FaultStack) -> None:
    intakes = stack.intakes(BATCH)
    references = [stack.reference(i) for i in intakes]
    doomed, *survivors = await asyncio.gather(*(stack.start_worker(f"worker-{n}") for n in "abc"))

    with OutboxWrites(stack.outbox, references) as writes:
        first, second = intakes[: BATCH // 2], intakes[BATCH // 2 :]
        filed = list(
            await asyncio.gather(
                *(stack.file_with_starter(i) for i in first[:VIA_STARTER]),
                *(stack.file(i) for i in first[VIA_STARTER:]),
            )
        )
        # Kill it as soon as it has sent something: it holds cases in its cache and, likely,
        # a send or a workflow task in hand.
        await eventually(lambda: "sent via" in doomed.log_text(), timeout=60, what="worker-a sending")
        stack.processes.kill(doomed.process)
        for intake in second:
            filed.append(await stack.file(intake))
            await asyncio.sleep(0.1)
        assert filed == references

        def all_introduced() -> bool:
            return all(len(outbox_files(stack.outbox, r)) >= len(BEFORE_CLOSURE) for r in references)

        # A send the dead worker had started is retried only when its 60 s start-to-close runs out.
        await eventually(all_introduced, timeout=120, what="every case acknowledged and introduced")
        states = await stack.wait_for_states(
            references, lambda s: not problems_before_closure(s), timeout=30, what="case_state settled"
        )
        assert [p for s in states.values() for p in problems_before_closure(s)] == []
        # The admin script reads the same state.
        status = await stack.status_json(references[0])
        assert status["stage"] == "investigating"
        assert sorted((m["kind"], m["channel"]) for m in status["messages"]) == sorted(BEFORE_CLOSURE)

        final = await stack.close_all(references)
        await writes.settle()

    problems = delivery_problems(final, stack.data_dir, writes, ledger_at=stack.ledger)
    assert problems == []
    # Nothing was kept on a "host": every store was in the shared database.
    host_files = [p for w in "abc" for p in stack.host_data_dir(f"worker-{w}").rglob("*.sqlite3*")]
    assert host_files == [] and not list(stack.data_dir.rglob("*.sqlite3*"))
    assert isinstance(stack.ledger, str) and stack.ledger.startswith("postgresql")
    # Every closure was written once (and only once) to its case's outbox folder.
    closures = [m for r in references for m in final[r].messages if m.kind.value == "closure"]
    assert len(closures) == BATCH
    assert all(writes.counts[(m.key.split("/")[0], file_name(m.key, "email"))] == 1 for m in closures)
    assert all(w.alive() for w in survivors)
    # The kill took work away from it: cases it had touched were finished by the others.
    handled = await asyncio.gather(*(workers_in_history(stack.client, r) for r in references))
    taken_over = [r for r, pids in zip(references, handled) if doomed.process.pid in pids and len(pids) > 1]
    assert taken_over, f"worker-a touched no case before it was killed: {handled}"
    status = await stack.status_json(references[-1])
    assert status["stage"] == "closed"
    assert sorted((m["kind"], m["channel"]) for m in status["messages"]) == sorted(EXPECTED_SENDS)


@pytest.mark.fault_scenario.with_args(worker_killed_mid_batch, stores="postgresql", separate_hosts=True)
async def test_worker_killed_mid_batch_leaves_every_case_acknowledged_introduced_and_closed_once(
    scenarios: Scenarios, request: pytest.FixtureRequest
) -> None:
    await scenarios.outcome(request.node)
