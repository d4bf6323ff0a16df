"""Human facts a handler records (since v3): calls, the schedule the customer agreed, a pause,
corrected contact details, a reassignment.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain import command_checks
    from domain import policy as clocks
    from domain.contact import local_date
    from domain.formatting import local_label
    from domain.models import (
        Assignment,
        Call,
        CallMade,
        CallOutcome,
        ContactChange,
        ContactCorrection,
        Handler,
        MessageKind,
        Reassignment,
        ScheduleAgreed,
        UpdateSchedule,
        UpdatesPaused,
    )

from workflows.case_base import CaseBase
from workflows.payloads import _refuse, _require


class HandlerRecords(CaseBase):
    """Updates recording what happened outside the system."""

    @workflow.update(name="record_call")
    async def record_call(self, made: CallMade) -> Call:
        """A reached call meets the introduction clock ("wherever possible ... by phone"); the
        written follow-up then goes at once if it has not gone yet."""
        await self._until_open()
        state, now = self._state, workflow.now()
        call = Call(at=now, outcome=made.outcome, by=made.recorded_by, note=made.note)
        intro = self._current_introduction()
        owed = (
            made.outcome is CallOutcome.REACHED
            and intro is not None
            and intro.done_at is None
            and intro.superseded_at is None
        )
        owner = state.owner.id if state.owner else None
        if owed and self._v8 and made.recorded_by != owner:
            # v8: "your case handler will contact you ... to introduce themselves": the written
            # follow-up signs as the owner, so only the owner's own call can be that introduction.
            call.not_met = (
                f"the introduction is owed by the case's owner, {owner}" if owner else "the case has no owner yet"
            )
        elif owed and intro is not None:
            intro.done_at = now
            call.met = intro.name
            if intro.name not in self._in_flight:
                self._deliver(MessageKind.INTRODUCTION, [self._written_channel()])
        state.calls.append(call)
        self._wake()
        return call

    @record_call.validator
    def _validate_call(self, made: CallMade) -> None:
        _require(made, CallMade)
        self._refuse_if_closed()

    @workflow.update(name="record_agreement")
    async def record_agreement(self, agreed: ScheduleAgreed) -> UpdateSchedule:
        """What the customer agreed: from now on messages say "as agreed on <date>"."""
        await self._until_open()
        assert self._calendar is not None
        state = self._state
        state.schedule = UpdateSchedule(every=agreed.every, unit=agreed.unit, contact_time=agreed.contact_time)
        state.schedule_agreed_at = workflow.now()
        state.schedule_recorded_by = agreed.recorded_by
        state.update_channel = agreed.channel
        if state.next_update_at is not None:
            state.next_update_at = self._after_pause(
                clocks.next_update_at(workflow.now(), state.schedule, self._calendar)
            )
            self._deliver(MessageKind.UPDATE_SCHEDULE, [self._written_channel()])
        self._wake()
        return state.schedule

    @record_agreement.validator
    def _validate_agreement(self, agreed: ScheduleAgreed) -> None:
        _require(agreed, ScheduleAgreed)
        self._refuse_if_closed()
        _refuse(command_checks.updates_stopped_refusal(self._state, "there are no updates to agree a schedule for"))
        _refuse(
            command_checks.agreement_refusal(
                self._policy, self._customer, agreed, texts_stopped=not self._texts_allowed()
            )
        )

    @workflow.update(name="pause_updates")
    async def pause_updates(self, pause: UpdatesPaused) -> str:
        await self._until_open()
        state = self._state
        state.updates_paused_until = pause.until
        state.updates_pause_reason = pause.reason
        if state.next_update_at is not None:
            state.next_update_at = self._after_pause(state.next_update_at)
        self._wake()
        when = local_label(state.next_update_at) if state.next_update_at else "after the pause"
        return f"regular updates paused until {pause.until.isoformat()}; next update {when}; the 8-week clock runs on"

    @pause_updates.validator
    def _validate_pause(self, pause: UpdatesPaused) -> None:
        _require(pause, UpdatesPaused)
        self._refuse_if_closed()
        _refuse(command_checks.updates_stopped_refusal(self._state, "there are no updates to pause"))
        today = local_date(workflow.now(), self._policy.calendar.timezone)
        _refuse(command_checks.pause_refusal(self._policy, pause, today))

    @workflow.update(name="correct_contact")
    async def correct_contact(self, correction: ContactCorrection) -> list[str]:
        """Every later message uses the corrected details; the record keeps which fields changed,
        when and by whom, never the old values."""
        await self._until_open()
        state = self._state
        changes = self._corrected(correction)
        state.customer = self._customer.model_copy(update=changes)
        fields = [f for f in changes if f != "phone_is_mobile"]
        state.contact_changes.append(ContactChange(at=workflow.now(), by=correction.recorded_by, fields=fields))
        self._publish_contact_keys(correction)
        if state.update_channel is not None and state.update_channel not in self._reachable():
            # The agreed channel no longer reaches them: updates go phone first, then in writing,
            # and the owner is asked to agree another.
            lost = state.update_channel
            state.update_channel = None
            if state.owner is not None:
                self._alert(
                    state.owner.role,
                    f"{state.reference}: the agreed update channel ({lost.value}) no longer reaches the customer",
                    "Their corrected details cannot take it. Updates now go by phone first, then in writing; "
                    "agree another channel with the customer (admin.py agree).",
                    to_handler=state.owner.id,
                )
        self._wake()
        return fields

    def _corrected(self, correction: ContactCorrection) -> dict[str, object]:
        return command_checks.contact_changes(correction)

    @correct_contact.validator
    def _validate_contact(self, correction: ContactCorrection) -> None:
        _require(correction, ContactCorrection)
        self._refuse_if_closed()
        _refuse(command_checks.contact_refusal(self._customer, correction))

    @workflow.update(name="reassign")
    async def reassign(self, move: Reassignment) -> Handler:
        """A new owner at the same level introduces themselves with direct details, as on
        escalation, without moving up the ladder."""
        await self._until_open()
        state, now = self._state, workflow.now()
        state.awaiting_owner = None  # a reassignment fills a roster gap too
        self._roster_gap = False
        self._take_ownership(
            Assignment(handler=move.to, reason=f"reassigned by {move.recorded_by}: {move.reason}", assigned_at=now)
        )
        self._new_introduction_clock(now)
        self._notify_new_owner(move.to)
        self._wake()
        return move.to

    @reassign.validator
    def _validate_reassign(self, move: Reassignment) -> None:
        _require(move, Reassignment)
        self._refuse_if_closed()
        _refuse(command_checks.reassign_refusal(self._state, self._policy, move))
