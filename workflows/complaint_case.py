"""One complaint, from receipt to closure, as the Customer Complaints Code describes it.

The workflow keeps the case's facts (milestones, messages, notes) in `CaseState` and derives what
to do next from them, so the same state carries over a continue-as-new unchanged. Everything that
touches the world (calendar look-ups, sends, billing, the roster) is an activity, so history
records it and replay never repeats it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, RetryState
from temporalio.exceptions import TimeoutError as ActivityTimeout

with workflow.unsafe.imports_passed_through():
    from activities.alerts import AlertActivities
    from activities.archive import CaseArchive
    from activities.billing import BillingActivities
    from activities.case_setup import CaseAssignmentActivities, compute_case_deadlines
    from domain import policy as clocks
    from domain import search_attributes as sa
    from domain.calendar import WorkingCalendar
    from domain.formatting import local_label
    from domain.models import (
        AlertRequest,
        ArchiveReceipt,
        Assignment,
        AssignmentRequest,
        CaseInput,
        CaseRecord,
        CaseRole,
        CaseStage,
        CaseState,
        CaseSummary,
        ChannelKind,
        Compensation,
        CompensationAward,
        ContactScheduleChange,
        CreditReceipt,
        Deadlock,
        DeadlineRequest,
        DeliveryReceipt,
        Escalation,
        InvoiceCredit,
        MessageContext,
        MessageKind,
        MessageRecord,
        Milestone,
        Note,
        NotSatisfied,
        ProgressNote,
        Recipient,
        SendRequest,
        UpdateSchedule,
        WrittenChannel,
    )

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
SEND_MESSAGE = "send_message"  # activities.messaging.MessagingActivities.send_message
REVIEW_LEAD = timedelta(minutes=5)
FALLBACK_ORDER = [ChannelKind.SMS, ChannelKind.EMAIL, ChannelKind.LETTER]

# One try inside the workflow task; a failure is handed to the regular activity, not retried here.
FIRST_ATTEMPT = RetryPolicy(maximum_attempts=1)
FIRST_ATTEMPT_TIMEOUT = timedelta(seconds=20)
# Quick, cheap steps: a few attempts, then the on-call engineer sees a failed activity.
SETUP_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
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
        self._customer = input.intake.customer
        self._state = input.carried_state or CaseState(reference=input.reference)
        self._calendar: WorkingCalendar | None = None
        self._facts: list[NotSatisfied | str] = []  # SATISFIED, or a NotSatisfied
        self._in_flight: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._woken = False
        self._timer: asyncio.Task[None] | None = None
        self._timer_at: datetime | None = None
        self._published: dict[str, object] = {}
        self._local_attempts = 0
        self._local_first = False  # set by run(): see LOCAL_FIRST_ATTEMPT

    # --- the case's life ----------------------------------------------------------------------

    @workflow.run
    async def run(self, input: CaseInput) -> CaseSummary:
        # Decided before anything else, in the run's first workflow task: asked later (after a
        # local activity), a replay could ask before the server tells it the marker exists, when a
        # query or a heartbeat had put the marker in the next task, and take the other path.
        self._local_first = workflow.patched(LOCAL_FIRST_ATTEMPT)
        await self._open_case()
        while self._state.stage is not CaseStage.CLOSED:
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
                self._clock(ADR_RIGHTS, received, d.adr_due, warn=False),
            ]
            self._count("complaints_cases_opened", "Complaint cases opened")
        self._calendar = WorkingCalendar.from_spec(self._policy.calendar, state.deadlines.holidays)
        if state.owner is None:
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
        workflow.set_current_details(f"Case {self._state.reference} ({self._state.stage.value}): next, {label}")
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
            plan.append((when, f"introduce {state.owner.name if state.owner else 'the handler'}", self._send_introduction))
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
        for milestone in state.milestones:
            if milestone.done_at is not None or milestone.breached:
                continue
            if state.stage is CaseStage.DEADLOCK and milestone.name == REVIEW:
                continue  # no update schedule is owed once the provider has issued deadlock
            if milestone.warn_at is not None and not milestone.warned:
                plan.append((milestone.warn_at, f"warn the owner {milestone.name} is due", partial(self._warn, milestone)))
            plan.append((milestone.due_at, f"check {milestone.name} was done in time", partial(self._breach, milestone)))
        return plan

    def _start_work_that_is_due(self) -> None:
        now = workflow.now()
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
            and milestone.name not in self._in_flight
        )

    def _current_introduction(self) -> Milestone | None:
        intros = [m for m in self._state.milestones if m.name.startswith(INTRODUCTION)]
        return intros[-1] if intros else None

    # --- the steps of the code ----------------------------------------------------------------

    def _send_acknowledgement(self) -> None:
        self._deliver(MessageKind.ACKNOWLEDGEMENT, [self._written_channel()], milestone=ACKNOWLEDGEMENT)

    def _send_introduction(self) -> None:
        intro = self._current_introduction()
        assert intro is not None
        # "Wherever possible contact will be made by phone and followed up by email."
        self._deliver(MessageKind.INTRODUCTION, self._phone_then_written(), milestone=intro.name)

    def _start_regular_updates(self) -> None:
        assert self._calendar is not None
        state = self._state
        if state.schedule is None:
            state.schedule = self._policy.updates
        state.next_update_at = clocks.next_update_at(workflow.now(), state.schedule, self._calendar)
        self._deliver(MessageKind.UPDATE_SCHEDULE, self._phone_then_written(), milestone=REVIEW)

    def _send_progress_update(self) -> None:
        assert self._calendar is not None and self._state.schedule is not None
        state = self._state
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
        state.next_update_at = following
        self._deliver(MessageKind.PROGRESS_UPDATE, self._phone_then_written(), milestone=name)

    def _send_adr_letter_at_eight_weeks(self) -> None:
        self._deliver(
            MessageKind.ADR_RIGHTS,
            [self._written_channel()],
            milestone=ADR_RIGHTS,
            adr_reason="eight_weeks",
        )

    def _warn(self, milestone: Milestone) -> None:
        milestone.warned = True
        owner = self._state.owner
        self._alert(
            owner.role if owner else CaseRole.CASE_HANDLER,
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
                await self._close()
                return
            await self._reopen_or_escalate(fact)

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
        **context: object,
    ) -> None:
        """Start sending in the background: a slow vendor must not hold up timers or signals."""
        state = self._state
        state.message_sequence += 1
        sequence = state.message_sequence
        task_key = milestone or f"message-{sequence}"
        self._launch(task_key, self._send_message(kind, plan, sequence, milestone, context))

    def _launch(self, key: str, work: Awaitable[object]) -> None:
        self._in_flight.add(key)

        async def run() -> None:
            try:
                await work
            except ActivityError as err:
                # Only alerts get here (sends handle their own failures); the case carries on.
                workflow.logger.warning("%s gave up: %s", key, err.cause or err)
            finally:
                self._in_flight.discard(key)
                self._wake()

        task = asyncio.create_task(run())
        # The event loop holds tasks weakly; keep a reference until each finishes.
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_message(
        self,
        kind: MessageKind,
        plan: list[ChannelKind],
        sequence: int,
        milestone: str | None,
        context: dict[str, object],
    ) -> None:
        message = self._context(**context)  # type: ignore[arg-type]
        delivered: list[ChannelKind] = []
        tried: set[ChannelKind] = set()
        for position, planned in enumerate(plan):
            channel: ChannelKind | None = planned
            while channel is not None and channel not in tried:
                tried.add(channel)
                if await self._send_once(kind, channel, sequence, message):
                    delivered.append(channel)
                    break
                if position < len(plan) - 1:
                    break  # a later planned channel (the written follow-up) still reaches them
                channel = self._fallback_after(channel, tried)
        m = self._state.milestone(milestone) if milestone else None
        if delivered:
            if m is not None and m.done_at is None:
                m.done_at = workflow.now()
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
        self, kind: MessageKind, channel: ChannelKind, sequence: int, context: MessageContext
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
                )
                return self._sent(key, kind, channel, what, receipt)
            except ActivityError as err:
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
        state.messages.append(
            MessageRecord(
                key=key,
                kind=kind,
                channel=channel,
                status="sent",
                at=receipt.sent_at,
                provider_id=receipt.provider_id,
            )
        )
        self._count("complaints_messages", "Customer messages", channel=channel.value, status="sent")
        return True

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
        return Recipient(
            name=c.name, email=c.email, phone=c.phone, address=c.address, large_print=c.wants_large_print
        )

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
                pass  # the regular activity below retries it where on-call can see it
        while assignment is None:
            try:
                assignment = await workflow.execute_activity_method(
                    CaseAssignmentActivities.assign_case_handler,
                    request,
                    start_to_close_timeout=timedelta(seconds=30),
                    schedule_to_close_timeout=window,
                    retry_policy=SETUP_RETRY,
                    summary=f"Assign a {role.title}",
                )
            except ActivityError as err:
                self._state.attention = f"{what} keeps failing: {_last_error(err)}"
                self._publish()
                window = None  # from now on, until someone fixes the roster
        if self._state.attention and self._state.attention.startswith(what):
            self._state.attention = None
        return assignment

    def _take_ownership(self, assignment: Assignment) -> None:
        self._state.owner = assignment.handler
        self._state.assignments.append(assignment)

    def _alert(self, to: CaseRole, subject: str, detail: str, to_handler: str | None = None) -> None:
        state = self._state
        state.alerts.append(subject)
        alert = AlertRequest(
            key=f"{state.reference}/alert-{len(state.alerts):03d}",
            reference=state.reference,
            to_role=to,
            to_handler=to_handler,
            subject=subject,
            detail=detail,
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
        open_dues = [m.due_at for m in state.milestones if m.done_at is None and not m.breached]
        if state.next_update_at:
            open_dues.append(state.next_update_at)
        values: dict[str, object] = {
            sa.CASE_REFERENCE.name: state.reference,
            sa.CASE_STAGE.name: state.stage.value,
            sa.CASE_OWNER.name: state.owner.id if state.owner else None,
            sa.ESCALATION_LEVEL.name: state.escalation_level,
            sa.RECEIVED_AT.name: self._input.intake.received_at,
            sa.NEXT_DEADLINE.name: None if state.stage is CaseStage.CLOSED or not open_dues else min(open_dues),
            sa.ADR_LETTER_SENT.name: state.adr_letter_sent_at is not None,
            sa.BREACH.name: any(m.breached for m in state.milestones),
            sa.NEEDS_ATTENTION.name: state.attention is not None
            or any(m.undeliverable_at for m in state.milestones),
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
        state = self._state
        return {
            "received_at": self._input.intake.received_at.isoformat(),
            "closed_at": state.closed_at.isoformat() if state.closed_at else None,
            "escalations": len(state.escalations),
            "attention": state.attention,
            "milestones": {
                m.name: [m.due_at.isoformat(), m.done_at.isoformat() if m.done_at else None, m.breached]
                for m in state.milestones
            },
        }

    # --- the customer's answers (facts: signals) ----------------------------------------------

    # Both take *args and check what arrived: a signal cannot be refused, and one whose payload
    # does not fit its handler's signature would otherwise fail every workflow task of the case.

    @workflow.signal(name="customer_satisfied")
    def customer_satisfied(self, *unexpected: Any) -> None:
        if unexpected:
            # Not what any of our clients sends: too doubtful to close a customer's case on.
            self._state.refused.append("customer_satisfied with unexpected arguments: ignored")
            return
        if self._state.stage is not CaseStage.CLOSED:
            self._facts.append(SATISFIED)
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
        if self._state.stage is CaseStage.CLOSED or SATISFIED in self._facts:
            raise ApplicationError(f"case {self._state.reference} is closed", type="CaseClosed")

    @workflow.update(name="add_note")
    def add_note(self, note: ProgressNote) -> int:
        self._state.notes.append(Note(at=workflow.now(), author=note.author, text=note.text))
        self._wake()
        return len(self._state.notes)

    @add_note.validator
    def _validate_note(self, note: ProgressNote) -> None:
        _require(note, ProgressNote)
        self._refuse_if_closed()

    @workflow.update(name="change_update_schedule")
    def change_update_schedule(self, change: ContactScheduleChange) -> UpdateSchedule:
        assert self._calendar is not None
        state = self._state
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

    @workflow.update(name="declare_deadlock")
    def declare_deadlock(self, deadlock: Deadlock) -> str:
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

    @declare_deadlock.validator
    def _validate_deadlock(self, deadlock: Deadlock) -> None:
        _require(deadlock, Deadlock)
        self._refuse_if_closed()
        if self._state.adr_letter_sent_at is not None or ADR_RIGHTS in self._in_flight:
            raise ApplicationError(
                f"the ADR-rights letter was already sent for {self._state.reference}",
                type="AdrAlreadySent",
            )

    @workflow.update(name="record_compensation")
    async def record_compensation(self, award: CompensationAward) -> Compensation:
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

    @workflow.update(name="write_evidence")
    async def write_evidence(self) -> ArchiveReceipt:
        """Write the compliance record now, for a regulator's request on an open case."""
        return await self._archive(closing=False)

    # --- reading the case ---------------------------------------------------------------------

    @workflow.query(name="case_state")
    def case_state(self) -> CaseState:
        return self._state
