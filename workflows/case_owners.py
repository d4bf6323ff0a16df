"""Who owns the case: the first assignment, finding an owner in the background, escalation up the
ladder, re-opening, and the alerts staff receive.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.alerts import AlertActivities
    from activities.case_setup import CaseAssignmentActivities
    from domain import ownership
    from domain.formatting import local_label
    from domain.models import (
        AlertRequest,
        Assignment,
        AssignmentRequest,
        CaseRole,
        CaseStage,
        Escalation,
        Handler,
        MessageKind,
        NotSatisfied,
    )
    from domain.next_action import owner_next_action
    from domain.vendor_queues import staff_queue

from workflows.case_base import CaseBase
from workflows.case_constants import (
    INTRODUCTION,
    KEPT_ALERTS,
    ROSTER_RETRY,
    SETUP_RETRY,
)
from workflows.case_failures import FIRST_ATTEMPT_FAILED, _last_error


class CaseOwners(CaseBase):
    """Owners and staff alerts."""

    def _first_owner_role(self) -> CaseRole:
        """A vulnerable customer's case may start with a senior owner (see `ownership.first_owner_role`)."""
        return ownership.first_owner_role(self._state, self._policy, self._customer)

    def _find_owner(
        self, role: CaseRole, exclude: list[str] | None = None, escalation: Escalation | None = None
    ) -> None:
        self._state.awaiting_owner = role
        self._launch(f"assign-{role.value}", self._take_owner_when_found(role, exclude or [], escalation))

    async def _take_owner_when_found(self, role: CaseRole, exclude: list[str], escalation: Escalation | None) -> None:
        assignment = await self._assign(role, exclude)
        state = self._state
        if state.awaiting_owner is not role:
            return  # a later escalation asked for a more senior owner meanwhile
        state.awaiting_owner = None
        self._roster_gap = False
        self._take_ownership(assignment)
        self._notify_new_owner(assignment.handler)
        if escalation is not None:
            escalation.to_handler = assignment.handler.id
            if state.stage is not CaseStage.CLOSED and not self._closing:
                self._deliver(MessageKind.ESCALATION, [self._written_channel()], escalation_reason=escalation.reason)

    async def _assign(self, role: CaseRole, exclude: list[str] | None = None) -> Assignment:
        """Retries until the roster can answer; a first window that fails flags the case for attention."""
        request = AssignmentRequest(reference=self._state.reference, role=role, exclude_handler_ids=exclude or [])
        window: timedelta | None = timedelta(minutes=self._policy.attention_after_minutes)
        what = f"assigning a {role.title}"
        assignment: Assignment | None = None
        if self._local_first:
            try:
                assignment = await self._first_attempt(
                    CaseAssignmentActivities.assign_case_handler, request, summary=f"Assign a {role.title}"
                )
            except FIRST_ATTEMPT_FAILED:
                self._roster_gap = True  # the regular activity below retries it where on-call can see it
        while assignment is None:
            try:
                assignment = await workflow.execute_activity_method(
                    CaseAssignmentActivities.assign_case_handler,
                    request,
                    start_to_close_timeout=timedelta(seconds=30),
                    schedule_to_close_timeout=window,
                    retry_policy=ROSTER_RETRY if self._v3 else SETUP_RETRY,
                    summary=f"Assign a {role.title}",
                )
            except ActivityError as err:
                if self._v3 and window is not None:
                    self._alert(
                        CaseRole.CUSTOMER_SERVICE_MANAGER,
                        f"{self._state.reference}: no {role.title} can be assigned",
                        f"Assigning a {role.title} keeps failing ({_last_error(err)}). The case's clocks "
                        "run on; fix the roster and the case takes its owner at once.",
                    )
                self._state.attention = f"{what} keeps failing: {_last_error(err)}"
                self._publish()
                window = None  # from now on, until someone fixes the roster
        if self._state.attention and self._state.attention.startswith(what):
            self._state.attention = None
        return assignment

    def _take_ownership(self, assignment: Assignment) -> None:
        self._state.owner = assignment.handler
        self._state.assignments.append(assignment)

    def _notify_new_owner(self, owner: Handler) -> None:
        """A new owner is told at once: the case in brief, what they must do next, and the
        customer's vulnerability and accessibility needs."""
        state, c = self._state, self._customer
        lines = [
            f"Case {state.reference}, received {local_label(self._input.intake.received_at)} "
            f"by {self._input.intake.source.value}; stage {state.stage.value}; escalations {len(state.escalations)}.",
            f"Next for you: {owner_next_action(state) or 'nothing due yet'}.",
            f"8-week mark: {local_label(self._eight_weeks())}." if state.deadlines else "",
        ]
        if c.vulnerable or c.accessibility_needs:
            lines.append(
                f"VULNERABLE CUSTOMER: {'yes' if c.vulnerable else 'no'}. Accessibility needs: "
                f"{'; '.join(c.accessibility_needs) or 'none recorded'}. Every contact must take account of them."
            )
        self._alert(
            owner.role,
            f"{state.reference}: a case for you" + (" (vulnerable customer)" if c.vulnerable else ""),
            "\n".join(line for line in lines if line),
            to_handler=owner.id,
            kind="work",
        )

    def _new_introduction_clock(self, now: datetime) -> None:
        ownership.new_introduction_clock(self._state, self._policy, now)

    def _escalate(self, fact: NotSatisfied) -> None:
        """v3: the escalation is recorded at once; the new owner is found in the background and
        introduced when found, so a roster gap never holds the case's other clocks."""
        state = self._state
        ladder = self._policy.escalation_ladder
        previous = state.owner
        now = workflow.now()
        escalation = Escalation(
            at=now,
            reason=fact.reason,
            from_handler=previous.id if previous else "(none yet)",
            to_handler=previous.id if previous else "(none yet)",
            level=state.escalation_level,
            recorded_by=fact.recorded_by,
            how=fact.how.value if fact.how else None,
            said_at=fact.said_at,
        )
        state.escalations.append(escalation)
        state.stage = CaseStage.REOPENED
        top = previous is not None and state.escalation_level + 1 >= len(ladder)
        if not (top and self._v8):
            # A new owner gets a fresh introduction clock; the 8-week clock runs on untouched. At the
            # top of the ladder (v8) the owner stays, already introduced: no clock is owed.
            self._new_introduction_clock(now)
        if state.escalation_level + 1 < len(ladder) or previous is None:
            if state.escalation_level + 1 < len(ladder):
                state.escalation_level += 1
                escalation.level = state.escalation_level
            self._find_owner(
                ladder[state.escalation_level], exclude=[previous.id] if previous else [], escalation=escalation
            )
        else:
            # The top of the ladder: the case is re-opened with its current owner.
            state.assignments.append(
                Assignment(handler=previous, reason="re-opened at the top of the escalation ladder", assigned_at=now)
            )
            self._deliver(
                MessageKind.ESCALATION, [self._written_channel()], escalation_reason=fact.reason, escalation_top=True
            )

    def _reopen(self, fact: NotSatisfied) -> None:
        """The customer came back within the re-open window: the same case re-opened (see
        `ownership.reopen`), and their answer acted on as any other (escalated)."""
        assert self._calendar is not None
        ownership.reopen(self._state, self._policy, self._calendar, fact, workflow.now(), pauses_kept=self._v3)
        self._facts.append(fact)

    async def _reopen_or_escalate(self, fact: NotSatisfied) -> None:
        state = self._state
        ladder = self._policy.escalation_ladder
        previous = state.owner
        assert previous is not None
        if state.escalation_level + 1 < len(ladder):
            state.escalation_level += 1
            assignment = await self._assign(ladder[state.escalation_level], exclude=[previous.id])
        else:
            # The top of the ladder: the case is re-opened with its current owner.
            assignment = Assignment(
                handler=previous,
                reason="re-opened at the top of the escalation ladder",
                assigned_at=workflow.now(),
            )
        count = len(state.escalations) + 1
        state.escalations.append(
            Escalation(
                at=workflow.now(),
                reason=fact.reason,
                from_handler=previous.id,
                to_handler=assignment.handler.id,
                level=state.escalation_level,
            )
        )
        self._take_ownership(assignment)
        state.stage = CaseStage.REOPENED
        # A new owner gets a fresh introduction clock; the 8-week clock runs on untouched.
        state.milestones.append(
            self._clock(
                f"{INTRODUCTION}_{count + 1}",
                workflow.now(),
                workflow.now() + timedelta(hours=self._policy.introduction_hours),
            )
        )
        self._deliver(MessageKind.ESCALATION, [self._written_channel()], escalation_reason=fact.reason)

    def _alert(
        self,
        to: CaseRole,
        subject: str,
        detail: str,
        to_handler: str | None = None,
        *,
        to_team: str | None = None,
        kind: str = "alert",
    ) -> None:
        state = self._state
        state.alerts.append(subject)
        number = len(state.alerts)
        if self._v3:
            # Bounded: a send failing for weeks must not grow every continue-as-new input.
            state.alert_sequence = max(state.alert_sequence, len(state.alerts) - 1) + 1
            number = state.alert_sequence
            del state.alerts[:-KEPT_ALERTS]
            del state.refused[:-KEPT_ALERTS]
        alert = AlertRequest(
            key=f"{state.reference}/alert-{number:03d}",
            reference=state.reference,
            to_role=to,
            to_handler=to_handler,
            subject=subject,
            detail=detail,
            to_team=to_team,
            kind=kind,
            to_email=self._state.owner.email
            if to_handler and self._state.owner and self._state.owner.id == to_handler
            else None,
        )
        self._launch(alert.key, self._raise_alert(alert, f"Alert the {to.title}"))

    async def _raise_alert(self, alert: AlertRequest, summary: str) -> None:
        if self._v4:
            # v4: a first attempt inside the task that raised it, as the sends have; its marker
            # shares that task's one action. A failure is retried as the activity it was before.
            try:
                await self._first_attempt(AlertActivities.raise_internal_alert, alert, summary=summary)
                return
            except FIRST_ATTEMPT_FAILED:
                pass
        await workflow.execute_activity_method(
            AlertActivities.raise_internal_alert,
            alert,
            # v4: the retry queues on the staff queue, which the server holds to the staff notices'
            # share of the e-mail rate, so a rush's reminders wait behind the customers' e-mails.
            task_queue=staff_queue(workflow.info().task_queue) if self._v4 else None,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=SETUP_RETRY,
            summary=summary,
        )
