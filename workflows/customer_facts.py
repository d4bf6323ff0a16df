"""The customer's answers (signals record facts) and what acting on them does: escalate or close."""

from __future__ import annotations

from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.formatting import local_label
    from domain.message_context import MessageExtras
    from domain.models import CaseStage, MessageKind, NotSatisfied, Satisfied
    from domain.ownership import reopen_by

from workflows.case_base import CaseBase
from workflows.case_constants import ACKNOWLEDGEMENT, SATISFIED
from workflows.payloads import _decode


class CustomerFacts(CaseBase):
    """Facts arrive as signals, queue in `_facts`, and are acted on by the main loop in order."""

    # Both take *args and check what arrived: a signal cannot be refused, and one whose payload
    # does not fit its handler's signature would otherwise fail every workflow task of the case.

    @workflow.signal(name="customer_satisfied")
    def customer_satisfied(self, *args: Any) -> None:
        answer: Satisfied | str = SATISFIED  # older clients send no details
        if args:
            decoded = _decode(Satisfied, args)
            if decoded is None:
                # Not what any of our clients sends: too doubtful to close a customer's case on.
                self._state.refused.append("customer_satisfied with unexpected arguments: ignored")
                return
            answer = decoded
        if self._state.stage is not CaseStage.CLOSED:
            self._facts.append(answer)
            self._wake()

    @workflow.signal(name="customer_not_satisfied")
    def customer_not_satisfied(self, *args: Any) -> None:
        fact = _decode(NotSatisfied, args)
        if fact is None:
            self._state.refused.append("customer_not_satisfied without a readable reason: ignored")
            return
        if self._state.stage is CaseStage.CLOSED:
            self._state.refused.append(f"not satisfied after closure: {fact.reason[:80]}")
            return
        self._facts.append(fact)
        self._wake()

    async def _act_on_customer_facts(self) -> None:
        while self._facts:
            fact = self._facts.pop(0)
            if not isinstance(fact, NotSatisfied):
                if self._v3:
                    await self._close_v3(fact)
                else:
                    await self._close()
                return
            if self._v3:
                self._escalate(fact)
            else:
                await self._reopen_or_escalate(fact)

    async def _close_v3(self, answer: Satisfied | str) -> None:
        """The customer is satisfied. The acknowledgement has always gone first; sends still
        retrying are withdrawn, so nothing reaches the customer after the closure confirmation."""
        state = self._state
        if isinstance(answer, Satisfied):
            state.confirmation = answer
        ack = state.milestone(ACKNOWLEDGEMENT)
        if self._pending(ack):
            self._send_acknowledgement()
        await workflow.wait_condition(lambda: self._settled(state.milestone(ACKNOWLEDGEMENT)))
        # What was due when the answer arrived goes first, each step's first attempt finished: a
        # task retried after a worker died mid-send takes the same steps as the attempt that died
        # (the ledger answers for what it had sent), so no sequence number names two messages.
        while True:
            before = (state.message_sequence, len(state.assignments))
            self._start_work_that_is_due()
            await workflow.wait_condition(lambda: self._local_attempts == 0)
            if (state.message_sequence, len(state.assignments)) == before:
                break
        self._closing = True
        for task in self._retrying.values():
            task.cancel()
        await workflow.wait_condition(lambda: not self._send_tasks)
        for text in state.deferred_texts:
            state.messages.append(
                text.withdrawn(state.reference, workflow.now(), "the case closed before the quiet hours ended")
            )
        state.deferred_texts.clear()
        for later in self._facts:
            # Kept in the record, not applied: the customer had confirmed satisfaction first.
            what = f"not satisfied ({later.reason[:80]})" if isinstance(later, NotSatisfied) else "satisfied again"
            if isinstance(later, NotSatisfied) and later.recorded_by:
                what += f", recorded by {later.recorded_by}"
            state.refused.append(f"{local_label(workflow.now())}: {what} arrived after the case closed: not applied")
        state.stage = CaseStage.CLOSED
        state.closed_at = workflow.now()
        state.next_update_at = None
        self._facts.clear()
        self._closing = False
        confirmed: MessageExtras = {}
        if state.closure is not None:
            confirmed = {"closure_outcome": state.closure.outcome.value, "duplicate_of": state.closure.duplicate_of}
        elif state.confirmation is not None:
            confirmed = {
                "confirmed_how": state.confirmation.how.value,
                "confirmed_at": state.confirmation.said_at or state.closed_at,
            }
        self._deliver(MessageKind.CLOSURE, [self._written_channel()], **(confirmed | self._reopening()))

    async def _close(self) -> None:
        state = self._state
        state.stage = CaseStage.CLOSED
        state.closed_at = workflow.now()
        state.next_update_at = None
        self._facts.clear()
        self._deliver(MessageKind.CLOSURE, [self._written_channel()], **self._reopening())

    def _reopening(self) -> MessageExtras:
        """v7: the closure says until when the customer can have the case re-opened."""
        closed_at = self._state.closed_at
        return {"reopen_by": reopen_by(closed_at, self._policy)} if self._v7 and closed_at else {}
