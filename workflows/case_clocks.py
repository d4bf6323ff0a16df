"""What is due and when, derived from the state: the plan of timed steps, the clocks' warnings
and breach checks, and the owner's reminders.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain import policy as clocks
    from domain.formatting import local_label
    from domain.models import (
        CaseRole,
        CaseStage,
        ChannelKind,
        Milestone,
    )

from workflows.case_base import CaseBase
from workflows.case_constants import (
    ACKNOWLEDGEMENT,
    ADR_RIGHTS,
    INTRODUCTION,
    KEPT_ALERTS,
    REVIEW,
    REVIEW_LEAD,
)


class CaseClocks(CaseBase):
    """The case's clocks: every timed step still to come, and what to do when one comes due."""

    def _clock(self, name: str, start: datetime, due: datetime, warn: bool = True) -> Milestone:
        share = self._policy.warning_share
        warn_at = start + (due - start) * share if warn and share > 0 else None
        return Milestone(name=name, due_at=due, warn_at=warn_at)

    def _planned(self) -> list[tuple[datetime, str, Callable[[], None]]]:
        """Every timed step still to come: (when, what, how to start it)."""
        if self._v3:
            return self._planned_v3()
        state, now = self._state, workflow.now()
        assert state.deadlines is not None and self._calendar is not None
        plan: list[tuple[datetime, str, Callable[[], None]]] = []

        ack = state.milestone(ACKNOWLEDGEMENT)
        if self._pending(ack):
            plan.append((now, "send the acknowledgement", self._send_acknowledgement))
        intro = self._current_introduction()
        # The acknowledgement goes first, so the customer has the reference before anyone calls.
        ack_settled = ack is None or ack.done_at is not None or ack.undeliverable_at is not None
        if intro is not None and self._pending(intro) and ack_settled:
            when = clocks.contact_moment(now, intro.due_at, self._calendar)
            plan.append(
                (when, f"introduce {state.owner.name if state.owner else 'the handler'}", self._send_introduction)
            )
        review = state.milestone(REVIEW)
        if self._pending(review) and state.stage is not CaseStage.DEADLOCK:
            # A few minutes early, so the message is out by the 3-working-day mark, not just after it.
            send_at = review.due_at - REVIEW_LEAD
            plan.append((send_at, "agree the update schedule (3 working days)", self._start_regular_updates))
        if state.next_update_at is not None and state.stage is not CaseStage.DEADLOCK:
            plan.append((state.next_update_at, "send the regular update", self._send_progress_update))
        adr = state.milestone(ADR_RIGHTS)
        if self._pending(adr):
            send_at = adr.due_at - timedelta(hours=self._policy.adr_notice_lead_hours)
            plan.append((send_at, "send the ADR-rights letter (8 weeks)", self._send_adr_letter_at_eight_weeks))
        # No update schedule is owed once the provider has issued deadlock.
        plan += self._clock_checks(lambda m: state.stage is CaseStage.DEADLOCK and m.name == REVIEW)
        return plan

    def _planned_v3(self) -> list[tuple[datetime, str, Callable[[], None]]]:
        """v3: the same steps, in the order a customer must receive them, with superseded clocks
        closed and the 8-week letter at the mark. Listed in order of precedence: steps due at
        once start in this order, so their messages are numbered in it."""
        state, now = self._state, workflow.now()
        assert state.deadlines is not None and self._calendar is not None
        plan: list[tuple[datetime, str, Callable[[], None]]] = []
        if self._closing:
            return plan

        ack = state.milestone(ACKNOWLEDGEMENT)
        if self._pending(ack):
            plan.append((now, "send the acknowledgement", self._send_acknowledgement))
        # Nothing else reaches the customer before the acknowledgement has settled.
        if self._settled(ack):
            intro = self._current_introduction()
            if intro is not None and self._pending(intro) and state.owner is not None and state.awaiting_owner is None:
                when = clocks.contact_moment(now, intro.due_at, self._calendar)
                plan.append((when, f"introduce {state.owner.name}", self._send_introduction))
            # The introduction goes before the schedule offer, unless a roster gap holds it back.
            gap = state.awaiting_owner is not None and self._roster_gap
            intro_first = (
                intro is None or self._settled(intro) or gap or (state.owner is None and state.awaiting_owner is None)
            )
            review = state.milestone(REVIEW)
            if self._pending(review) and intro_first and state.stage is not CaseStage.DEADLOCK:
                # A few minutes early, so the offer is out by the 3-working-day mark, not just after it.
                plan.append(
                    (
                        review.due_at - REVIEW_LEAD,
                        "offer an update schedule (3 working days)",
                        self._start_regular_updates,
                    )
                )
            if state.next_update_at is not None and state.stage is not CaseStage.DEADLOCK:
                plan.append((state.next_update_at, "send the regular update", self._send_progress_update))
            adr = state.milestone(ADR_RIGHTS)
            if self._pending(adr):
                plan.append(
                    (
                        self._adr_send_at(adr),
                        "send the ADR-rights letter (8 weeks)",
                        self._send_adr_letter_at_eight_weeks,
                    )
                )
            for when, key, what in self._reminders_due():
                plan.append((when, f"remind the owner: {what}", partial(self._remind, key, what)))
            for text in state.deferred_texts:
                plan.append(
                    (
                        text.not_before,
                        f"text the {text.kind.value.replace('_', ' ')} (after the quiet hours)",
                        partial(self._send_deferred_text, text),
                    )
                )
        plan += self._clock_checks(lambda m: m.superseded_at is not None)
        return plan

    def _clock_checks(self, not_owed: Callable[[Milestone], bool]) -> list[tuple[datetime, str, Callable[[], None]]]:
        """The warning at its share of each open clock, and the breach check at its due time."""
        checks: list[tuple[datetime, str, Callable[[], None]]] = []
        for milestone in self._state.milestones:
            if milestone.done_at is not None or milestone.breached or not_owed(milestone):
                continue
            if milestone.warn_at is not None and not milestone.warned:
                checks.append(
                    (milestone.warn_at, f"warn the owner {milestone.name} is due", partial(self._warn, milestone))
                )
            checks.append(
                (milestone.due_at, f"check {milestone.name} was done in time", partial(self._breach, milestone))
            )
        return checks

    def _reminders_due(self) -> list[tuple[datetime, str, str]]:
        """The owner is reminded ahead of each phone contact owed: the introduction and each
        regular update (policy `reminder_lead_hours`)."""
        state, lead = self._state, timedelta(hours=self._policy.reminder_lead_hours)
        if state.owner is None or not lead:
            return []
        due: list[tuple[datetime, str, str]] = []
        intro = self._current_introduction()
        if intro is not None and intro.done_at is None and intro.superseded_at is None and not intro.breached:
            due.append(
                (
                    intro.due_at - lead,
                    f"{intro.name}@{intro.due_at.isoformat()}",
                    f"call the customer to introduce yourself by {local_label(intro.due_at)}",
                )
            )
        if state.next_update_at is not None and state.stage is not CaseStage.DEADLOCK:
            at = state.next_update_at
            due.append(
                (
                    at - lead,
                    f"update@{at.isoformat()}",
                    f"call the customer before the regular update at {local_label(at)}",
                )
            )
        assert self._calendar is not None
        # In working hours: a 10:00 update is reminded at 09:00, not at 06:00.
        timely = []
        for when, key, what in due:
            at_work = self._calendar.next_working_moment(when)
            due_at = when + lead
            timely.append((at_work if at_work < due_at else when, key, what))
        return [d for d in timely if d[1] not in state.reminded]

    def _remind(self, key: str, what: str) -> None:
        state = self._state
        state.reminded = [*state.reminded[-(KEPT_ALERTS - 1) :], key]
        owner = state.owner
        if owner is not None:
            self._alert(
                owner.role,
                f"{state.reference}: reminder: {what}",
                f"Reminder for case {state.reference}: {what}.",
                to_handler=owner.id,
                kind="reminder",
            )

    def _adr_send_at(self, adr: Milestone) -> datetime:
        """At the 8-week mark, when the customer's right begins; a posted letter may go earlier,
        by the policy's lead, and is then worded for the date the right begins."""
        mark = self._eight_weeks()
        if self._written_channel() is ChannelKind.LETTER and self._policy.adr_notice_lead_hours:
            return mark - timedelta(hours=self._policy.adr_notice_lead_hours)
        return mark

    def _eight_weeks(self) -> datetime:
        assert self._state.deadlines is not None
        return self._state.deadlines.adr_due

    def _settled(self, milestone: Milestone | None) -> bool:
        """Nothing more will be sent for it: done, undeliverable or superseded (or not owed at all)."""
        return milestone is None or (
            milestone.name not in self._in_flight
            and (
                milestone.done_at is not None
                or milestone.undeliverable_at is not None
                or milestone.superseded_at is not None
            )
        )

    def _start_work_that_is_due(self) -> None:
        now = workflow.now()
        if self._v3:
            # Stable by precedence among steps already due: a late-keyed case sends the
            # acknowledgement before the (overdue) schedule offer, not in order of their due times.
            planned = self._planned()
            due = [action for when, _, action in planned if when <= now]
            for action in due:
                action()
            return
        for when, _, action in sorted(self._planned(), key=lambda p: p[0]):
            if when <= now:
                action()

    def _next_wake(self) -> tuple[datetime | None, str]:
        future = [(when, what) for when, what, _ in self._planned() if when > workflow.now()]
        if not future:
            return None, "waiting for the customer or the handler"
        return min(future, key=lambda p: p[0])

    def _pending(self, milestone: Milestone | None) -> bool:
        return (
            milestone is not None
            and milestone.done_at is None
            and milestone.undeliverable_at is None
            and milestone.superseded_at is None
            and milestone.name not in self._in_flight
        )

    def _current_introduction(self) -> Milestone | None:
        intros = [m for m in self._state.milestones if m.name.startswith(INTRODUCTION)]
        return intros[-1] if intros else None

    def _warn(self, milestone: Milestone) -> None:
        milestone.warned = True
        owner = self._state.owner
        role = owner.role if owner else CaseRole.CASE_HANDLER
        if self._v3:
            if workflow.now() >= milestone.due_at:
                return  # already late (a complaint keyed in late): the breach alert says so, once
            if owner is None and self._state.awaiting_owner is not None:
                role = self._state.awaiting_owner  # nobody owns it yet: the role it is waiting for
        self._alert(
            role,
            f"{self._state.reference}: {milestone.name} due {local_label(milestone.due_at)}",
            f"{int(self._policy.warning_share * 100)}% of the time for the {milestone.name} has gone "
            f"and it is not done yet. It is due {local_label(milestone.due_at)}.",
            to_handler=owner.id if owner else None,
        )

    def _breach(self, milestone: Milestone) -> None:
        milestone.breached = True
        self._count("complaints_milestones_missed", "Milestones missed", milestone=milestone.name.split("_")[0])
        self._alert(
            CaseRole.CUSTOMER_SERVICE_MANAGER,
            f"{self._state.reference}: {milestone.name} missed its deadline",
            f"The {milestone.name} for case {self._state.reference} was due "
            f"{local_label(milestone.due_at)} and has not been done.",
        )
