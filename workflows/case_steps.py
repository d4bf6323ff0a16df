"""The steps of the code that reach the customer: the acknowledgement, the introduction, the
update schedule and each regular update, and the ADR-rights letter at 8 weeks.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain import case_plan, reach
    from domain import policy as clocks
    from domain.formatting import local_label
    from domain.message_context import MessageExtras
    from domain.models import ChannelKind, DeferredText, MessageKind

from workflows.case_base import CaseBase
from workflows.case_constants import ACKNOWLEDGEMENT, ADR_RIGHTS, INTRODUCTION, REVIEW


class CaseSteps(CaseBase):
    """Each step starts a send; the clocks decide when."""

    def _send_acknowledgement(self) -> None:
        if self._v3:
            # Signed by the complaints team: it goes before anyone owns the case, and it says so. It
            # promises the introduction "within 48 hours" only while that is still true.
            intro = self._state.milestone(INTRODUCTION)
            due = intro.due_at if intro is not None and intro.due_at > workflow.now() else None
            self._deliver(
                MessageKind.ACKNOWLEDGEMENT,
                [self._written_channel()],
                milestone=ACKNOWLEDGEMENT,
                handler=None,
                introduction_due_at=due,
            )
            return
        self._deliver(MessageKind.ACKNOWLEDGEMENT, [self._written_channel()], milestone=ACKNOWLEDGEMENT)

    def _send_deferred_text(self, text: DeferredText) -> None:
        self._state.deferred_texts.remove(text)
        if ChannelKind.SMS in self._reachable():
            self._deliver(text.kind, [ChannelKind.SMS], fallback=False)

    def _send_introduction(self) -> None:
        intro = self._current_introduction()
        assert intro is not None
        # "Wherever possible contact will be made by phone and followed up by email."
        owner = self._state.owner
        if self._v3 and owner is not None and self._customer.phone and not self._customer.has_mobile:
            # A landline takes no text: only a person can make this contact by phone.
            self._alert(
                owner.role,
                f"{self._state.reference}: call the customer by {local_label(intro.due_at)}",
                "The customer has a landline only. Phone them to introduce yourself and record the "
                "call (admin.py call); the introduction also goes in writing now.",
                to_handler=owner.id,
            )
        extra: MessageExtras = {}
        review = self._state.milestone(REVIEW)
        if (
            self._state.schedule is None
            and review is not None
            and review.done_at is None
            and review.superseded_at is None
            and review.due_at <= workflow.now()
        ):
            # Keyed in late: the 3 working days are over and the offer is due now, so "if we cannot
            # resolve it within 3 working days" would be untrue (only the message's words change).
            extra["schedule_offer_follows"] = True
        self._deliver(MessageKind.INTRODUCTION, self._phone_then_written(), milestone=intro.name, **extra)

    def _start_regular_updates(self) -> None:
        assert self._calendar is not None
        state = self._state
        if state.schedule is None:
            state.schedule = self._policy.updates
        state.next_update_at = self._after_pause(clocks.next_update_at(workflow.now(), state.schedule, self._calendar))
        self._deliver(MessageKind.UPDATE_SCHEDULE, self._update_channels(), milestone=REVIEW)

    def _after_pause(self, moment: datetime) -> datetime:
        """The customer asked for updates to pause: none before the day they gave (v3)."""
        return case_plan.after_pause(self._state, self._calendar, moment, pauses_kept=self._v3)

    def _update_channels(self) -> list[ChannelKind]:
        return reach.update_channels(self._state, self._customer, agreed_channel_kept=self._v3)

    def _send_progress_update(self) -> None:
        assert self._calendar is not None
        state = self._state
        schedule = state.schedule
        assert schedule is not None
        extra: MessageExtras = {}
        if self._v3:
            # Customer-facing progress goes once, in the first update after it was written;
            # internal notes never go. Nothing new: the update says so (progress_note None).
            fresh = [n for n in state.notes if n.for_customer and n.sent_at is None]
            for n in fresh:
                n.sent_at = workflow.now()
            extra["progress_note"] = "\n\n".join(n.text for n in fresh) or None
        due = state.next_update_at
        assert due is not None
        number = sum(1 for m in state.milestones if m.name.startswith("update_")) + 1
        name = f"update_{number}"
        # An update is on time if it reaches the customer on the agreed working day.
        state.milestones.append(self._clock(name, due, case_plan.regular_update_due(due, self._calendar)))
        following = clocks.next_update_at(due, schedule, self._calendar)
        if following <= workflow.now():
            # The case was held up (an outage, a stopped worker): one late update, not a burst.
            following = clocks.next_update_at(workflow.now(), schedule, self._calendar)
        state.next_update_at = self._after_pause(following)
        channels = self._update_channels()
        if self._v8 and reach.note_cut_short(channels, extra.get("progress_note")):
            # v8: updates agreed by text, and the handler's note for the customer is longer than a
            # text carries: the text says so and the whole update also goes in writing.
            channels = [*channels, self._written_channel()]
            extra["progress_note_in_writing"] = True
        self._deliver(MessageKind.PROGRESS_UPDATE, channels, milestone=name, **extra)

    def _send_adr_letter_at_eight_weeks(self) -> None:
        extra: MessageExtras = {"adr_reason": "eight_weeks"}
        if self._v3 and workflow.now() < self._eight_weeks():
            extra["adr_rights_from"] = self._eight_weeks()  # a posted letter sent ahead of the mark
        self._deliver(MessageKind.ADR_RIGHTS, [self._written_channel()], milestone=ADR_RIGHTS, **extra)
