"""What a case does with what comes back from the vendors and the customer (workflow v4).

Signals go straight to the workflow handle, as the inbound service sends them once a webhook's
signature checked out. Each scenario runs on the dates it names, on a time-skipping server of its own.
"""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from temporalio.client import WorkflowUpdateFailedError

from domain import search_attributes as sa
from domain.models import (
    AskToClose,
    CallMade,
    CallOutcome,
    CaseStage,
    CaseState,
    ChannelKind,
    ContactCorrection,
    CustomerReply,
    DeliveryEvent,
    DeliveryStatus,
    HowSaid,
    MessageKind,
    MessageRecord,
    NotSatisfied,
    Vendor,
)
from domain.next_action import owner_next_action
from tests.workflows.dates import DAY, HOUR, MINUTE, PLAIN_TUESDAY, utc
from tests.workflows.harness import Case, running_case, server_at
from workflows.complaint_case import ComplaintCase

MOBILE = "+447911123456"  # the harness's customer, 07911 123456
EMAIL = "gwen.pritchard@example.com"


def sent(state: CaseState, kind: MessageKind, channel: ChannelKind) -> MessageRecord:
    [record] = [m for m in state.messages if m.kind is kind and m.channel is channel and m.status == "sent"]
    return record


async def vendor_says(
    case: Case, record: MessageRecord, status: DeliveryStatus, event_id: str, reason: str | None = None
) -> None:
    vendor = Vendor.TWILIO if record.channel is ChannelKind.SMS else Vendor.SENDGRID
    await case.handle.signal(
        ComplaintCase.delivery_event,
        DeliveryEvent(
            event_id=event_id,
            message_key=record.key,
            vendor=vendor,
            status=status,
            vendor_at=await case.env.get_current_time(),
            reason=reason,
            signature_verified=True,
        ),
    )


async def customer_says(
    case: Case, text: str, sender: str = MOBILE, reply_id: str = "SM1", sender_authenticated: bool | None = None
) -> datetime:
    at = (await case.env.get_current_time()).replace(microsecond=0)
    channel = ChannelKind.EMAIL if "@" in sender else ChannelKind.SMS
    await case.handle.signal(
        ComplaintCase.customer_reply,
        CustomerReply(
            reply_id=reply_id,
            channel=channel,
            received_at=at,
            sender=sender,
            text=text,
            signature_verified=True,
            sender_authenticated=sender_authenticated,
        ),
    )
    return at


def staff_notices(case: Case, kind: str) -> list[dict]:
    folder = case.data_dir / "alerts"
    return [n for n in (json.loads(p.read_text()) for p in folder.glob("*.json")) if n["kind"] == kind]


# --- delivery proof and fallback ----------------------------------------------------------------


async def test_a_bounced_acknowledgement_email_falls_back_to_a_letter_and_the_letter_meets_the_clock(
    tmp_path,
) -> None:
    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path) as case:
        state = await case.wait(MINUTE)
        email = sent(state, MessageKind.ACKNOWLEDGEMENT, ChannelKind.EMAIL)
        assert state.milestone("acknowledgement").done_at == email.at
        await vendor_says(case, email, DeliveryStatus.BOUNCED, "sg-1", reason="550 5.1.1 mailbox unavailable")
        state = await case.wait(MINUTE)

        email = sent(state, MessageKind.ACKNOWLEDGEMENT, ChannelKind.EMAIL)
        assert email.delivery is DeliveryStatus.BOUNCED and email.delivery_reason == "550 5.1.1 mailbox unavailable"
        assert email.delivery_event_id == "sg-1" and email.delivery_at is not None
        letter = sent(state, MessageKind.ACKNOWLEDGEMENT, ChannelKind.LETTER)
        assert letter.fallback_for == email.key and letter.milestone == "acknowledgement"
        [posted] = case.outbox.received(MessageKind.ACKNOWLEDGEMENT, ChannelKind.LETTER)
        assert posted.context.handler is None  # signed by the complaints team, as the e-mail was
        # Tuesday's 17:00 collection, inside the 8 working hours (due Wednesday 10:00).
        ack = state.milestone("acknowledgement")
        assert ack.done_at == letter.dispatched_at == utc(2030, 2, 12, 17, 0)
        assert ack.met and not ack.breached
        assert any("acknowledgement by email was not delivered: it goes by letter" in a for a in state.alerts)
        state = await case.wait(DAY)
        assert not state.milestone("acknowledgement").breached


