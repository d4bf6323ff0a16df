"""What a case does with what comes back from the vendors and the customer (since v4, closed-loop).

The inbound service turns signed webhooks into the `delivery_event` and `customer_reply` signals;
`admin.py ask-to-close` sends the `ask_to_close` update. The decisions are pure functions in
domain/customer_loop.py; this mixin is the shell that applies them to the case, using
ComplaintCase's own steps (`_deliver`, `_alert`, `_breach`, `_reachable`, `_until_open`, ...).
Everything here is behind `self._v4`, so cases begun under v1-v3 replay as they were recorded.
"""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain import customer_loop as loop
    from domain import search_attributes as sa
    from domain.contact import phone_allowed
    from domain.formatting import local_label
    from domain.message_context import MessageExtras
    from domain.models import (
        AskToClose,
        CaseRole,
        CaseStage,
        ChannelKind,
        ContactCorrection,
        CustomerReply,
        CustomerReplyRecord,
        DeliveryEvent,
        HowSaid,
        MessageKind,
        MessageRecord,
        Milestone,
        Note,
        NotSatisfied,
        Satisfied,
    )

from workflows.case_base import CaseBase
from workflows.payloads import _decode

KEPT_EVENTS = 200  # vendor event ids remembered: a redelivery days later still changes nothing
KEPT_REPLIES = 100
# The replies' text a case carries (in every continue-as-new input and query answer), as for notes.
KEPT_REPLY_TEXT = 100_000
KEPT_REFUSALS = 50  # as the case's other refusals (case_constants.KEPT_ALERTS)
HOW_SAID = {ChannelKind.SMS: HowSaid.SMS_REPLY, ChannelKind.EMAIL: HowSaid.EMAIL}


