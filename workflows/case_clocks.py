"""What is due and when, derived from the state: the plan of timed steps, the clocks' warnings
and breach checks, and the owner's reminders.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import TypeGuard

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain import case_plan, milestones
    from domain.case_plan import PlannedStep, Step
    from domain.formatting import local_label
    from domain.models import CaseRole, Milestone

from workflows.case_base import CaseBase
from workflows.case_constants import KEPT_ALERTS


class CaseClocks(CaseBase):
    """The case's clocks: every timed step still to come, and what to do when one comes due."""

    def _clock(self, name: str, start: datetime, due: datetime, warn: bool = True) -> Milestone:
        return milestones.clock(self._policy, name, start, due, warn)

    def _planned(self) -> list[tuple[datetime, str, Callable[[], None]]]:
        """Every timed step still to come: (when, what, how to start it)."""
        if self._v3:
            return self._planned_v3()
        assert self._state.deadlines is not None and self._calendar is not None
        steps = case_plan.planned_v1(
            self._state, self._policy, self._calendar, workflow.now(), in_flight=self._in_flight
        )
        return [self._action(step) for step in steps]

    def _planned_v3(self) -> list[tuple[datetime, str, Callable[[], None]]]:
        """v3: the same steps, in the order a customer must receive them (see `case_plan.planned_v3`)."""
        assert self._state.deadlines is not None and self._calendar is not None
        steps = case_plan.planned_v3(
            self._state,
            self._policy,
            self._calendar,
            self._customer,
            workflow.now(),
            in_flight=self._in_flight,
            closing=self._closing,
            roster_gap=self._roster_gap,
            closed_loop=self._v4,
            reminders_from_now=self._v6,
        )
        return [self._action(step) for step in steps]

    def _action(self, planned: PlannedStep) -> tuple[datetime, str, Callable[[], None]]:
        """A planned step as (when, what, how to start it): the shell's side of the plan."""
        step = planned.step
        action: Callable[[], None]
        if step is Step.WARN and planned.milestone is not None:
            action = partial(self._warn, planned.milestone)
        elif step is Step.CHECK_BREACH and planned.milestone is not None:
            action = partial(self._breach, planned.milestone)
        elif step is Step.REMIND and planned.reminder is not None:
            action = partial(self._remind, planned.reminder.key, planned.reminder.what)
        elif step is Step.DEFERRED_TEXT and planned.text is not None:
            action = partial(self._send_deferred_text, planned.text)
        else:
            action = {
                Step.ACKNOWLEDGE: self._send_acknowledgement,
                Step.INTRODUCE: self._send_introduction,
                Step.START_UPDATES: self._start_regular_updates,
                Step.REGULAR_UPDATE: self._send_progress_update,
                Step.ADR_LETTER: self._send_adr_letter_at_eight_weeks,
            }[step]
        return planned.at, planned.what, action

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

    def _eight_weeks(self) -> datetime:
        return milestones.eight_weeks(self._state)

    def _settled(self, milestone: Milestone | None) -> bool:
        return milestones.settled(milestone, self._in_flight)

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

    def _pending(self, milestone: Milestone | None) -> TypeGuard[Milestone]:
        return milestones.pending(milestone, self._in_flight)

    def _current_introduction(self) -> Milestone | None:
        return milestones.current_introduction(self._state)

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