async def test_an_undelivered_sms_introduction_falls_back_to_email(tmp_path) -> None:
    # Letters preferred: the introduction went by text and post; the e-mail is sooner than the post.
    async with (
        server_at(PLAIN_TUESDAY) as env,
        running_case(env, tmp_path, preferred_written_channel="letter") as case,
    ):
        state = await case.wait(10 * MINUTE)
        text = sent(state, MessageKind.INTRODUCTION, ChannelKind.SMS)
        assert case.outbox.received(MessageKind.INTRODUCTION, ChannelKind.EMAIL) == []
        await vendor_says(case, text, DeliveryStatus.UNDELIVERED, f"SM1:{DeliveryStatus.UNDELIVERED}", reason="30003")
        state = await case.wait(MINUTE)

        email = sent(state, MessageKind.INTRODUCTION, ChannelKind.EMAIL)
        assert email.fallback_for == text.key
        intro = state.milestone("introduction")
        assert intro.done_at == email.at and intro.met
        assert sent(state, MessageKind.INTRODUCTION, ChannelKind.SMS).delivery is DeliveryStatus.UNDELIVERED


async def test_an_undelivered_text_after_its_email_went_needs_no_fallback(tmp_path) -> None:
    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path) as case:
        state = await case.wait(10 * MINUTE)
        text = sent(state, MessageKind.INTRODUCTION, ChannelKind.SMS)
        email = sent(state, MessageKind.INTRODUCTION, ChannelKind.EMAIL)
        await vendor_says(case, text, DeliveryStatus.UNDELIVERED, "SM1:undelivered")
        state = await case.wait(MINUTE)
        assert len(case.outbox.received(MessageKind.INTRODUCTION)) == 2  # no letter: the e-mail reached them
        assert state.milestone("introduction").done_at == email.at


async def test_the_same_event_twice_changes_the_case_once_and_a_late_delivered_undoes_nothing(tmp_path) -> None:
    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path) as case:
        state = await case.wait(MINUTE)
        email = sent(state, MessageKind.ACKNOWLEDGEMENT, ChannelKind.EMAIL)
        await vendor_says(case, email, DeliveryStatus.DEFERRED, "sg-0", reason="mailbox full, retrying")
        state = await case.wait(MINUTE)
        assert sent(state, MessageKind.ACKNOWLEDGEMENT, ChannelKind.EMAIL).delivery is DeliveryStatus.DEFERRED
        assert case.outbox.received(MessageKind.ACKNOWLEDGEMENT, ChannelKind.LETTER) == []  # not a failure

        await vendor_says(case, email, DeliveryStatus.BOUNCED, "sg-1")
        await vendor_says(case, email, DeliveryStatus.BOUNCED, "sg-1")
        await vendor_says(case, email, DeliveryStatus.DELIVERED, "sg-2")  # out of order: old news
        state = await case.wait(MINUTE)
        assert len(case.outbox.received(MessageKind.ACKNOWLEDGEMENT, ChannelKind.LETTER)) == 1
        assert state.applied_events == ["sg-0", "sg-1", "sg-2"]
        record = sent(state, MessageKind.ACKNOWLEDGEMENT, ChannelKind.EMAIL)
        assert record.delivery is DeliveryStatus.BOUNCED and record.delivery_event_id == "sg-1"


async def test_a_bounce_with_no_channel_left_makes_the_clock_undeliverable(tmp_path) -> None:
    async with (
        server_at(PLAIN_TUESDAY) as env,
        running_case(env, tmp_path, phone=None, address=None) as case,
    ):
        state = await case.wait(MINUTE)
        email = sent(state, MessageKind.ACKNOWLEDGEMENT, ChannelKind.EMAIL)
        await vendor_says(case, email, DeliveryStatus.DROPPED, "sg-1", reason="Bounced Address")
        state = await case.wait(MINUTE)
        ack = state.milestone("acknowledgement")
        assert ack.done_at is None and ack.undeliverable_at is not None
        assert any("acknowledgement could not be delivered on any channel" in a for a in state.alerts)
        description = await case.handle.describe()
        assert description.typed_search_attributes.get(sa.NEEDS_ATTENTION) is True


