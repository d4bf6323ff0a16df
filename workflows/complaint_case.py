"""One complaint, from receipt to closure, as the Customer Complaints Code describes it.

The workflow keeps the case's facts (milestones, messages, notes) in `CaseState` and derives what
to do next from them, so the same state carries over a continue-as-new unchanged. Everything that
touches the world (calendar look-ups, sends, billing, the roster) is an activity, so history
records it and replay never repeats it.

This module is the shell: `__init__`, `run` and the main loop. Its parts live beside it, one concern
a module: the clocks (`case_clocks`), the steps that reach the customer (`case_steps`), sending
(`case_sends`), owners and alerts (`case_owners`), the customer's facts (`customer_facts`), the
handler's commands (`handler_commands`, `handler_compensation`, `handler_records`) and what staff see
(`case_record`).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.case_setup import compute_case_deadlines
    from domain.calendar import WorkingCalendar
    from domain.formatting import local_label
    from domain.models import CaseInput, CaseStage, CaseState, CaseSummary, DeadlineRequest, NotSatisfied, Satisfied
    from domain.next_action import owner_next_action

from workflows.case_base import CaseBase
from workflows.case_clocks import CaseClocks
from workflows.case_constants import (
    ACKNOWLEDGEMENT,
    ADR_RIGHTS,
    ADR_SEND_GRACE,
    ASK_LAPSES,
    CLOSED_LOOP,
    DELTA_MEMO,
    INTRODUCTION,
    LEAN_RECEIPTS,
    LOCAL_FIRST_ATTEMPT,
    REOPEN_WINDOW,
    REVIEW,
    SETUP_RETRY,
    TRUTHFUL_CASE,
)
from workflows.case_owners import CaseOwners
from workflows.case_record import CaseRecordKeeping
from workflows.case_sends import CaseSends
from workflows.case_steps import CaseSteps
from workflows.customer_facts import CustomerFacts
from workflows.customer_loop import CustomerLoop
from workflows.handler_commands import HandlerCommands
from workflows.handler_compensation import HandlerCompensation
from workflows.handler_records import HandlerRecords


@workflow.defn(name="ComplaintCase")
class ComplaintCase(
    CustomerLoop,
    CustomerFacts,
    HandlerCommands,
    HandlerCompensation,
    HandlerRecords,
    CaseOwners,
    CaseSteps,
    CaseClocks,
    CaseSends,
    CaseRecordKeeping,
    CaseBase,
):
    @workflow.init
    def __init__(self, input: CaseInput) -> None:
        self._input = input
        self._policy = input.policy
        self._filed_customer = input.intake.customer
        self._state = input.carried_state or CaseState(reference=input.reference)
        self._calendar: WorkingCalendar | None = None
        self._facts: list[NotSatisfied | Satisfied | str] = []  # SATISFIED (no details), Satisfied, NotSatisfied
        self._in_flight: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._woken = False
        self._timer: asyncio.Task[None] | None = None
        self._timer_at: datetime | None = None
        self._published: dict[str, object] = {}
        self._local_attempts = 0
        self._launching = 0
        self._local_first = False  # set by run(): see LOCAL_FIRST_ATTEMPT
        self._v3 = False  # set by run(): see TRUTHFUL_CASE
        self._v4 = False  # set by run(): see CLOSED_LOOP
        self._v5 = False  # set by run(): see DELTA_MEMO
        self._v6 = False  # set by run(): see LEAN_RECEIPTS
        self._v7 = False  # set by run(): see REOPEN_WINDOW
        self._closing = False
        self._roster_gap = False  # an assignment's first attempt failed: the roster cannot answer
        # Sends that left their first attempt and are retrying: withdrawn if the case closes.
        self._retrying: dict[str, asyncio.Task[None]] = {}
        self._send_tasks: dict[str, asyncio.Task[None]] = {}
        self._message_tags: dict[int, tuple[str | None, str | None]] = {}

    # --- the case's life ----------------------------------------------------------------------

    @workflow.run
    async def run(self, input: CaseInput) -> CaseSummary:
        # Decided before anything else, in the run's first workflow task: asked later (after a
        # local activity), a replay could ask before the server tells it the marker exists, when a
        # query or a heartbeat had put the marker in the next task, and take the other path.
        # The newest patch is asked first: it implies every earlier one, so a case begun on v5 or later
        # records one patch marker instead of four (each marker brings a TemporalChangeVersion
        # upsert: a visibility write and history bytes). A history from before v5 has no such
        # marker and takes the earlier patches' decisions, in their order, as it always did.
        self._v8 = workflow.patched(ASK_LAPSES)
        self._v7 = self._v8 or workflow.patched(REOPEN_WINDOW)
        self._v6 = self._v7 or workflow.patched(LEAN_RECEIPTS)
        self._v5 = self._v6 or workflow.patched(DELTA_MEMO)
        if self._v5:
            self._local_first = self._v3 = self._v4 = True
        else:
            self._local_first = workflow.patched(LOCAL_FIRST_ATTEMPT)
            self._v3 = self._local_first and workflow.patched(TRUTHFUL_CASE)
            self._v4 = self._v3 and workflow.patched(CLOSED_LOOP)
        if self._v3 and input.reference != workflow.info().workflow_id:
            # A reference is the customer's name for the case: one that is not this workflow's id
            # would send messages and write evidence under another case's reference.
            raise ApplicationError(
                f"reference {input.reference!r} is not this case's workflow id {workflow.info().workflow_id!r}",
                type="ReferenceMismatch",
                non_retryable=True,
            )
        try:
            return await self._run_case(input)
        except asyncio.CancelledError:
            if self._v3:
                # However a case ends, its compliance record reaches the archive (a terminated
                # case runs no code: admin.py writes its evidence before terminating).
                self._state.attention = "the case was cancelled"
                await self._archive(closing=False)
            raise

    async def _run_case(self, input: CaseInput) -> CaseSummary:
        await self._open_case()
        if self._v3 and input.reopened_by is not None and self._state.stage is CaseStage.CLOSED:
            self._reopen(input.reopened_by)
        while self._state.stage is not CaseStage.CLOSED:
            if self._v3:
                # What is due goes before the customer's answers are acted on: the acknowledgement
                # is always the case's first message, and a task retried after a crash takes the
                # same first steps as the attempt that died.
                self._start_work_that_is_due()
            await self._act_on_customer_facts()
            if self._closed():
                break
            self._start_work_that_is_due()
            if self._local_first:
                await asyncio.sleep(0)  # the sends just started reach their first attempt
            if not self._local_attempts:
                # Once per workflow task: the first attempts still running finish inside this one.
                self._publish()
            if self._history_is_long() and self._quiet():
                workflow.continue_as_new(
                    CaseInput(
                        reference=input.reference,
                        intake=input.intake,
                        policy=input.policy,
                        carried_state=self._state,
                    )
                )
            await self._sleep_until_something_happens()
        self._cancel_timer()
        await workflow.wait_condition(lambda: not self._in_flight and workflow.all_handlers_finished())
        await self._archive()
        self._publish()
        assert self._state.closed_at is not None
        # v4: the state is in the archive record just written; history need not hold it twice.
        state = None if self._v4 else self._state
        return CaseSummary(reference=self._state.reference, closed_at=self._state.closed_at, state=state)

    async def _open_case(self) -> None:
        state = self._state
        if state.deadlines is None:
            state.deadlines = await workflow.execute_local_activity(
                compute_case_deadlines,
                DeadlineRequest(received_at=self._input.intake.received_at, policy=self._policy),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=SETUP_RETRY,
                summary="Work out the case's deadlines on the working calendar",
            )
            d = state.deadlines
            received = self._input.intake.received_at
            state.milestones += [
                self._clock(ACKNOWLEDGEMENT, received, d.acknowledgement_due),
                self._clock(INTRODUCTION, received, d.introduction_due),
                # Sent at (or just before) their due time by design: nothing to warn about early.
                self._clock(REVIEW, received, d.review_due, warn=False),
                # v3 sends it at the mark itself, so its clock allows the send's own time.
                self._clock(
                    ADR_RIGHTS, received, d.adr_due + (ADR_SEND_GRACE if self._v3 else timedelta(0)), warn=False
                ),
            ]
            self._count("complaints_cases_opened", "Complaint cases opened")
        self._calendar = WorkingCalendar.from_spec(self._policy.calendar, state.deadlines.holidays)
        if self._v3:
            if state.owner is None and state.awaiting_owner is None:
                # In the background: the acknowledgement and every clock go on during a roster gap.
                self._find_owner(self._first_owner_role())
        elif state.owner is None:
            self._take_ownership(await self._assign(self._policy.escalation_ladder[0]))
        if not self._local_first:
            self._publish()  # since v2 the main loop publishes once the first sends are done

    async def _sleep_until_something_happens(self) -> None:
        wake_at, why = self._next_wake()
        label = why if wake_at is None else f"{why} at {local_label(wake_at)}"
        # v4: planned again once this task's first attempts end (see _plan_in_passing).
        deferred = wake_at != self._timer_at and self._plan_in_passing()
        if wake_at != self._timer_at and not deferred:
            # One timer at a time, replaced only when the next step moves: a signal or a finished
            # send does not cost a cancelled and restarted timer in history.
            self._cancel_timer()
            if wake_at is not None:
                delay = max(wake_at - workflow.now(), timedelta(seconds=1))
                self._timer = asyncio.create_task(workflow.sleep(delay, summary=label))
                self._timer_at = wake_at
        self._woken = False
        details = f"Case {self._state.reference} ({self._state.stage.value}): next, {label}"
        action = owner_next_action(self._state) if self._v3 else None
        if action:
            details += f". Owner to do: {action}"
        workflow.set_current_details(details)
        timer = self._timer
        await workflow.wait_condition(
            lambda: self._woken or (timer is not None and timer.done()) or (deferred and not self._local_attempts)
        )
        if timer is not None and timer.done():
            self._timer, self._timer_at = None, None

    def _plan_in_passing(self) -> bool:
        """v4: while first attempts run inside this workflow task, the plan passes through moments
        that do not last (an escalation's new introduction clock, with its warning and reminder,
        until the new owner is found and introduced a moment later). The timer is left as it is
        until they have all ended (seconds at most, however they end: one that fails goes on as a
        regular activity), then the loop plans again and starts at once whatever fell due
        meanwhile. Not a timer cancelled and started again."""
        return self._v4 and self._local_attempts > 0

    def _cancel_timer(self) -> None:
        if self._timer is not None and not self._timer.done():
            self._timer.cancel()
        self._timer, self._timer_at = None, None

    def _closed(self) -> bool:
        """Read afresh: a fact acted on in the loop's body may have closed the case since its check."""
        return self._state.stage is CaseStage.CLOSED

    def _history_is_long(self) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= self._policy.continue_as_new_after_events
        )

    def _quiet(self) -> bool:
        return not self._in_flight and not self._facts and workflow.all_handlers_finished()
