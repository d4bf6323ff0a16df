"""One complaint, from receipt to closure, as the Customer Complaints Code describes it.

The workflow keeps the case's facts (milestones, messages, notes) in `CaseState` and derives what
to do next from them, so the same state carries over a continue-as-new unchanged. Everything that
touches the world (calendar look-ups, sends, billing, the roster) is an activity, so history
records it and replay never repeats it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, time, timedelta
from decimal import Decimal
from functools import partial
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, RetryState
from temporalio.exceptions import CancelledError as TemporalCancelledError
from temporalio.exceptions import TimeoutError as ActivityTimeout

with workflow.unsafe.imports_passed_through():
    from activities.alerts import AlertActivities
    from activities.archive import CaseArchive
    from activities.billing import BillingActivities
    from activities.case_setup import CaseAssignmentActivities, compute_case_deadlines
    from domain import policy as clocks
    from domain import search_attributes as sa
    from domain.calendar import WorkingCalendar
    from domain.compliance_report import case_outcome
    from domain.contact import local_date, local_moment, next_phone_moment, phone_allowed
    from domain.formatting import local_label
    from domain.models import (
        AlertRequest,
        ArchiveReceipt,
        Assignment,
        AssignmentRequest,
        Call,
        CallMade,
        CallOutcome,
        CaseClosure,
        CaseInput,
        CaseRecord,
        CaseRole,
        CaseStage,
        CaseState,
        CaseSummary,
        ChannelKind,
        ClosureOutcome,
        Compensation,
        CompensationAward,
        ContactChange,
        ContactCorrection,
        ContactScheduleChange,
        CreditReceipt,
        Customer,
        DeadlineRequest,
        Deadlock,
        DeferredText,
        DeliveryReceipt,
        Escalation,
        Handler,
        InvoiceCredit,
        MessageContext,
        MessageKind,
        MessageRecord,
        Milestone,
        Note,
        NotSatisfied,
        ProgressNote,
        Reassignment,
        Recipient,
        Reopening,
        Satisfied,
        ScheduleAgreed,
        SendRequest,
        UpdateSchedule,
        UpdatesPaused,
        WrittenChannel,
    )
    from domain.next_action import owner_next_action
    from domain.reference import is_reference
    from domain.vendor_queues import vendor_queue

M = TypeVar("M", bound=BaseModel)

ACKNOWLEDGEMENT = "acknowledgement"
INTRODUCTION = "introduction"
REVIEW = "review"
ADR_RIGHTS = "adr_rights"


def _last_error(err: Exception) -> str:
    """The vendor's own words: a timed-out retry window carries the last attempt's failure."""
    if not isinstance(err, ActivityError):
        return str(err)
    cause = err.cause
    while cause is not None and cause.cause is not None and not isinstance(cause, ApplicationError):
        cause = cause.cause
    return str(cause or err)


def _decode(model: type[M], args: tuple[Any, ...]) -> M | None:
    """One signal argument as `model`, or None if it is missing, extra or unreadable."""
    if len(args) != 1:
        return None
    if isinstance(args[0], model):
        return args[0]
    try:
        return model.model_validate(args[0])
    except ValidationError:
        return None


# A local activity's failure arrives as the activity's own error, not wrapped in an ActivityError.
FIRST_ATTEMPT_FAILED = (ActivityError, ApplicationError, ActivityTimeout)


def _gave_up_for_good(err: Exception) -> bool:
    """A failure that retrying the same input cannot mend (a refused number, a broken template)."""
    cause = err.cause if isinstance(err, ActivityError) else err
    if isinstance(cause, ApplicationError):
        return cause.non_retryable or cause.type in (SEND_RETRY.non_retryable_error_types or [])
    return False


class _Withdrawn(Exception):
    """A send still retrying when the case closed: recorded as withdrawn, never delivered."""


def _require(payload: object, model: type) -> None:
    """Refuse an update whose payload did not decode to its model (e.g. null), before history."""
    if not isinstance(payload, model):
        raise ApplicationError(f"payload: expected a {model.__name__}", type="InvalidPayload")


SATISFIED = "satisfied"
# Since v2: a send, an assignment and the archive write get one first attempt as a local activity
# (one history event, inside the workflow task that needs it) and move to a regular activity, with
# its retry windows and its place in the Web UI's pending activities, only if that attempt fails.
# Decided once per run, first thing: cases begun under v1 keep the v1 path to the end.
LOCAL_FIRST_ATTEMPT = "local-first-attempt"
# Since v3: every message true when it goes out and every clock kept whatever else fails. The
# 8-week letter at the mark; texts only inside the quiet hours; the acknowledgement first and
# before any closure; a roster gap or a billing outage runs in the background instead of holding
# the case; superseded clocks closed, not breached; deadlock at any point; notes internal unless
# meant for the customer; handler commands wait until the case is open. Decided with the v2 patch.
TRUTHFUL_CASE = "truthful-case"
# Since v4: the loop with the customer is closed. Vendors' delivery events and the customer's own
# replies come back into the case (signals from the inbound service); a clock-carrying message that
# bounces falls back to the next channel; YES/NO/STOP replies; search attributes written only when
# a value a person searches on changed. Decided with the v2 and v3 patches.
CLOSED_LOOP = "closed-loop"
SEND_MESSAGE = "send_message"  # activities.messaging.MessagingActivities.send_message
REVIEW_LEAD = timedelta(minutes=5)
KEPT_ALERTS = 50  # v3: the latest alert subjects and refusals a case carries
# v3 sends the 8-week letter at the mark; it is late (a breach) if not out within this.
ADR_SEND_GRACE = timedelta(hours=1)
FALLBACK_ORDER = [ChannelKind.SMS, ChannelKind.EMAIL, ChannelKind.LETTER]

# One try inside the workflow task; a failure is handed to the regular activity, not retried here.
FIRST_ATTEMPT = RetryPolicy(maximum_attempts=1)
FIRST_ATTEMPT_TIMEOUT = timedelta(seconds=20)
# Quick, cheap steps: a few attempts, then the on-call engineer sees a failed activity.
SETUP_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
# A roster gap can last days (v3 keeps every clock meanwhile): retry at most every 15 minutes, and
# `admin.py retry` picks the owner up at once after the fix.
ROSTER_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=15))
SEND_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
    non_retryable_error_types=["PermanentDeliveryError"],
)


@workflow.defn(name="ComplaintCase")
class ComplaintCase:
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
        self._local_first = False  # set by run(): see LOCAL_FIRST_ATTEMPT
        self._v3 = False  # set by run(): see TRUTHFUL_CASE
        self._v4 = False  # set by run(): see CLOSED_LOOP
        self._closing = False
        self._roster_gap = False  # an assignment's first attempt failed: the roster cannot answer
        # Sends that left their first attempt and are retrying: withdrawn if the case closes.
        self._retrying: dict[str, asyncio.Task[None]] = {}
        self._send_tasks: dict[str, asyncio.Task[None]] = {}

    @property
    def _customer(self) -> Customer:
        """The customer's details as a handler corrected them (v3), else as filed."""
        return self._state.customer or self._filed_customer

    # --- the case's life ----------------------------------------------------------------------

    @workflow.run
    async def run(self, input: CaseInput) -> CaseSummary:
        # Decided before anything else, in the run's first workflow task: asked later (after a
        # local activity), a replay could ask before the server tells it the marker exists, when a
        # query or a heartbeat had put the marker in the next task, and take the other path.
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
            if self._state.stage is CaseStage.CLOSED:
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
        return CaseSummary(reference=self._state.reference, closed_at=self._state.closed_at, state=self._state)

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
        if wake_at != self._timer_at:
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
        await workflow.wait_condition(lambda: self._woken or (timer is not None and timer.done()))
        if timer is not None and timer.done():
            self._timer, self._timer_at = None, None

    def _cancel_timer(self) -> None:
        if self._timer is not None and not self._timer.done():
            self._timer.cancel()
        self._timer, self._timer_at = None, None

    def _history_is_long(self) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() >= self._policy.continue_as_new_after_events
        )

    def _wake(self) -> None:
        self._woken = True

    def _quiet(self) -> bool:
        return not self._in_flight and not self._facts and workflow.all_handlers_finished()

    # --- what is due, derived from the state --------------------------------------------------

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

    # --- the steps of the code ----------------------------------------------------------------

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
        self._deliver(MessageKind.INTRODUCTION, self._phone_then_written(), milestone=intro.name)

    def _start_regular_updates(self) -> None:
        assert self._calendar is not None
        state = self._state
        if state.schedule is None:
            state.schedule = self._policy.updates
        state.next_update_at = self._after_pause(clocks.next_update_at(workflow.now(), state.schedule, self._calendar))
        self._deliver(MessageKind.UPDATE_SCHEDULE, self._update_channels(), milestone=REVIEW)

    def _after_pause(self, moment: datetime) -> datetime:
        """The customer asked for updates to pause: none before the day they gave (v3)."""
        state = self._state
        if not self._v3 or state.updates_paused_until is None or state.schedule is None or self._calendar is None:
            return moment
        resume = local_moment(state.updates_paused_until, state.schedule.contact_time, self._calendar.timezone)
        if moment >= resume:
            return moment
        return self._calendar.next_working_day_at(resume, state.schedule.contact_time)

    def _update_channels(self) -> list[ChannelKind]:
        """The channel the customer agreed for updates, if reachable; else phone, then in writing."""
        agreed = self._state.update_channel if self._v3 else None
        if agreed is not None and agreed in self._reachable():
            return [agreed]
        return self._phone_then_written()

    def _send_progress_update(self) -> None:
        assert self._calendar is not None and self._state.schedule is not None
        state = self._state
        extra: dict[str, object] = {}
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
        state.milestones.append(self._clock(name, due, self._calendar.add_working_hours(due, 1)))
        following = clocks.next_update_at(due, state.schedule, self._calendar)
        if following <= workflow.now():
            # The case was held up (an outage, a stopped worker): one late update, not a burst.
            following = clocks.next_update_at(workflow.now(), state.schedule, self._calendar)
        state.next_update_at = self._after_pause(following)
        self._deliver(MessageKind.PROGRESS_UPDATE, self._update_channels(), milestone=name, **extra)

    def _send_adr_letter_at_eight_weeks(self) -> None:
        extra: dict[str, object] = {}
        if self._v3 and workflow.now() < self._eight_weeks():
            extra["adr_rights_from"] = self._eight_weeks()  # a posted letter sent ahead of the mark
        self._deliver(
            MessageKind.ADR_RIGHTS,
            [self._written_channel()],
            milestone=ADR_RIGHTS,
            adr_reason="eight_weeks",
            **extra,
        )

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
                MessageRecord(
                    key=f"{state.reference}/deferred-{text.kind.value}-sms",
                    kind=text.kind,
                    channel=ChannelKind.SMS,
                    status="withdrawn",
                    at=workflow.now(),
                    error="the case closed before the quiet hours ended",
                )
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
        confirmed: dict[str, object] = {}
        if state.closure is not None:
            confirmed = {"closure_outcome": state.closure.outcome.value, "duplicate_of": state.closure.duplicate_of}
        elif state.confirmation is not None:
            confirmed = {
                "confirmed_how": state.confirmation.how.value,
                "confirmed_at": state.confirmation.said_at or state.closed_at,
            }
        self._deliver(MessageKind.CLOSURE, [self._written_channel()], **confirmed)

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
        )
        state.escalations.append(escalation)
        state.stage = CaseStage.REOPENED
        # A new owner gets a fresh introduction clock; the 8-week clock runs on untouched.
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
            self._deliver(MessageKind.ESCALATION, [self._written_channel()], escalation_reason=fact.reason)

    def _first_owner_role(self) -> CaseRole:
        """A vulnerable customer's case starts with a named senior owner when the policy says so;
        the escalation ladder then continues from that level."""
        ladder, senior = self._policy.escalation_ladder, self._policy.vulnerable_owner_role
        if self._customer.vulnerable and senior is not None and senior in ladder:
            self._state.escalation_level = ladder.index(senior)
            return senior
        return ladder[0]

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
        state = self._state
        for m in state.milestones:
            # The old owner's introduction is no longer owed: closed as superseded, never breached.
            if m.name.startswith(INTRODUCTION) and m.done_at is None and not m.breached and m.superseded_at is None:
                m.superseded_at = now
        number = sum(1 for m in state.milestones if m.name.startswith(INTRODUCTION)) + 1
        due = now + timedelta(hours=self._policy.introduction_hours)
        state.milestones.append(self._clock(f"{INTRODUCTION}_{number}", now, due))

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

    def _reopen(self, fact: NotSatisfied) -> None:
        """The customer came back within the re-open window: the same case, under the same
        reference, re-opened and escalated. The 8-week clock still runs from first receipt; the
        3-working-day review and the updates are owed again from now."""
        state, now = self._state, workflow.now()
        assert state.closed_at is not None and self._calendar is not None
        state.reopenings.append(
            Reopening(
                closed_at=state.closed_at,
                reopened_at=now,
                reason=fact.reason,
                confirmation=state.confirmation,
                closure=state.closure,
            )
        )
        state.closed_at = None
        state.confirmation = None
        state.closure = None
        state.stage = CaseStage.REOPENED
        review = state.milestone(REVIEW)
        if review is not None and review.done_at is None and not review.breached and review.superseded_at is None:
            review.due_at = self._calendar.add_working_days(now, self._policy.review_working_days)
        elif state.schedule is not None and state.stage is not CaseStage.DEADLOCK:
            state.next_update_at = self._after_pause(clocks.next_update_at(now, state.schedule, self._calendar))
        adr = state.milestone(ADR_RIGHTS)
        if adr is not None and adr.done_at is None and not adr.breached:
            # Past the mark while closed: the letter goes now, and is late only if it does not.
            adr.due_at = max(adr.due_at, now + ADR_SEND_GRACE)
        self._facts.append(fact)

    async def _close(self) -> None:
        state = self._state
        state.stage = CaseStage.CLOSED
        state.closed_at = workflow.now()
        state.next_update_at = None
        self._facts.clear()
        self._deliver(MessageKind.CLOSURE, [self._written_channel()])

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

    # --- sending, with fallback ---------------------------------------------------------------

    def _deliver(
        self,
        kind: MessageKind,
        plan: list[ChannelKind],
        milestone: str | None = None,
        fallback: bool = True,
        **context: object,
    ) -> None:
        """Start sending in the background: a slow vendor must not hold up timers or signals."""
        state = self._state
        if self._v3 and ChannelKind.SMS in plan and len(plan) > 1:
            now = workflow.now()
            if not phone_allowed(now, self._policy.quiet_hours, self._policy.calendar.timezone):
                # Never a text at night: the written channel goes now (and meets the clock), the
                # text at the first moment the quiet hours allow.
                plan = [c for c in plan if c is not ChannelKind.SMS]
                state.deferred_texts.append(
                    DeferredText(
                        kind=kind,
                        not_before=next_phone_moment(now, self._policy.quiet_hours, self._policy.calendar.timezone),
                    )
                )
        state.message_sequence += 1
        sequence = state.message_sequence
        task_key = milestone or f"message-{sequence}"
        task = self._launch(task_key, self._send_message(kind, plan, sequence, milestone, context, fallback))
        self._send_tasks[task_key] = task
        task.add_done_callback(lambda _: self._send_tasks.pop(task_key, None))

    def _launch(self, key: str, work: Awaitable[object]) -> asyncio.Task[None]:
        self._in_flight.add(key)

        async def run() -> None:
            try:
                await work
            except ActivityError as err:
                # Only alerts get here (sends handle their own failures); the case carries on.
                workflow.logger.warning("%s gave up: %s", key, err.cause or err)
            finally:
                self._in_flight.discard(key)
                self._retrying.pop(key, None)
                self._wake()

        task = asyncio.create_task(run())
        # The event loop holds tasks weakly; keep a reference until each finishes.
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _send_message(
        self,
        kind: MessageKind,
        plan: list[ChannelKind],
        sequence: int,
        milestone: str | None,
        context: dict[str, object],
        fallback: bool = True,
    ) -> None:
        message = self._context(**context)  # type: ignore[arg-type]
        delivered: list[ChannelKind] = []
        reached: list[datetime] = []  # when each delivered channel reaches the customer
        tried: set[ChannelKind] = set()
        task_key = milestone or f"message-{sequence}"
        try:
            for position, planned in enumerate(plan):
                channel: ChannelKind | None = planned
                while channel is not None and channel not in tried:
                    tried.add(channel)
                    if await self._send_once(kind, channel, sequence, message, task_key):
                        delivered.append(channel)
                        reached.append(self._reaches_customer_at(self._state.messages[-1], milestone))
                        break
                    if position < len(plan) - 1 or not fallback:
                        break  # a later planned channel (the written follow-up) still reaches them
                    channel = self._fallback_after(channel, tried)
            if self._v3 and fallback and self._customer.vulnerable and delivered == [ChannelKind.SMS]:
                # A vulnerable customer is never left with a text alone: the writing follows.
                written = self._written_channel()
                if written not in tried and await self._send_once(kind, written, sequence, message, task_key):
                    delivered.append(written)
                    reached.append(self._reaches_customer_at(self._state.messages[-1], milestone))
        except _Withdrawn:
            return  # the case closed while this was retrying: recorded as withdrawn, never sent
        m = self._state.milestone(milestone) if milestone else None
        if delivered:
            if m is not None and m.done_at is None:
                m.done_at = min(reached) if self._v3 else workflow.now()
                if m.met:
                    self._count("complaints_milestones_met", "Milestones met in time", milestone=m.name.split("_")[0])
            self._after_delivery(kind)
        else:
            if m is not None:
                m.undeliverable_at = workflow.now()
            self._alert(
                CaseRole.CUSTOMER_SERVICE_MANAGER,
                f"{self._state.reference}: {kind.value} could not be delivered on any channel",
                "Every channel the customer can be reached on refused the message. "
                "Contact the customer another way and record a note on the case.",
            )

    async def _send_once(
        self, kind: MessageKind, channel: ChannelKind, sequence: int, context: MessageContext, task_key: str = ""
    ) -> bool:
        """One message on one channel: a first attempt inside the workflow task, then retries.

        Retries run in two windows: if the first (attention_after_minutes) ends still failing, the
        case is flagged for attention (so the Web UI shows it) and a second window carries on to the
        ceiling with the same key, so a message the vendor already accepted is never sent twice.
        """
        state = self._state
        key = f"{state.reference}/{sequence:03d}-{kind.value}-{channel.value}"
        request = SendRequest(key=key, kind=kind, channel=channel, recipient=self._recipient(), context=context)
        what = f"{kind.value.replace('_', ' ')} by {channel.value}"
        if self._local_first:
            try:
                receipt = await self._first_attempt(
                    SEND_MESSAGE, request, summary=f"Send the {what}", result_type=DeliveryReceipt
                )
                return self._sent(key, kind, channel, what, receipt)
            except FIRST_ATTEMPT_FAILED as err:
                if _gave_up_for_good(err):
                    return self._failed(key, kind, channel, what, _last_error(err))
                # A vendor hiccup: the regular activity below retries it where on-call can see it.
        give_up_at = workflow.now() + timedelta(minutes=self._policy.send_retry_ceiling_minutes)
        window = timedelta(minutes=self._policy.attention_after_minutes)
        if self._v3 and task_key in self._send_tasks:
            self._retrying[task_key] = self._send_tasks[task_key]
        # v4: retries queue on the vendor's own task queue, which the server holds to its rate.
        queue = vendor_queue(workflow.info().task_queue, channel) if self._v4 else None
        while True:
            remaining = give_up_at - workflow.now()
            try:
                receipt = await workflow.execute_activity(
                    SEND_MESSAGE,
                    request,
                    start_to_close_timeout=timedelta(seconds=60),
                    schedule_to_close_timeout=max(min(window, remaining), timedelta(seconds=61)),
                    retry_policy=SEND_RETRY,
                    result_type=DeliveryReceipt,
                    summary=f"Send the {what}",
                    task_queue=queue,
                )
                return self._sent(key, kind, channel, what, receipt)
            except (ActivityError, asyncio.CancelledError) as err:
                if self._closing and (
                    isinstance(err, asyncio.CancelledError) or isinstance(err.cause, TemporalCancelledError)
                ):
                    state.messages.append(
                        MessageRecord(
                            key=key,
                            kind=kind,
                            channel=channel,
                            status="withdrawn",
                            at=workflow.now(),
                            error="still retrying when the case closed: not sent",
                        )
                    )
                    if state.attention and state.attention.startswith(what):
                        state.attention = None
                    raise _Withdrawn() from None
                if isinstance(err, asyncio.CancelledError):
                    raise
                reason = _last_error(err)
                # A window that ran out ends as the last attempt's failure with retry state TIMEOUT.
                window_ran_out = err.retry_state is RetryState.TIMEOUT or isinstance(err.cause, TimeoutError)
                if not (window_ran_out and workflow.now() < give_up_at):
                    return self._failed(key, kind, channel, what, reason)
                state.attention = f"{what} keeps failing: {reason}"
                self._publish()
                # Flagged once; the rest of the ceiling is one long window, keeping history short.
                window = remaining

    async def _first_attempt(
        self, activity: Callable[..., Any] | str, arg: object, *, summary: str, result_type: type | None = None
    ) -> Any:
        """One try as a local activity inside this workflow task; FIRST_ATTEMPT_FAILED if it fails.

        Counted while in flight, so the case publishes once all of a task's first attempts are done.
        """
        self._local_attempts += 1
        try:
            return await workflow.execute_local_activity(
                activity,  # type: ignore[arg-type]
                arg,
                start_to_close_timeout=FIRST_ATTEMPT_TIMEOUT,
                retry_policy=FIRST_ATTEMPT,
                result_type=result_type,
                summary=summary,
            )
        finally:
            self._local_attempts -= 1
            self._wake()

    def _sent(self, key: str, kind: MessageKind, channel: ChannelKind, what: str, receipt: DeliveryReceipt) -> bool:
        state = self._state
        if state.attention and state.attention.startswith(what):
            state.attention = None
        record = MessageRecord(
            key=key,
            kind=kind,
            channel=channel,
            status="sent",
            at=receipt.sent_at,
            provider_id=receipt.provider_id,
        )
        if self._v3:
            # The case's own clock, not the sender's: history says when the send completed.
            record.at = workflow.now()
            record.accessibility_needs = list(self._customer.accessibility_needs)
            if channel is ChannelKind.LETTER:
                self._post_room_work_item(record)
            if channel is ChannelKind.LETTER and self._calendar is not None:
                # Printed is not delivered: the post room's collection, then the post's days.
                record.dispatched_at, record.expected_delivery_at = clocks.letter_dispatch(
                    workflow.now(), self._calendar, self._policy.post_room
                )
        state.messages.append(record)
        self._count("complaints_messages", "Customer messages", channel=channel.value, status="sent")
        return True

    def _post_room_work_item(self, record: MessageRecord) -> None:
        """Needs the printer cannot meet (braille, audio, easy read): the post room gets a work item."""
        wanted = [
            n for n in self._customer.accessibility_needs if any(k in n.lower() for k in self._policy.post_room_needs)
        ]
        if not wanted:
            return
        self._alert(
            CaseRole.CUSTOMER_SERVICE_MANAGER,
            f"{self._state.reference}: post room to produce {record.key} as {', '.join(wanted)}",
            f"The customer needs: {'; '.join(wanted)}. Produce and send letter {record.key} in that form too.",
            to_team="post_room",
            kind="work_item",
        )

    def _reaches_customer_at(self, record: MessageRecord, milestone: str | None) -> datetime:
        """When a message counts for its clock. The introduction is met by the earliest contact the
        customer actually gets (a letter when the post delivers it); a written step by a letter
        when it leaves the building (dispatch), and by email or text when sent."""
        if record.channel is ChannelKind.LETTER:
            if milestone and milestone.startswith(INTRODUCTION) and record.expected_delivery_at:
                return record.expected_delivery_at
            if record.dispatched_at:
                return record.dispatched_at
        return record.at

    def _failed(self, key: str, kind: MessageKind, channel: ChannelKind, what: str, reason: str) -> bool:
        state = self._state
        state.messages.append(
            MessageRecord(key=key, kind=kind, channel=channel, status="failed", at=workflow.now(), error=reason)
        )
        self._count("complaints_messages", "Customer messages", channel=channel.value, status="failed")
        self._alert(
            CaseRole.CUSTOMER_SERVICE_MANAGER,
            f"{state.reference}: {what} failed",
            f"Sending failed ({reason}); the case falls back to the next channel.",
        )
        if state.attention and state.attention.startswith(what):
            state.attention = None
        return False

    def _after_delivery(self, kind: MessageKind) -> None:
        state = self._state
        if kind is MessageKind.ACKNOWLEDGEMENT and state.stage is CaseStage.RECEIVED:
            state.stage = CaseStage.ACKNOWLEDGED
        elif kind is MessageKind.INTRODUCTION and state.stage in (
            CaseStage.RECEIVED,
            CaseStage.ACKNOWLEDGED,
            CaseStage.REOPENED,
        ):
            state.stage = CaseStage.INVESTIGATING
        elif kind is MessageKind.ADR_RIGHTS and state.adr_letter_sent_at is None:
            state.adr_letter_sent_at = workflow.now()
            adr = state.milestone(ADR_RIGHTS)
            if adr is not None and adr.done_at is None:
                adr.done_at = workflow.now()

    def _reachable(self) -> list[ChannelKind]:
        """The customer's channels in the code's order of preference: phone, email, letter."""
        customer, channels = self._customer, []
        if customer.has_mobile:
            channels.append(ChannelKind.SMS)
        if customer.email:
            channels.append(ChannelKind.EMAIL)
        if customer.address:
            channels.append(ChannelKind.LETTER)
        return channels

    def _fallback_after(self, failed: ChannelKind, tried: set[ChannelKind]) -> ChannelKind | None:
        """Phone -> email -> letter; past the letter, any channel not yet tried is a last resort."""
        reachable = self._reachable()
        later = [c for c in reachable if FALLBACK_ORDER.index(c) > FALLBACK_ORDER.index(failed)]
        earlier = [c for c in reachable if c not in later]
        return next((c for c in later + earlier if c not in tried), None)

    def _written_channel(self) -> ChannelKind:
        if self._customer.preferred_written_channel is WrittenChannel.LETTER:
            return ChannelKind.LETTER
        return ChannelKind.EMAIL

    def _phone_then_written(self) -> list[ChannelKind]:
        written = self._written_channel()
        return [ChannelKind.SMS, written] if self._customer.has_mobile else [written]

    def _recipient(self) -> Recipient:
        c = self._customer
        return Recipient(name=c.name, email=c.email, phone=c.phone, address=c.address, large_print=c.wants_large_print)

    def _context(self, **extra: object) -> MessageContext:
        state, c = self._state, self._customer
        held = {"Name": c.name, "Account number": self._input.intake.account_number}
        if c.email:
            held["Email"] = c.email
        if c.phone:
            held["Phone"] = c.phone
        if c.address:
            held["Address"] = ", ".join([*c.address.lines, c.address.postcode])
        held["Written contact by"] = c.preferred_written_channel.value
        if self._v3:
            fields: dict[str, object] = {
                "reference": state.reference,
                "customer_name": c.name,
                "customer_title": c.title,
                "handler": state.owner,
                "received_at": self._input.intake.received_at,
                "acknowledgement": held,
                "schedule": state.schedule,
                "schedule_agreed_at": state.schedule_agreed_at,
                "next_update_at": state.next_update_at,
                "adr_scheme": self._policy.adr_scheme,
                "eight_weeks_at": state.deadlines.adr_due if state.deadlines else None,
            }
            return MessageContext(**(fields | extra))  # type: ignore[arg-type]
        latest_note = state.notes[-1].text if state.notes else None
        return MessageContext(
            reference=state.reference,
            customer_name=c.name,
            handler=state.owner,
            received_at=self._input.intake.received_at,
            acknowledgement=held,
            schedule=state.schedule,
            next_update_at=state.next_update_at,
            progress_note=latest_note,
            adr_scheme=self._policy.adr_scheme,
            **extra,  # type: ignore[arg-type]
        )

    # --- people -------------------------------------------------------------------------------

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
        self._launch(
            alert.key,
            workflow.execute_activity_method(
                AlertActivities.raise_internal_alert,
                alert,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=SETUP_RETRY,
                summary=f"Alert the {to.title}",
            ),
        )

    async def _archive(self, closing: bool = True) -> ArchiveReceipt:
        """The compliance record, written when the case closes (and on demand by the admin script)."""
        record = CaseRecord(
            reference=self._state.reference,
            intake=self._input.intake,
            state=self._state,
            policy=self._policy,
            recorded_at=workflow.now(),
        )
        summary = "Write the compliance record to the case archive"
        receipt: ArchiveReceipt | None = None
        if self._local_first:
            try:
                receipt = await self._first_attempt(CaseArchive.archive_case, record, summary=summary)
            except FIRST_ATTEMPT_FAILED:
                pass
        if receipt is None:
            receipt = await workflow.execute_activity_method(
                CaseArchive.archive_case,
                record,
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=SETUP_RETRY,
                summary=summary,
            )
        self._state.archived_at = workflow.now()
        workflow.logger.info("case archived at %s until %s", receipt.location, receipt.expires_at)
        if closing:
            self._count("complaints_cases_closed", "Complaint cases closed")
        return receipt

    def _count(self, name: str, description: str, **labels: str) -> None:
        # The SDK records workflow metrics only on first execution, never again on replay.
        counter = workflow.metric_meter().create_counter(name, description)
        counter.add(1, labels or None)

    # --- what staff see -----------------------------------------------------------------------

    def _publish(self) -> None:
        """Keep the Web UI's search attributes in step with the case (only what changed)."""
        state = self._state
        values: dict[str, object] = {
            sa.CASE_REFERENCE.name: state.reference,
            sa.CASE_STAGE.name: state.stage.value,
            sa.CASE_OWNER.name: state.owner.id if state.owner else None,
            sa.ESCALATION_LEVEL.name: state.escalation_level,
            sa.RECEIVED_AT.name: self._input.intake.received_at,
            sa.NEXT_DEADLINE.name: sa.next_deadline(state),
            sa.ADR_LETTER_SENT.name: state.adr_letter_sent_at is not None,
            sa.BREACH.name: any(m.breached for m in state.milestones),
            sa.NEEDS_ATTENTION.name: state.attention is not None or any(m.undeliverable_at for m in state.milestones),
        }
        updates = []
        for key in sa.ALL:
            value = values[key.name]
            if self._published.get(key.name, ...) == value:
                continue
            updates.append(key.value_unset() if value is None else key.value_set(value))  # type: ignore[arg-type]
            self._published[key.name] = value
        if updates:
            workflow.upsert_search_attributes(updates)
        outcome = self._outcome()
        if outcome != self._published.get("memo"):
            # Outcomes ride in the memo so a compliance report reads them from one paged listing.
            workflow.upsert_memo({"outcome": outcome})
            self._published["memo"] = outcome

    def _outcome(self) -> dict[str, object]:
        return case_outcome(self._state, self._input.intake.received_at)

    # --- the customer's answers (facts: signals) ----------------------------------------------

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

    # --- the handler's commands (updates, refused before they touch history) ------------------

    def _refuse_if_closed(self) -> None:
        satisfied = any(not isinstance(f, NotSatisfied) for f in self._facts)
        if self._state.stage is CaseStage.CLOSED or satisfied or self._closing:
            raise ApplicationError(f"case {self._state.reference} is closed", type="CaseClosed")

    def _refuse_a_contact_time_at_night(self, at: time) -> None:
        quiet = self._policy.quiet_hours
        if not quiet.start <= at < quiet.end:
            raise ApplicationError(
                f"contact_time: {at:%H:%M} is outside the hours a customer may be phoned "
                f"({quiet.start:%H:%M}-{quiet.end:%H:%M} UK time)",
                type="OutsideContactHours",
            )

    async def _until_open(self) -> None:
        """A command that arrives before the case's first task has opened it waits for it."""
        if self._calendar is None:
            await workflow.wait_condition(lambda: self._calendar is not None)

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
        carried = sum(len(n.text) for n in self._state.notes)
        limit = self._policy.max_note_characters
        if self._v3 and carried + len(note.text) > limit:
            raise ApplicationError(
                f"text: case {self._state.reference} already carries {carried:,} characters of notes "
                f"(limit {limit:,}); keep the detail in the case file and note a short summary here",
                type="NotesFull",
            )

    @workflow.update(name="change_update_schedule")
    async def change_update_schedule(self, change: ContactScheduleChange) -> UpdateSchedule:
        await self._until_open()
        assert self._calendar is not None
        state = self._state
        if self._v3 and change.customer_agreed:
            state.schedule_agreed_at = workflow.now()
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
        state.notes.append(Note(at=now, author="deadlock", text=deadlock.reason))
        self._wake()
        if state.adr_letter_sent_at is not None or ADR_RIGHTS in self._in_flight:
            return "deadlock recorded; the ADR-rights letter had already gone, so it is not sent again"
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
        if self._v3:
            if self._state.stage is CaseStage.DEADLOCK:
                raise ApplicationError(f"case {self._state.reference} is already in deadlock", type="AlreadyDeadlocked")
            return
        if self._state.adr_letter_sent_at is not None or ADR_RIGHTS in self._in_flight:
            raise ApplicationError(
                f"the ADR-rights letter was already sent for {self._state.reference}",
                type="AdrAlreadySent",
            )

    @workflow.update(name="record_compensation")
    async def record_compensation(self, award: CompensationAward) -> Compensation:
        if self._v3:
            return await self._record_compensation_v3(award)
        state = self._state
        compensation = Compensation(amount_gbp=award.amount_gbp, reason=award.reason, recorded_at=workflow.now())
        state.compensations.append(compensation)
        number = len(state.compensations)
        receipt: CreditReceipt = await workflow.execute_activity_method(
            BillingActivities.credit_invoice,
            InvoiceCredit(
                key=f"{state.reference}/credit-{number}",
                reference=state.reference,
                account_number=self._input.intake.account_number,
                amount_gbp=award.amount_gbp,
                reason=award.reason,
            ),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=SETUP_RETRY,
            summary=f"Credit £{award.amount_gbp} to the next invoice",
        )
        compensation.credit_id = receipt.credit_id
        self._deliver(
            MessageKind.COMPENSATION,
            [self._written_channel()],
            compensation_gbp=award.amount_gbp,
            compensation_reason=award.reason,
        )
        self._wake()
        return compensation

    async def _record_compensation_v3(self, award: CompensationAward) -> Compensation:
        """Recorded once the invoice is credited. A billing outage never holds the command or the
        case: the credit retries in the background (same key, so it applies once) with an alert."""
        await self._until_open()
        state = self._state
        state.credit_sequence += 1
        credit = InvoiceCredit(
            key=f"{state.reference}/credit-{state.credit_sequence}",
            reference=state.reference,
            account_number=self._input.intake.account_number,
            amount_gbp=award.amount_gbp,
            reason=award.reason,
        )
        summary = f"Credit £{award.amount_gbp} to the next invoice"
        try:
            receipt: CreditReceipt = await self._first_attempt(
                BillingActivities.credit_invoice, credit, summary=summary, result_type=CreditReceipt
            )
        except FIRST_ATTEMPT_FAILED as err:
            pending = Compensation(amount_gbp=award.amount_gbp, reason=award.reason, recorded_at=workflow.now())
            state.pending_compensations.append(pending)
            self._launch(credit.key, self._credit_until_done(credit, pending, _last_error(err)))
            return pending
        return self._credited(award.amount_gbp, award.reason, receipt)

    async def _credit_until_done(self, credit: InvoiceCredit, pending: Compensation, first_error: str) -> None:
        what = f"crediting £{credit.amount_gbp} ({credit.key})"
        self._alert(
            CaseRole.CUSTOMER_SERVICE_MANAGER,
            f"{credit.reference}: compensation not credited yet",
            f"Billing refused or failed ({first_error}); the credit retries until it goes through, once.",
        )
        window: timedelta | None = timedelta(minutes=self._policy.attention_after_minutes)
        while True:
            try:
                receipt: CreditReceipt = await workflow.execute_activity_method(
                    BillingActivities.credit_invoice,
                    credit,
                    start_to_close_timeout=timedelta(seconds=30),
                    schedule_to_close_timeout=window,
                    retry_policy=SEND_RETRY,
                    summary=f"Credit £{credit.amount_gbp} to the next invoice",
                )
                break
            except ActivityError as err:
                self._state.attention = f"{what} keeps failing: {_last_error(err)}"
                self._publish()
                window = None
        if self._state.attention and self._state.attention.startswith(what):
            self._state.attention = None
        self._state.pending_compensations.remove(pending)
        self._credited(credit.amount_gbp, credit.reason, receipt, recorded_at=pending.recorded_at)

    def _credited(
        self, amount: Decimal, reason: str, receipt: CreditReceipt, recorded_at: datetime | None = None
    ) -> Compensation:
        compensation = Compensation(
            amount_gbp=amount, reason=reason, recorded_at=recorded_at or workflow.now(), credit_id=receipt.credit_id
        )
        self._state.compensations.append(compensation)
        if self._state.stage is not CaseStage.CLOSED:
            self._deliver(
                MessageKind.COMPENSATION,
                [self._written_channel()],
                compensation_gbp=amount,
                compensation_reason=reason,
            )
        self._wake()
        return compensation

    @record_compensation.validator
    def _validate_compensation(self, award: CompensationAward) -> None:
        _require(award, CompensationAward)
        self._refuse_if_closed()
        if award.amount_gbp > self._policy.max_compensation_gbp:
            raise ApplicationError(
                f"amount_gbp: £{award.amount_gbp} is above the £{self._policy.max_compensation_gbp} "
                "a handler may award; ask the Head of Professional Services",
                type="CompensationTooLarge",
            )

    # --- human facts a handler records (since v3) --------------------------------------------

    @workflow.update(name="record_call")
    async def record_call(self, made: CallMade) -> Call:
        """A reached call meets the introduction clock ("wherever possible ... by phone"); the
        written follow-up then goes at once if it has not gone yet."""
        await self._until_open()
        state, now = self._state, workflow.now()
        call = Call(at=now, outcome=made.outcome, by=made.recorded_by, note=made.note)
        intro = self._current_introduction()
        if (
            made.outcome is CallOutcome.REACHED
            and intro is not None
            and intro.done_at is None
            and intro.superseded_at is None
        ):
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
        self._refuse_a_contact_time_at_night(agreed.contact_time)
        if agreed.channel is not None and agreed.channel not in self._reachable():
            raise ApplicationError(
                f"channel: the customer cannot be reached by {agreed.channel.value} on the details held",
                type="ChannelUnreachable",
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
        today = local_date(workflow.now(), self._policy.calendar.timezone)
        if not today < pause.until <= today + timedelta(weeks=self._policy.adr_weeks):
            raise ApplicationError(
                f"until: {pause.until.isoformat()} must be after today ({today.isoformat()}) and within "
                f"{self._policy.adr_weeks} weeks",
                type="PauseOutOfRange",
            )

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
        changes: dict[str, object] = {}
        for name in ("email", "phone", "address", "preferred_written_channel"):
            value = getattr(correction, name)
            if value is not None:
                changes[name] = value
        if correction.phone is not None:
            changes["phone_is_mobile"] = correction.phone_is_mobile
        return changes

    @correct_contact.validator
    def _validate_contact(self, correction: ContactCorrection) -> None:
        _require(correction, ContactCorrection)
        self._refuse_if_closed()
        merged = self._customer.model_copy(update=self._corrected(correction))
        if merged.preferred_written_channel is WrittenChannel.EMAIL and not merged.email:
            raise ApplicationError(
                "preferred_written_channel: 'email' but the case holds no email address", type="Unreachable"
            )
        if merged.preferred_written_channel is WrittenChannel.LETTER and merged.address is None:
            raise ApplicationError(
                "preferred_written_channel: 'letter' but the case holds no postal address", type="Unreachable"
            )

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
        state = self._state
        if state.owner is not None and state.owner.id == move.to.id:
            raise ApplicationError(f"to: {move.to.id} already owns case {state.reference}", type="SameOwner")
        level = self._policy.escalation_ladder[min(state.escalation_level, len(self._policy.escalation_ladder) - 1)]
        if move.to.role is not level:
            raise ApplicationError(
                f"to: {move.to.id} is a {move.to.role.title}; this case is at {level.title} level "
                "(escalate with not-satisfied instead)",
                type="WrongLevel",
            )

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
        state = self._state
        if not self._v3:
            raise ApplicationError("this case predates close_case; close it with satisfied", type="NotSupported")
        adr_sent = state.adr_letter_sent_at is not None
        if closure.outcome in (ClosureOutcome.NO_RESPONSE, ClosureOutcome.REFERRED_TO_ADR) and not adr_sent:
            raise ApplicationError(
                f"outcome: {closure.outcome.value} only once the ADR-rights letter has gone "
                "(at 8 weeks, or on deadlock)",
                type="TooEarly",
            )
        if closure.duplicate_of is not None and (
            not is_reference(closure.duplicate_of) or closure.duplicate_of == state.reference
        ):
            raise ApplicationError(
                f"duplicate_of: {closure.duplicate_of!r} must be another case's reference", type="NotADuplicate"
            )

    @workflow.update(name="write_evidence")
    async def write_evidence(self) -> ArchiveReceipt:
        """Write the compliance record now, for a regulator's request on an open case."""
        return await self._archive(closing=False)

    # --- reading the case ---------------------------------------------------------------------

    @workflow.query(name="case_state")
    def case_state(self) -> CaseState:
        return self._state