async def test_a_forged_or_unreadable_event_changes_nothing(tmp_path) -> None:
    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path) as case:
        state = await case.wait(MINUTE)
        email = sent(state, MessageKind.ACKNOWLEDGEMENT, ChannelKind.EMAIL)
        unsigned = DeliveryEvent(
            event_id="sg-9",
            message_key=email.key,
            vendor=Vendor.SENDGRID,
            status=DeliveryStatus.BOUNCED,
            vendor_at=await env.get_current_time(),
        )
        await case.handle.signal(ComplaintCase.delivery_event, unsigned)
        await case.handle.signal("delivery_event", {"event_id": "x"})
        await case.handle.signal("customer_reply", "YES")
        state = await case.wait(MINUTE)
        assert sent(state, MessageKind.ACKNOWLEDGEMENT, ChannelKind.EMAIL).delivery is None
        assert state.applied_events == [] and state.customer_replies == []
        assert len([r for r in state.refused if "signature was not verified" in r]) == 1
        assert len([r for r in state.refused if "unreadable payload" in r]) == 2
        assert state.stage is not CaseStage.CLOSED


# --- the customer's replies ---------------------------------------------------------------------


async def test_yes_from_the_customers_number_closes_the_case_as_their_own_confirmation(tmp_path) -> None:
    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path) as case:
        await case.wait(DAY)
        channel = await case.handle.execute_update(ComplaintCase.ask_to_close, AskToClose(recorded_by="amara.okafor"))
        assert channel == "sms"
        state = await case.wait(MINUTE)
        assert case.outbox.received(MessageKind.ASK_TO_CLOSE, ChannelKind.SMS)
        assert state.asked_to_close_at is not None
        said_at = await customer_says(case, " Yes. ")
        _, final = await case.closed()
        confirmation = final.confirmation
        assert confirmation.recorded_by == "customer" and confirmation.how is HowSaid.SMS_REPLY
        assert confirmation.said_at == said_at
        [closure] = case.outbox.received(MessageKind.CLOSURE)
        assert closure.context.confirmed_how == "sms_reply"
        [reply] = final.customer_replies
        assert reply.meaning == "yes" and reply.from_customer
        assert any("the case closes" in n["subject"] for n in staff_notices(case, "reply"))


async def test_no_escalates(tmp_path) -> None:
    # No mobile: the ask goes by e-mail, and the answer comes back by e-mail.
    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path, phone=None) as case:
        await case.wait(DAY)
        channel = await case.handle.execute_update(ComplaintCase.ask_to_close, AskToClose(recorded_by="amara.okafor"))
        assert channel == "email"
        said_at = await customer_says(case, "NO", sender="Gwen.Pritchard@EXAMPLE.com", reply_id="<a1@mail.example.com>")
        state = await case.wait(HOUR)
        assert state.stage is not CaseStage.CLOSED and state.escalation_level == 1
        [escalation] = state.escalations
        assert escalation.recorded_by == "customer" and escalation.how == "email"
        assert escalation.said_at == said_at  # when they said it, kept with the escalation
        assert "replied NO" in escalation.reason
        assert case.outbox.received(MessageKind.ESCALATION)


async def test_a_yes_to_a_request_made_before_the_customer_said_not_satisfied_closes_nothing(tmp_path) -> None:
    # Asked to confirm, then the customer phoned to say the line still drops: escalated. A "Yes"
    # arriving later answers the old request, which the escalation ended (v8).
    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path) as case:
        await case.wait(DAY)
        await case.handle.execute_update(ComplaintCase.ask_to_close, AskToClose(recorded_by="amara.okafor"))
        await case.wait(MINUTE)
        await case.handle.signal(
            ComplaintCase.customer_not_satisfied,
            NotSatisfied(reason="Line still drops", recorded_by="amara.okafor", how=HowSaid.PHONE),
        )
        state = await case.wait(HOUR)
        assert state.escalation_level == 1
        await customer_says(case, "Yes", reply_id="SM1")
        state = await case.wait(HOUR)
        assert state.stage is not CaseStage.CLOSED and state.confirmation is None
        assert case.outbox.received(MessageKind.CLOSURE) == []
        [reply] = state.customer_replies
        assert reply.meaning == "yes" and reply.from_customer  # kept for the new owner to read
        # A new request after the escalation can be answered.
        await case.handle.execute_update(ComplaintCase.ask_to_close, AskToClose(recorded_by="sian.evans"))
        await case.wait(MINUTE)
        await customer_says(case, "YES", reply_id="SM2")
        _, final = await case.closed()
        assert final.confirmation is not None and final.confirmation.recorded_by == "customer"


