"""The handler's commands (updates with validators, refused before they touch history): notes,
the update schedule, deadlock, closing for another reason, evidence on demand.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain import command_checks
    from domain import policy as clocks
    from domain.models import (
        ArchiveReceipt,
        CaseClosure,
        CaseStage,
        ContactScheduleChange,
        Deadlock,
        MessageKind,
        Note,
        ProgressNote,
        UpdateSchedule,
    )

from workflows.case_base import CaseBase
from workflows.case_constants import ADR_RIGHTS, REVIEW, SATISFIED
from workflows.payloads import _refuse, _require


class HandlerCommands(CaseBase):
    """Updates a case handler sends through admin.py."""

    @workflow.update(name="add_note")
    def add_note(self, note: ProgressNote) -> int:
        self._state.notes.append(
            Note(at=workflow.now(), author=note.author, text=note.text, for_customer=note.for_customer)
        )
        self._wake()
        return len(self._state.notes)

    @add_note.validator
    def _validate_note(self, note: ProgressNote) -> None:
        _require(note, ProgressNote)
        self._refuse_if_closed()
        _refuse(command_checks.note_refusal(self._state, self._policy, note, bounded=self._v3))
        if note.for_customer:
            _refuse(command_checks.updates_stopped_refusal(self._state, "no update will carry a note for the customer"))

    @workflow.update(name="change_update_schedule")
    async def change_update_schedule(self, change: ContactScheduleChange) -> UpdateSchedule:
        await self._until_open()
        assert self._calendar is not None
        state = self._state
        state.schedule_recorded_by = change.recorded_by
        if self._v3 and change.customer_agreed:
            state.schedule_agreed_at = workflow.now()
        elif self._v8:
            # Only offered (`schedule --proposed`): the customer has not agreed this one, so no
            # message may call it agreed, whatever they agreed before.
            state.schedule_agreed_at = None
        current = state.schedule or self._policy.updates
        state.schedule = UpdateSchedule(
            every=change.every,
            unit=change.unit,
            contact_time=change.contact_time or current.contact_time,
        )
        if state.next_update_at is not None:
            # Updates have begun: the new rhythm starts now, and the customer is told.
            state.next_update_at = clocks.next_update_at(workflow.now(), state.schedule, self._calendar)
            self._deliver(MessageKind.UPDATE_SCHEDULE, [self._written_channel()])
        self._wake()
        return state.schedule

    @change_update_schedule.validator
    def _validate_schedule(self, change: ContactScheduleChange) -> None:
        _require(change, ContactScheduleChange)
        self._refuse_if_closed()
        _refuse(command_checks.updates_stopped_refusal(self._state, "there is no update schedule to change"))
        if self._v3 and change.contact_time is not None:
            self._refuse_a_contact_time_at_night(change.contact_time)

    @workflow.update(name="declare_deadlock")
    async def declare_deadlock(self, deadlock: Deadlock) -> str:
        if self._v3:
            return await self._declare_deadlock_v3(deadlock)
        state = self._state
        state.stage = CaseStage.DEADLOCK
        state.next_update_at = None
        state.notes.append(Note(at=workflow.now(), author="deadlock", text=deadlock.reason))
        self._deliver(
            MessageKind.ADR_RIGHTS,
            [self._written_channel()],
            milestone=ADR_RIGHTS,
            adr_reason="deadlock",
        )
        self._wake()
        return "deadlock letter with ADR rights is being sent"

    async def _declare_deadlock_v3(self, deadlock: Deadlock) -> str:
        """Deadlock at any point while open: updates stop, the review is owed no more, and the letter
        with ADR rights goes unless it already has (then the record says the position changed)."""
        await self._until_open()
        state, now = self._state, workflow.now()
        if state.stage is CaseStage.DEADLOCK:
            return "the case is already in deadlock"
        state.stage = CaseStage.DEADLOCK
        state.next_update_at = None
        state.deferred_texts = [t for t in state.deferred_texts if t.kind is not MessageKind.PROGRESS_UPDATE]
        review = state.milestone(REVIEW)
        if review is not None and review.done_at is None and not review.breached and review.superseded_at is None:
            review.superseded_at = now
        intro = self._current_introduction()
        if self._v8 and self._pending(intro) and not intro.breached:
            # v8: the deadlock letter carries the owner's direct details; an introduction after it
            # ("I will investigate your complaint ...") would be untrue, so it is owed no more.
            intro.superseded_at = now
            state.deferred_texts = [t for t in state.deferred_texts if t.kind is not MessageKind.INTRODUCTION]
        state.notes.append(Note(at=now, author="deadlock", text=deadlock.reason, recorded_by=deadlock.recorded_by))
        self._wake()
        if state.adr_letter_sent_at is not None or ADR_RIGHTS in self._in_flight:
            if not self._v8:
                return "deadlock recorded; the ADR-rights letter had already gone, so it is not sent again"
            # v8: the 8-week letter promised more updates, and they stop now: the customer gets the
            # deadlock letter the Code names. The 8-week clock was met by that letter; this one has none.
            self._deliver(
                MessageKind.ADR_RIGHTS,
                [self._written_channel()],
                adr_reason="deadlock",
                deadlock_reason=deadlock.reason,
            )
            return "deadlock recorded; the deadlock letter is being sent (the ADR rights went at 8 weeks)"
        self._deliver(
            MessageKind.ADR_RIGHTS,
            [self._written_channel()],
            milestone=ADR_RIGHTS,
            adr_reason="deadlock",
            deadlock_reason=deadlock.reason,
        )
        return "deadlock letter with ADR rights is being sent"

    @declare_deadlock.validator
    def _validate_deadlock(self, deadlock: Deadlock) -> None:
        _require(deadlock, Deadlock)
        self._refuse_if_closed()
        _refuse(command_checks.deadlock_refusal(self._state, self._in_flight, v3=self._v3))

    @workflow.update(name="close_case")
    async def close_case(self, closure: CaseClosure) -> str:
        """Closed for a reason other than the customer's confirmation. The same closing path: the
        acknowledgement first, nothing after the closure message, the record archived."""
        await self._until_open()
        self._state.closure = closure
        self._facts.append(SATISFIED)  # after any answer already waiting: facts apply in order
        self._wake()
        await workflow.wait_condition(lambda: self._state.stage is CaseStage.CLOSED)
        return f"case {self._state.reference} closed: {closure.outcome.value.replace('_', ' ')}"

    @close_case.validator
    def _validate_closure(self, closure: CaseClosure) -> None:
        _require(closure, CaseClosure)
        self._refuse_if_closed()
        _refuse(command_checks.closure_refusal(self._state, closure, v3=self._v3))

    @workflow.update(name="write_evidence")
    async def write_evidence(self) -> ArchiveReceipt:
        """Write the compliance record now, for a regulator's request on an open case."""
        return await self._archive(closing=False)