class CustomerLoop(CaseBase):
    """Delivery proof, fallback after a bounce, the customer's replies, and ask-to-close."""

    # --- hooks ComplaintCase calls --------------------------------------------------------------

    def _tag_clock(self, sequence: int, milestone: str | None) -> None:
        """`_deliver`: remember which clock message `sequence` carries (v4)."""
        if self._v4:
            self._message_tags[sequence] = (milestone, None)
            for old in [s for s in self._message_tags if s < sequence - 100]:
                del self._message_tags[old]

    def _tagged(self, record: MessageRecord) -> MessageRecord:
        """`_sent` / `_failed`: the record names its clock and the message it replaces."""
        sequence = loop.message_sequence(record.key)
        if self._v4 and sequence is not None and sequence in self._message_tags:
            record.milestone, record.fallback_for = self._message_tags[sequence]
        return record

    def _texts_allowed(self) -> bool:
        """`_reachable` / `_phone_then_written`: a mobile, and the customer has not sent STOP."""
        return self._customer.has_mobile and self._state.sms_stopped_at is None

    def _publish_contact_keys(self, correction: ContactCorrection) -> None:
        """`correct_contact`: the inbound service finds the case by the corrected details' keys."""
        if self._v4 and correction.contact_keys:
            workflow.upsert_search_attributes([sa.CUSTOMER_CONTACT_KEYS.value_set(list(correction.contact_keys))])

    # --- the vendors' word on a message ---------------------------------------------------------

    @workflow.signal(name="delivery_event")
    async def delivery_event(self, *args: Any) -> None:
        event = _decode(DeliveryEvent, args)
        if event is None:
            self._refuse("delivery_event with an unreadable payload: ignored")
            return
        await self._until_open()
        state = self._state
        if not self._v4:
            self._refuse(f"delivery_event {event.event_id}: this case predates delivery proof: ignored")
            return
        if not event.signature_verified:
            self._refuse(f"delivery_event {event.event_id}: its signature was not verified: ignored")
            return
        if event.event_id in state.applied_events:
            return  # the vendor delivered the same event again
        state.applied_events = [*state.applied_events[-(KEPT_EVENTS - 1) :], event.event_id]
        # A fast vendor can report on a message before its send has been recorded here.
        await workflow.wait_condition(lambda: self._message(event.message_key) is not None or not self._send_tasks)
        record = self._message(event.message_key)
        if record is None:
            self._refuse(f"delivery_event {event.event_id}: no message {event.message_key} in this case: ignored")
            return
        if not loop.moves_forward(record, event.status, event.vendor_at):
            return
        record.delivery = event.status
        record.delivery_reason = event.reason
        record.delivery_event_id = event.event_id
        record.delivery_at = event.vendor_at
        if event.status.failed:
            await self._not_delivered(record)
        self._wake()

    def _message(self, key: str) -> MessageRecord | None:
        return next((m for m in reversed(self._state.messages) if m.key == key and m.status == "sent"), None)

    async def _not_delivered(self, record: MessageRecord) -> None:
        """A message that never reached the customer. One that carried a clock falls back at once
        to the next channel, and the clock is met by the message that reaches them."""
        state = self._state
        what = f"{record.kind.value.replace('_', ' ')} by {record.channel.value}"
        why = f" ({record.delivery_reason})" if record.delivery_reason else ""
        name = record.milestone
        if name is None or record.kind not in loop.CLOCK_KINDS:
            self._tell_owner(f"the {what} was not delivered", f"The {what} was {record.delivery}{why}.")
            return
        # The message's own send (its other channels) finishes first: it may yet reach them.
        await workflow.wait_condition(lambda: name not in self._in_flight)
        milestone = state.milestone(name)
        if (
            milestone is None
            or milestone.superseded_at is not None
            or milestone.undeliverable_at is not None
            or state.stage is CaseStage.CLOSED
            or self._closing
        ):
            self._tell_owner(f"the {what} was not delivered", f"The {what} was {record.delivery}{why}.")
            return
        carried = [m for m in state.messages if m.milestone == name]
        failed = {m.channel for m in carried if m.status == "failed" or (m.delivery and m.delivery.failed)}
        reached = {m.channel for m in carried if m.status == "sent" and not (m.delivery and m.delivery.failed)}
        channel = loop.fallback_channel(record.channel, self._reachable(), failed, reached)
        if channel is not None:
            milestone.done_at = None  # open again until the fallback reaches them
            self._deliver(record.kind, [channel], milestone=name, **self._context_again(record))
            self._message_tags[state.message_sequence] = (name, record.key)
            self._tell_owner(
                f"the {what} was not delivered: it goes by {channel.value}",
                f"The {what} was {record.delivery}{why}. It has gone again by {channel.value} at once.",
            )
            await workflow.wait_condition(lambda: name not in self._in_flight)
        elif reached:
            self._tell_owner(
                f"the {what} was not delivered",
                f"The {what} was {record.delivery}{why}; the same message reached the customer by "
                f"{', '.join(sorted(c.value for c in reached))}.",
            )
        if not self._met_by_what_reached(milestone) and channel is None:
            milestone.done_at = None
            milestone.undeliverable_at = workflow.now()
            self._alert(
                CaseRole.CUSTOMER_SERVICE_MANAGER,
                f"{state.reference}: {record.kind.value} could not be delivered on any channel",
                f"The {what} was {record.delivery}{why} and no other channel can reach the customer. "
                "Contact the customer another way and record a note on the case.",
            )
            self._tell_owner(f"the {what} was not delivered", f"The {what} was {record.delivery}{why}.")

    def _met_by_what_reached(self, milestone: Milestone) -> bool:
        """The clock is met by the earliest contact that reached the customer (a message no vendor
        has reported lost, or a call that met it); a late one is a breach. False if nothing reached."""
        name, state = milestone.name, self._state
        moments = [
            self._reaches_customer_at(m, name)
            for m in state.messages
            if m.milestone == name and m.status == "sent" and not (m.delivery and m.delivery.failed)
        ] + [c.at for c in state.calls if c.met == name]
        if not moments:
            return False
        milestone.done_at = min(moments)
        milestone.undeliverable_at = None
        self._breach_if_late(milestone)
        return True

    def _breach_if_late(self, milestone: Milestone) -> None:
        """The breach check only watches open clocks: one met late after a bounce is flagged here."""
        if milestone.done_at is not None and not milestone.met and not milestone.breached:
            self._breach(milestone)

    def _context_again(self, record: MessageRecord) -> MessageExtras:
        """What the replaced message said that the state alone does not, true now as it was then."""
        state, now = self._state, workflow.now()
        if record.kind is MessageKind.ACKNOWLEDGEMENT:
            intro = state.milestone("introduction")
            due = intro.due_at if intro is not None and intro.due_at > now else None
            return {"handler": None, "introduction_due_at": due}
        if record.kind is MessageKind.ADR_RIGHTS:
            deadlock = next((n for n in reversed(state.notes) if n.author == "deadlock" and n.at <= record.at), None)
            if deadlock is not None:
                return {"adr_reason": "deadlock", "deadlock_reason": deadlock.text}
            mark = self._eight_weeks()
            eight_weeks: MessageExtras = {"adr_reason": "eight_weeks"}
            if now < mark:
                eight_weeks["adr_rights_from"] = mark
            return eight_weeks
        return {}

    # --- the customer's replies -----------------------------------------------------------------

    @workflow.signal(name="customer_reply")
    async def customer_reply(self, *args: Any) -> None:
        reply = _decode(CustomerReply, args)
        if reply is None:
            self._refuse("customer_reply with an unreadable payload: ignored")
            return
        await self._until_open()
        state = self._state
        if not self._v4:
            self._refuse(f"customer_reply {reply.reply_id}: this case predates customer replies: ignored")
            return
        if not reply.signature_verified:
            self._refuse(f"customer_reply {reply.reply_id}: its signature was not verified: ignored")
            return
        if any(r.reply_id == reply.reply_id for r in state.customer_replies):
            return  # the vendor delivered the same reply again
        meaning = loop.reply_meaning(reply.text)
        own = loop.from_customer(reply, self._customer)
        outstanding = loop.ask_outstanding(state, lapses_at_escalation=self._v8)  # before this reply answers it
        record = CustomerReplyRecord(
            reply_id=reply.reply_id,
            channel=reply.channel,
            received_at=reply.received_at,
            text=reply.text,
            meaning=meaning,
            from_customer=own,
            sender_authenticated=reply.sender_authenticated,
        )
        state.customer_replies = [*state.customer_replies[-(KEPT_REPLIES - 1) :], record]
        while len(state.customer_replies) > 1 and sum(len(r.text) for r in state.customer_replies) > KEPT_REPLY_TEXT:
            del state.customer_replies[0]
        # A reply recorded before the inbound service checked e-mail senders carries no verdict, never
        # a failure, so an existing history decides here exactly as it did: no patch.
        answers = loop.answers_for_customer(reply, self._customer)
        acted = self._act_on_reply(reply, meaning, answers, outstanding) if state.stage is not CaseStage.CLOSED else ""
        what, detail = loop.owner_reply_notice(reply, meaning, own, acted, state.reference)
        if self._v8 and loop.unverified(record):
            if loop.owner_told_of_strangers_lately(state, record):
                # v8: the owner had a notice of one a moment ago; this one waits in the case.
                self._wake()
                return
            detail += " Further replies like it in the next 24 hours are kept in the case without a notice."
        # The text stays in the case (encrypted with its payloads), not in a staff e-mail.
        self._tell_owner(what, detail, kind="reply")
        self._wake()

    def _act_on_reply(self, reply: CustomerReply, meaning: str, answers: bool, outstanding: bool) -> str:
        """YES/NO answer an outstanding ask-to-close only from the customer's own number or
        address (an e-mail's sender authenticated); STOP only from their own number. Anything else
        is for the owner to read."""
        if not answers:
            return ""
        how = HOW_SAID.get(reply.channel)
        if outstanding and how is not None and meaning == loop.YES:
            self._facts.append(Satisfied(recorded_by="customer", how=how, said_at=reply.received_at))
            return "the customer confirmed by reply that the complaint is resolved: the case closes"
        if outstanding and how is not None and meaning == loop.NO:
            self._facts.append(
                NotSatisfied(
                    reason="You replied NO when we asked you to confirm that your complaint is resolved.",
                    recorded_by="customer",
                    how=how,
                    said_at=reply.received_at,
                )
            )
            return "the customer replied NO to the request to confirm: the case is escalated"
        if meaning == loop.STOP and reply.channel is ChannelKind.SMS and self._state.sms_stopped_at is None:
            self._stop_texts()
            return "texts are stopped for this case; contact goes in writing"
        return ""

    def _stop_texts(self) -> None:
        state = self._state
        state.sms_stopped_at = workflow.now()
        for text in list(state.deferred_texts):
            state.deferred_texts.remove(text)
            if text.kind is MessageKind.ASK_TO_CLOSE and ChannelKind.EMAIL in self._reachable():
                # The ask had no written copy yet: it goes by e-mail, which can be answered.
                self._deliver(MessageKind.ASK_TO_CLOSE, [ChannelKind.EMAIL], fallback=False)
                continue
            # Its written copy went when it was held back for the quiet hours.
            state.messages.append(
                text.withdrawn(
                    state.reference, workflow.now(), "the customer replied STOP before the quiet hours ended"
                )
            )
        self._deliver(MessageKind.TEXTS_STOPPED, [self._written_channel()])

    # --- asking the customer to confirm by reply ------------------------------------------------

    @workflow.update(name="ask_to_close")
    def ask_to_close(self, ask: AskToClose) -> str:
        """ "Reply YES if your complaint is resolved, NO if not": by text where the customer has a
        mobile and has not stopped texts, else by e-mail. A text waits for the quiet hours."""
        state, now = self._state, workflow.now()
        channel = self._ask_channel()
        assert channel is not None  # the validator refused the case otherwise
        state.asked_to_close_at = now
        state.notes.append(
            Note(
                at=now,
                author=ask.recorded_by,
                text=f"asked the customer by {channel.value} to confirm by reply that the complaint is resolved",
            )
        )
        quiet, zone = self._policy.quiet_hours, self._policy.calendar.timezone
        if channel is ChannelKind.SMS and not phone_allowed(now, quiet, zone):
            self._defer_text(MessageKind.ASK_TO_CLOSE)
        else:
            # No fallback: a letter cannot be answered by reply.
            self._deliver(MessageKind.ASK_TO_CLOSE, [channel], fallback=False)
        self._wake()
        return channel.value

    @ask_to_close.validator
    def _validate_ask_to_close(self, ask: AskToClose) -> None:
        if not isinstance(ask, AskToClose):
            raise ApplicationError("payload: expected an AskToClose", type="InvalidPayload")
        reference = self._state.reference
        if self._calendar is None:
            raise ApplicationError(f"case {reference} is not open yet; ask again in a moment", type="NotOpenYet")
        if not self._v4:
            raise ApplicationError(
                f"case {reference} predates ask-to-close; record the customer's answer with satisfied or not-satisfied",
                type="NotSupported",
            )
        self._refuse_if_closed()
        intro = self._current_introduction()
        if intro is not None and intro.done_at is None and intro.superseded_at is None:
            # The request is signed by the owner: "confirm the complaint is resolved" from someone
            # who has not yet introduced themselves asks the customer to close an investigation
            # they have not heard of (the Code: "if you confirm following the investigation").
            owner = self._state.owner.name if self._state.owner else "the case's owner"
            raise ApplicationError(
                f"case {reference}: {owner} has not introduced themselves to the customer yet; "
                "record the call that does it (admin.py call REF --outcome reached) or wait for the introduction",
                type="NotIntroduced",
            )
        if self._ask_channel() is None:
            raise ApplicationError(
                f"case {reference}: the customer has no mobile that takes texts and no e-mail address; "
                "a letter cannot be answered by reply, so phone them instead",
                type="Unreachable",
            )

    def _ask_channel(self) -> ChannelKind | None:
        reachable = self._reachable()
        return next((c for c in (ChannelKind.SMS, ChannelKind.EMAIL) if c in reachable), None)

    # --- telling people -------------------------------------------------------------------------

    def _tell_owner(self, what: str, detail: str, kind: str = "alert") -> None:
        state = self._state
        owner = state.owner
        role = owner.role if owner else (state.awaiting_owner or CaseRole.CASE_HANDLER)
        self._alert(role, f"{state.reference}: {what}", detail, to_handler=owner.id if owner else None, kind=kind)

    def _refuse(self, what: str) -> None:
        state = self._state
        state.refused.append(f"{local_label(workflow.now())}: {what}")
        del state.refused[:-KEPT_REFUSALS]