async def test_yes_from_another_number_or_without_an_ask_is_only_a_reply(tmp_path) -> None:
    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path) as case:
        await case.wait(DAY)
        await customer_says(case, "YES", reply_id="SM1")  # nobody asked
        await case.handle.execute_update(ComplaintCase.ask_to_close, AskToClose(recorded_by="amara.okafor"))
        await case.wait(MINUTE)
        await customer_says(case, "YES", sender="+447700900123", reply_id="SM2")  # not the customer's number
        await customer_says(case, "YES", sender="+447700900123", reply_id="SM2")  # the vendor again
        state = await case.wait(HOUR)
        assert state.stage is not CaseStage.CLOSED and state.confirmation is None
        assert [(r.reply_id, r.meaning, r.from_customer) for r in state.customer_replies] == [
            ("SM1", "yes", True),
            ("SM2", "yes", False),
        ]
        assert len(staff_notices(case, "reply")) == 2
        # The Web UI's current details name what the owner must do: answer the customer.
        assert "read and answer the customer's sms reply" in (owner_next_action(state) or "")


async def test_a_forged_yes_by_email_from_the_customers_address_leaves_the_case_open_and_the_owner_is_told(
    tmp_path,
) -> None:
    # No mobile: the ask goes by e-mail. Anyone can send "YES" with the customer's address in From;
    # the inbound service found no aligned SPF or DKIM pass for it.
    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path, phone=None) as case:
        await case.wait(DAY)
        await case.handle.execute_update(ComplaintCase.ask_to_close, AskToClose(recorded_by="amara.okafor"))
        await case.wait(MINUTE)
        await customer_says(case, "YES", sender=EMAIL, reply_id="<forged@mail.example.net>", sender_authenticated=False)
        state = await case.wait(HOUR)
        assert state.stage is not CaseStage.CLOSED and state.confirmation is None
        assert case.outbox.received(MessageKind.CLOSURE) == []
        [forged] = state.customer_replies
        assert (forged.meaning, forged.from_customer, forged.sender_authenticated) == ("yes", True, False)
        [notice] = staff_notices(case, "reply")
        assert notice["subject"].endswith(
            "an e-mail giving the customer's address that failed the sender checks (SPF/DKIM)"
        )
        assert "it may be forged, so the case did nothing on it" in notice["detail"]
        assert "a reply from the customer" not in notice["subject"]
        assert "not on file" not in notice["subject"]
        assert state.asked_to_close_at is not None  # still waiting for the customer's own answer

        # The customer's own YES, from their provider (DKIM passed for their domain), still closes it.
        said_at = await customer_says(
            case, "Yes", sender=EMAIL, reply_id="<own@mail.example.com>", sender_authenticated=True
        )
        _, final = await case.closed()
        assert final.confirmation is not None and final.confirmation.recorded_by == "customer"
        assert final.confirmation.how is HowSaid.EMAIL and final.confirmation.said_at == said_at


async def test_a_forged_no_by_email_escalates_nothing(tmp_path) -> None:
    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path, phone=None) as case:
        await case.wait(DAY)
        await case.handle.execute_update(ComplaintCase.ask_to_close, AskToClose(recorded_by="amara.okafor"))
        await case.wait(MINUTE)
        await customer_says(case, "NO", sender=EMAIL, reply_id="<forged@mail.example.net>", sender_authenticated=False)
        state = await case.wait(HOUR)
        assert state.escalation_level == 0 and state.escalations == []
        assert case.outbox.received(MessageKind.ESCALATION) == []


async def test_a_flood_of_replies_from_strangers_gives_the_owner_one_notice_a_day(tmp_path) -> None:
    # Spam texts to the case: every one is kept, the owner hears of the first of each 24 hours (v8).
    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path) as case:
        await case.wait(HOUR)
        for n in range(5):
            await customer_says(case, f"WIN A PRIZE {n}", sender="+447700900123", reply_id=f"SPAM{n}")
        await customer_says(case, "Thanks, the engineer came", reply_id="OWN1")  # the customer: told
        state = await case.wait(HOUR)
        assert len(state.customer_replies) == 6
        notices = staff_notices(case, "reply")
        assert len(notices) == 2
        [stranger] = [n for n in notices if "not on file" in n["subject"]]
        assert "next 24 hours are kept in the case without a notice" in stranger["detail"]
        await case.wait(DAY)
        await customer_says(case, "WIN AGAIN", sender="+447700900123", reply_id="SPAM9")
        await case.wait(HOUR)
        assert len(staff_notices(case, "reply")) == 3


