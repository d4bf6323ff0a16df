"""The baseline: a workflow with a case's shape and no work inside it.

Same local activities, activities, timers and signals as the ComplaintCase history it was read from
(see `bench.shape`), each activity a no-op, so `pipeline / baseline` is what the pipeline's own code,
payloads and search attributes cost on top of the engine. Signals and updates are accepted under any
name, so the driver sends the very same `customer_satisfied`, `customer_not_satisfied` and `add_note`
to both.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.common import RawValue, RetryPolicy, SearchAttributeKey

with workflow.unsafe.imports_passed_through():
    from bench.shape import PayloadSizes, Shape

NOOP = "bench_noop"
NOOP_LOCAL = "bench_noop_local"
RETRY = RetryPolicy(maximum_attempts=3)
# One of the pipeline's own search attributes (registered by ops.dev_server), for "with visibility".
STAGE = SearchAttributeKey.for_keyword("CaseStage")


@activity.defn(name=NOOP)
async def noop(ballast: str = "", answer_bytes: int = 0) -> str | None:
    # Does nothing but hand back filler of the case's result size (the payload variant).
    return "x" * answer_bytes if answer_bytes else None


@activity.defn(name=NOOP_LOCAL)
async def noop_local(answer_bytes: int = 0) -> str | None:
    return "x" * answer_bytes if answer_bytes else None


@workflow.defn(name="BaselineCase")
class BaselineCase:
    def __init__(self) -> None:
        self._signals = 0
        self._writes = 0
        self._carry: PayloadSizes | None = None

    @workflow.run
    async def run(self, shape: Shape) -> int | str:
        self._carry = shape.carry
        consumed = 0
        for number, phase in enumerate(shape.phases):
            waits_for_signal = number < len(shape.phases) - 1
            raced = max(phase.raced_timers - (1 if waits_for_signal else 0), 0)
            upserts = (phase.search_attribute_upserts, phase.memo_upserts) if shape.with_visibility else (0, 0)
            for wake, local_activities in enumerate(phase.local_by_wake):
                if wake:
                    await workflow.sleep(shape.fired_timer_seconds)
                for _ in range(local_activities):
                    await workflow.execute_local_activity(
                        NOOP_LOCAL,
                        args=[self._carry.local_result] if self._carry else [],
                        start_to_close_timeout=timedelta(seconds=30),
                    )
                upserts = self._upsert(upserts, everything=False)
            for _ in range(phase.activities):
                upserts = self._upsert(upserts, everything=False)
                if raced > 0:
                    raced -= 1
                    await self._activity_racing_a_timer()
                else:
                    await self._activity()
            self._upsert(upserts, everything=True)
            if waits_for_signal:
                consumed += 1
                try:
                    await workflow.wait_condition(
                        lambda consumed=consumed: self._signals >= consumed,
                        timeout=timedelta(days=shape.signal_timeout_days),
                    )
                except TimeoutError:
                    pass
        if self._carry:
            return "x" * self._carry.workflow_result
        return self._signals

    def _upsert(self, left: tuple[int, int], *, everything: bool) -> tuple[int, int]:
        """One search-attribute and one memo upsert (or all that are left), alongside the next step."""
        attributes, memos = left
        while attributes > 0 or memos > 0:
            self._writes += 1
            if attributes > 0:
                attributes -= 1
                workflow.upsert_search_attributes([STAGE.value_set(f"baseline-{self._writes}")])
            if memos > 0:
                memos -= 1
                workflow.upsert_memo({"outcome": {"writes": self._writes}})
            if not everything:
                break
        return attributes, memos

    async def _activity(self) -> None:
        carry = self._carry
        await workflow.execute_activity(
            NOOP,
            args=["x" * carry.activity_input, carry.activity_result] if carry else [],
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RETRY,
        )

    async def _activity_racing_a_timer(self) -> None:
        # As the case does: sleep until the next deadline unless the send finishes first.
        task = asyncio.create_task(self._activity())
        try:
            await workflow.wait_condition(task.done, timeout=timedelta(days=1))
        except TimeoutError:
            pass
        await task

    @workflow.signal(dynamic=True)
    def any_signal(self, name: str, args: Sequence[RawValue]) -> None:
        self._signals += 1

    @workflow.update(dynamic=True)
    def any_update(self, name: str, args: Sequence[RawValue]) -> None:
        return None

    @workflow.query(name="case_state")
    def case_state(self) -> int:
        return self._signals
