"""Sending a message to the customer: a first attempt, retries in two windows, fallback to the next
channel, and what each message says (its recipient and context).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, Unpack

from temporalio import workflow
from temporalio.exceptions import ActivityError, RetryState
from temporalio.exceptions import CancelledError as TemporalCancelledError

with workflow.unsafe.imports_passed_through():
    from domain import milestones, reach
    from domain import policy as clocks
    from domain.contact import next_phone_moment, phone_allowed, text_wait
    from domain.message_context import MessageExtras, message_context
    from domain.models import (
        CaseReceipt,
        CaseRole,
        CaseStage,
        ChannelKind,
        DeferredText,
        DeliveryReceipt,
        MessageContext,
        MessageKind,
        MessageRecord,
        Recipient,
        SendRequest,
        TextHours,
    )
    from domain.vendor_queues import vendor_queue

from workflows.case_base import CaseBase
from workflows.case_constants import ADR_RIGHTS, FIRST_ATTEMPT, FIRST_ATTEMPT_TIMEOUT, SEND_MESSAGE, SEND_RETRY
from workflows.case_failures import (
    FIRST_ATTEMPT_FAILED,
    _gave_up_for_good,
    _held_for_quiet_hours,
    _last_error,
    _Withdrawn,
)


class CaseSends(CaseBase):
    """Messages to the customer, in the background so a slow vendor holds up nothing else."""

    def _deliver(
        self,
        kind: MessageKind,
        plan: list[ChannelKind],
        milestone: str | None = None,
        fallback: bool = True,
        **context: Unpack[MessageExtras],
    ) -> None:
        """Start sending in the background: a slow vendor must not hold up timers or signals."""
        state = self._state
        if self._v3 and ChannelKind.SMS in plan and len(plan) > 1:
            now = workflow.now()
            if not phone_allowed(now, self._policy.quiet_hours, self._policy.calendar.timezone):
                # Never a text at night: the written channel goes now (and meets the clock), the
                # text at the first moment the quiet hours allow.
                plan = [c for c in plan if c is not ChannelKind.SMS]
                self._defer_text(kind)
        state.message_sequence += 1
        sequence = state.message_sequence
        self._tag_clock(sequence, milestone)
        task_key = milestone or f"message-{sequence}"
        task = self._launch(task_key, self._send_message(kind, plan, sequence, milestone, context, fallback))
        self._send_tasks[task_key] = task
        task.add_done_callback(lambda _: self._send_tasks.pop(task_key, None))

    def _launch(self, key: str, work: Awaitable[object]) -> asyncio.Task[None]:
        self._in_flight.add(key)
        self._launching += 1

        async def run() -> None:
            self._launching -= 1
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
        context: MessageExtras,
        fallback: bool = True,
    ) -> None:
        message = self._context(**context)
        delivered: list[ChannelKind] = []
        reached: list[datetime] = []  # when each delivered channel reaches the customer
        tried: set[ChannelKind] = set()
        task_key = milestone or f"message-{sequence}"
        try:
            for position, planned in enumerate(plan):
                channel: ChannelKind | None = planned
                while channel is not None and channel not in tried:
                    tried.add(channel)
                    # A planned text with its written copy still to come need not wait for the
                    # morning (v3 defers such texts): see `_text_after_quiet_hours`.
                    written_follows = self._v3 and channel is ChannelKind.SMS and position < len(plan) - 1
                    if await self._send_once(kind, channel, sequence, message, task_key, written_follows):
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
        self,
        kind: MessageKind,
        channel: ChannelKind,
        sequence: int,
        context: MessageContext,
        task_key: str = "",
        written_follows: bool = False,
    ) -> bool:
        """One message on one channel: a first attempt inside the workflow task, then retries.

        Retries run in two windows: if the first (attention_after_minutes) ends still failing, the
        case is flagged for attention (so the Web UI shows it) and a second window carries on to the
        ceiling with the same key, so a message the vendor already accepted is never sent twice.

        A text carries the quiet hours, and the send refuses it outside them (whichever path
        brought it there: a fallback at night, a retry that ran into the evening). Such a refusal
        is no failure: the text waits on the server until the quiet hours allow it, and the night
        counts against neither window. With `written_follows` it is held back instead, as if at
        planning (`_text_after_quiet_hours`), and the written copy goes now.
        """
        state = self._state
        key = f"{state.reference}/{sequence:03d}-{kind.value}-{channel.value}"
        request = SendRequest(
            key=key,
            kind=kind,
            channel=channel,
            recipient=self._recipient(),
            context=context,
            case_receipt=self._v6,
            text_hours=self._text_hours() if channel is ChannelKind.SMS else None,
        )
        what = f"{kind.value.replace('_', ' ')} by {channel.value}"
        receipt_type = CaseReceipt if self._v6 else DeliveryReceipt
        night = timedelta(0)  # how long the quiet hours hold this text back
        if self._local_first:
            try:
                receipt = await self._first_attempt(
                    SEND_MESSAGE, request, summary=f"Send the {what}", result_type=receipt_type
                )
                return self._sent(key, kind, channel, what, receipt)
            except FIRST_ATTEMPT_FAILED as err:
                if _gave_up_for_good(err):
                    return self._failed(key, kind, channel, what, _last_error(err))
                if _held_for_quiet_hours(err):
                    if written_follows:
                        return self._text_after_quiet_hours(kind)
                    # The regular activity below waits on the server until the quiet hours allow.
                    night = self._wait_for_quiet_hours(kind)
                # A vendor hiccup: the regular activity below retries it where on-call can see it.
        attention_after = timedelta(minutes=self._policy.attention_after_minutes)
        give_up_at = workflow.now() + night + timedelta(minutes=self._policy.send_retry_ceiling_minutes)
        window = night + attention_after
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
                    result_type=receipt_type,
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
                if _held_for_quiet_hours(err):
                    # A retry that ran into the quiet hours: the window (too short to hold the text
                    # until morning) ended on the refusal. Not failing, waiting.
                    if state.attention and state.attention.startswith(what):
                        state.attention = None
                        self._publish()
                    if written_follows:
                        return self._text_after_quiet_hours(kind)
                    night = self._wait_for_quiet_hours(kind)
                    give_up_at += night
                    window = night + attention_after
                    continue
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
        counted = True
        try:
            return await workflow.execute_local_activity(
                activity,  # type: ignore[arg-type]
                arg,
                start_to_close_timeout=FIRST_ATTEMPT_TIMEOUT,
                retry_policy=FIRST_ATTEMPT,
                result_type=result_type,
                summary=summary,
            )
        except FIRST_ATTEMPT_FAILED:
            self._local_attempts -= 1
            counted = False
            self._wake()
            if self._v4:
                # The caller schedules a regular activity next, and activity ids are numbered in
                # the order commands are issued. A first execution learns of each local activity's
                # end in its own activation; a replay learns of all of one task's together, in
                # sequence order. So a retry scheduled at once could take a number another local
                # activity (say, the new owner's notice, started when the roster answered) took
                # first the first time: a nondeterminism error on replay. Waiting until every
                # first attempt launched so far has ended gives the same order both ways.
                await workflow.wait_condition(lambda: not self._local_attempts and not self._launching)
            raise
        finally:
            if counted:
                self._local_attempts -= 1
                self._wake()

    def _sent(
        self, key: str, kind: MessageKind, channel: ChannelKind, what: str, receipt: DeliveryReceipt | CaseReceipt
    ) -> bool:
        state = self._state
        if state.attention and state.attention.startswith(what):
            state.attention = None
        record = MessageRecord(
            key=key,
            kind=kind,
            channel=channel,
            status="sent",
            # Before v3 the sender's clock; since v3 the case's own, set below (v6 asks for no other).
            at=receipt.sent_at if isinstance(receipt, DeliveryReceipt) else workflow.now(),
            provider_id=receipt.provider_id,
        )
        self._tagged(record)
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

    def _text_hours(self) -> TextHours:
        return TextHours(quiet_hours=self._policy.quiet_hours, timezone=self._policy.calendar.timezone)

    def _wait_for_quiet_hours(self, kind: MessageKind) -> timedelta:
        """How long a text the send refused waits for the quiet hours (the server holds it).

        It goes then, so a copy of the same message held back when it was planned (v3: a night-time
        introduction whose written copy was refused fell back to this text) is dropped: the customer
        gets it once."""
        state = self._state
        if any(t.kind is kind for t in state.deferred_texts):
            state.deferred_texts = [t for t in state.deferred_texts if t.kind is not kind]
            self._wake()
        return text_wait(workflow.now(), self._policy.quiet_hours, self._policy.calendar.timezone)

    def _text_after_quiet_hours(self, kind: MessageKind) -> bool:
        """A planned text the send refused for the quiet hours, its written copy still to go (a
        retry that ran into the evening): held back as `_deliver` holds one planned at night. The
        written copy goes now and can meet the clock; the text goes when the quiet hours allow."""
        self._defer_text(kind)
        self._wake()
        return False

    def _defer_text(self, kind: MessageKind) -> None:
        """Hold a text for the quiet hours: `_send_deferred_text` sends it at the first moment they allow."""
        quiet, zone = self._policy.quiet_hours, self._policy.calendar.timezone
        self._state.deferred_texts.append(
            DeferredText(kind=kind, not_before=next_phone_moment(workflow.now(), quiet, zone))
        )

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
        return milestones.reaches_customer_at(record, milestone)

    def _failed(self, key: str, kind: MessageKind, channel: ChannelKind, what: str, reason: str) -> bool:
        state = self._state
        state.messages.append(
            self._tagged(
                MessageRecord(key=key, kind=kind, channel=channel, status="failed", at=workflow.now(), error=reason)
            )
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
        return reach.reachable_channels(self._customer, texts_stopped=not self._texts_allowed())

    def _fallback_after(self, failed: ChannelKind, tried: set[ChannelKind]) -> ChannelKind | None:
        return reach.fallback_after(self._customer, failed, tried, texts_stopped=not self._texts_allowed())

    def _written_channel(self) -> ChannelKind:
        return reach.written_channel(self._customer)

    def _phone_then_written(self) -> list[ChannelKind]:
        return reach.phone_then_written(self._customer, texts_stopped=not self._texts_allowed())

    def _recipient(self) -> Recipient:
        c = self._customer
        return Recipient(name=c.name, email=c.email, phone=c.phone, address=c.address, large_print=c.wants_large_print)

    def _context(self, **extra: Unpack[MessageExtras]) -> MessageContext:
        return message_context(
            self._state, self._customer, self._input.intake, self._policy, truthful=self._v3, **extra
        )