async def test_stop_is_confirmed_once_and_no_text_follows(tmp_path) -> None:
    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path) as case:
        state = await case.wait(HOUR)
        texts_before = len([m for m in state.messages if m.channel is ChannelKind.SMS])
        await customer_says(case, "STOP", reply_id="SM1")
        state = await case.wait(MINUTE)
        stopped_at = state.sms_stopped_at
        assert stopped_at is not None
        await customer_says(case, "stop", reply_id="SM2")
        # Past the 3-working-day schedule offer (phone first, then in writing) and the first update.
        state = await case.wait(10 * DAY)
        assert state.sms_stopped_at == stopped_at
        [confirmation] = case.outbox.received(MessageKind.TEXTS_STOPPED)
        assert confirmation.channel is ChannelKind.EMAIL
        assert len([m for m in state.messages if m.channel is ChannelKind.SMS]) == texts_before
        assert case.outbox.received(MessageKind.UPDATE_SCHEDULE, ChannelKind.EMAIL)
        channel = await case.handle.execute_update(ComplaintCase.ask_to_close, AskToClose(recorded_by="amara.okafor"))
        assert channel == "email"


async def test_ask_to_close_is_refused_where_only_a_letter_reaches_the_customer(tmp_path) -> None:
    async with (
        server_at(PLAIN_TUESDAY) as env,
        running_case(env, tmp_path, phone="029 2018 3000", email=None, preferred_written_channel="letter") as case,
    ):
        await case.wait(HOUR)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await case.handle.execute_update(ComplaintCase.ask_to_close, AskToClose(recorded_by="amara.okafor"))
        assert "a letter cannot be answered by reply" in str(refused.value.cause)
        state = await case.state()
        assert state.asked_to_close_at is None and case.outbox.received(MessageKind.ASK_TO_CLOSE) == []


async def test_corrected_contact_keys_are_published_for_the_inbound_service(tmp_path) -> None:
    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path) as case:
        await case.wait(HOUR)
        keys = ["a" * 64, "b" * 64]
        await case.handle.execute_update(
            ComplaintCase.correct_contact,
            ContactCorrection(email="gwen@example.org", recorded_by="amara.okafor", contact_keys=keys),
        )
        description = await case.handle.describe()
        assert description.typed_search_attributes.get(sa.CUSTOMER_CONTACT_KEYS) == keys


async def test_ask_to_close_is_refused_until_the_owner_has_introduced_themselves(tmp_path) -> None:
    # Tuesday night: the introduction waits for the working day, so nobody has introduced themselves.
    async with server_at(TUESDAY_NIGHT) as env, running_case(env, tmp_path) as case:
        await case.wait(5 * MINUTE)
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await case.handle.execute_update(ComplaintCase.ask_to_close, AskToClose(recorded_by="amara.okafor"))
        assert "has not introduced themselves to the customer yet" in str(refused.value.cause)
        state = await case.state()
        assert state.asked_to_close_at is None and case.outbox.received(MessageKind.ASK_TO_CLOSE) == []
        await case.wait(DAY)  # the written introduction went at 09:00
        assert await case.handle.execute_update(ComplaintCase.ask_to_close, AskToClose(recorded_by="amara.okafor"))


async def test_a_bounce_after_the_clock_ran_out_is_a_breach_even_though_the_letter_went(tmp_path) -> None:
    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path) as case:
        state = await case.wait(2 * DAY)  # Thursday 10:00; the acknowledgement was due Wednesday 10:00
        assert state.milestone("acknowledgement").met
        email = sent(state, MessageKind.ACKNOWLEDGEMENT, ChannelKind.EMAIL)
        await vendor_says(case, email, DeliveryStatus.BOUNCED, "sg-1")
        state = await case.wait(MINUTE)
        ack = state.milestone("acknowledgement")
        letter = sent(state, MessageKind.ACKNOWLEDGEMENT, ChannelKind.LETTER)
        assert ack.done_at == letter.dispatched_at == utc(2030, 2, 14, 17, 0)
        assert ack.breached and not ack.met
        assert len([a for a in state.alerts if "acknowledgement missed its deadline" in a]) == 1


# --- texts and the quiet hours ------------------------------------------------------------------

TUESDAY_NIGHT = utc(2030, 2, 12, 21, 0)


async def test_an_ask_to_close_at_night_is_texted_when_the_quiet_hours_end(tmp_path) -> None:
    async with server_at(TUESDAY_NIGHT) as env, running_case(env, tmp_path) as case:
        await case.wait(5 * MINUTE)
        # The owner phoned (which introduces them) and asks in the evening.
        owner = (await case.state()).owner
        assert owner is not None
        await case.handle.execute_update(
            ComplaintCase.record_call, CallMade(outcome=CallOutcome.REACHED, recorded_by=owner.id)
        )
        channel = await case.handle.execute_update(ComplaintCase.ask_to_close, AskToClose(recorded_by=owner.id))
        assert channel == "sms"
        await case.wait(utc(2030, 2, 13, 8, 0) - await env.get_current_time() - MINUTE)
        assert case.outbox.received(MessageKind.ASK_TO_CLOSE) == []
        state = await case.wait(2 * MINUTE)
        [ask] = case.outbox.received(MessageKind.ASK_TO_CLOSE)
        assert ask.channel is ChannelKind.SMS
        assert sent(state, MessageKind.ASK_TO_CLOSE, ChannelKind.SMS).at >= utc(2030, 2, 13, 8, 0)


async def test_an_ask_retried_into_the_evening_waits_until_eight_instead_of_going_at_night(tmp_path) -> None:
    # Asked at 19:51 with Twilio down for 90 minutes: the retries run into the quiet hours at 20:00.
    asked_at, eight = utc(2030, 2, 12, 19, 51), utc(2030, 2, 13, 8, 0)
    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path) as case:
        await case.wait(asked_at - await env.get_current_time())
        case.outbox.down_until = {ChannelKind.SMS: asked_at + 90 * MINUTE}
        channel = await case.handle.execute_update(ComplaintCase.ask_to_close, AskToClose(recorded_by="amara.okafor"))
        assert channel == "sms"
        state = await case.wait(eight - await env.get_current_time() - MINUTE)
        assert case.outbox.received(MessageKind.ASK_TO_CLOSE) == []
        assert case.outbox.held  # the send itself refused it at night
        assert state.attention is None  # waiting for the morning is not failing
        state = await case.wait(2 * MINUTE)
        [ask] = case.outbox.received(MessageKind.ASK_TO_CLOSE)
        assert ask.channel is ChannelKind.SMS
        assert eight <= sent(state, MessageKind.ASK_TO_CLOSE, ChannelKind.SMS).at < eight + MINUTE
        assert [m.status for m in state.messages if m.kind is MessageKind.ASK_TO_CLOSE] == ["sent"]
        assert not [a for a in state.alerts if "ask to close" in a]


async def test_stop_at_night_sends_the_waiting_ask_by_email_and_withdraws_the_waiting_texts(tmp_path) -> None:
    # 02:00 on a Saturday: the 48 hours end before Monday, so the introduction goes by e-mail at
    # once and its text waits for 08:00.
    async with server_at(utc(2030, 3, 16, 2, 0)) as env, running_case(env, tmp_path) as case:
        state = await case.wait(5 * MINUTE)
        assert [t.kind for t in state.deferred_texts] == [MessageKind.INTRODUCTION]  # its e-mail went at once
        await case.handle.execute_update(ComplaintCase.ask_to_close, AskToClose(recorded_by="amara.okafor"))
        await customer_says(case, "Stop")
        state = await case.wait(DAY)
        assert state.deferred_texts == []
        assert [m.channel for m in state.messages if m.kind is MessageKind.ASK_TO_CLOSE] == [ChannelKind.EMAIL]
        assert case.outbox.received(MessageKind.INTRODUCTION, ChannelKind.SMS) == []
        withdrawn = [m for m in state.messages if m.status == "withdrawn"]
        assert [(m.kind, m.channel) for m in withdrawn] == [(MessageKind.INTRODUCTION, ChannelKind.SMS)]
        [confirmation] = case.outbox.received(MessageKind.TEXTS_STOPPED)
        assert confirmation.channel is ChannelKind.EMAIL
