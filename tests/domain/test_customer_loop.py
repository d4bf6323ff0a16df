"""What a reply means, who sent it, and which vendor events move a message forward (v4). Pure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.customer_loop import (
    NO,
    REPLY,
    STOP,
    STRANGER_NOTICE_QUIET,
    YES,
    answers_for_customer,
    ask_outstanding,
    delivery_problems,
    delivery_proof,
    fallback_channel,
    from_customer,
    message_sequence,
    moves_forward,
    owner_reply_notice,
    owner_told_of_strangers_lately,
    reply_meaning,
    unanswered_replies,
    vendor_says,
)
from domain.models import (
    Call,
    CallOutcome,
    CaseRole,
    CaseState,
    ChannelKind,
    Customer,
    CustomerReply,
    CustomerReplyRecord,
    DeliveryStatus,
    Escalation,
    Handler,
    MessageKind,
    MessageRecord,
    Note,
)
from domain.next_action import owner_next_action

REF = "CC-2030-ABCDEFGH"
OWNER = Handler(
    id="amara.okafor", name="Amara Okafor", role=CaseRole.CASE_HANDLER, phone="+442079460101", email="a@example.com"
)
CUSTOMER = Customer(name="Gwen Pritchard", email="gwen.pritchard@example.com", phone="+447911123456")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def reply(text: str = "YES", sender: str = "+447911123456", channel: ChannelKind = ChannelKind.SMS) -> CustomerReply:
    return CustomerReply(reply_id="SM1", channel=channel, received_at=utc(2030, 2, 14, 10), sender=sender, text=text)


def message(key: str = f"{REF}/001-acknowledgement-email", **fields: object) -> MessageRecord:
    values: dict[str, object] = {
        "kind": MessageKind.ACKNOWLEDGEMENT,
        "channel": ChannelKind.EMAIL,
        "status": "sent",
        "at": utc(2030, 2, 12, 10),
    }
    return MessageRecord(key=key, **(values | fields))  # type: ignore[arg-type]


# --- what a reply means ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "meaning"),
    [
        ("YES", YES),
        ("yes", YES),
        ("  Yes.  ", YES),
        ("'yes!'\n", YES),
        ("No", NO),
        ("no.", NO),
        ("STOP", STOP),
        ("stop", STOP),
        ("StopAll", STOP),
        ("UNSUBSCRIBE", STOP),
        ("cancel", STOP),
        ("End.", STOP),
        ("quit!", STOP),
        ("\u200bSTOP\u200b", STOP),  # zero-width spaces some phones add
        ("yes but the line still drops", REPLY),
        ("Not yet", REPLY),
        ("stop calling me at work", REPLY),
        ("yess", REPLY),
        ("", REPLY),
        ("...", REPLY),
    ],
)
def test_only_the_word_alone_is_an_answer(text: str, meaning: str) -> None:
    assert reply_meaning(text) == meaning


def test_the_customers_own_number_must_match_exactly_and_an_address_in_any_case() -> None:
    assert from_customer(reply(sender="+447911123456"), CUSTOMER)
    assert not from_customer(reply(sender="+447911123457"), CUSTOMER)
    assert not from_customer(reply(sender="07911123456"), CUSTOMER)  # the inbound service sends E.164
    assert from_customer(reply(sender="Gwen.Pritchard@EXAMPLE.com", channel=ChannelKind.EMAIL), CUSTOMER)
    assert not from_customer(reply(sender="someone@example.com", channel=ChannelKind.EMAIL), CUSTOMER)
    # A number is not an address, nor the other way round.
    assert not from_customer(reply(sender="+447911123456", channel=ChannelKind.EMAIL), CUSTOMER)
    assert not from_customer(reply(sender="+447911123456"), Customer(name="No Phone", email="n@example.com"))


def email(
    text: str = "YES", sender: str = "gwen.pritchard@example.com", authenticated: bool | None = None
) -> CustomerReply:
    return reply(text, sender=sender, channel=ChannelKind.EMAIL).model_copy(
        update={"sender_authenticated": authenticated}
    )


def test_an_email_from_the_customers_address_answers_for_them_only_if_it_passed_the_sender_checks() -> None:
    assert answers_for_customer(email(authenticated=True), CUSTOMER)
    assert not answers_for_customer(email(authenticated=False), CUSTOMER)  # anyone can write their address in From
    assert not answers_for_customer(email(sender="someone@example.com", authenticated=True), CUSTOMER)
    # Not checked: a text, and every e-mail received before the inbound service checked senders.
    assert answers_for_customer(email(authenticated=None), CUSTOMER)
    assert answers_for_customer(reply(sender="+447911123456"), CUSTOMER)


def test_the_owner_is_told_an_email_that_failed_the_sender_checks_is_not_known_to_be_the_customers() -> None:
    what, detail = owner_reply_notice(email(authenticated=False), YES, True, "", REF)
    assert what == "an e-mail giving the customer's address that failed the sender checks (SPF/DKIM)"
    assert detail == (
        "An e-mail giving the customer's address arrived Thu 14 Feb 10:00 (read as: yes), but it failed the sender "
        "checks (SPF/DKIM): it may be forged, so the case did nothing on it. Check with the customer another way "
        f"before acting on it. Read it with admin.py status {REF}."
    )


def test_the_owner_is_told_a_reply_from_the_customer_or_another_sender_as_before() -> None:
    closes = "the customer confirmed by reply that the complaint is resolved: the case closes"
    assert owner_reply_notice(email(authenticated=True), YES, True, closes, REF) == (
        f"a reply from the customer: {closes}",
        f"An e-mail reply from the customer arrived Thu 14 Feb 10:00 (read as: yes). {closes.capitalize()}. "
        f"Read it with admin.py status {REF}.",
    )
    what, detail = owner_reply_notice(reply(sender="+447700900123"), YES, False, "", REF)
    assert what == "a reply from a sender not on file for the customer"
    assert detail.startswith("A text reply from a sender not on file for the customer arrived Thu 14 Feb 10:00")
    # The customer's own YES with nothing asked of them: the owner is told nothing was done, and why.
    _, unasked = owner_reply_notice(reply(), YES, True, "", REF)
    assert unasked == (
        "A text reply from the customer arrived Thu 14 Feb 10:00 (read as: yes). Nothing was done on it: no "
        "request to confirm was outstanding (none had been sent, it was already answered, or the case has "
        "escalated since); if they mean it, record it with admin.py satisfied or not-satisfied, or ask again "
        f"with admin.py ask-to-close. Read it with admin.py status {REF}."
    )


# --- which vendor events move a message forward -------------------------------------------------


@pytest.mark.parametrize(
    ("current", "new", "forward"),
    [
        (None, DeliveryStatus.DEFERRED, True),
        (None, DeliveryStatus.DELIVERED, True),
        (None, DeliveryStatus.BOUNCED, True),
        (DeliveryStatus.DEFERRED, DeliveryStatus.DEFERRED, False),
        (DeliveryStatus.DEFERRED, DeliveryStatus.DELIVERED, True),
        (DeliveryStatus.DEFERRED, DeliveryStatus.DROPPED, True),
        (DeliveryStatus.DELIVERED, DeliveryStatus.DEFERRED, False),
        (DeliveryStatus.DELIVERED, DeliveryStatus.DELIVERED, False),
        (DeliveryStatus.DELIVERED, DeliveryStatus.BOUNCED, True),  # an asynchronous bounce
        (DeliveryStatus.BOUNCED, DeliveryStatus.DELIVERED, False),  # a late "delivered" undoes nothing
        (DeliveryStatus.UNDELIVERED, DeliveryStatus.DEFERRED, False),
        (DeliveryStatus.DROPPED, DeliveryStatus.BOUNCED, False),
    ],
)
def test_a_message_only_moves_forward(current: DeliveryStatus | None, new: DeliveryStatus, forward: bool) -> None:
    record = message(delivery=current, delivery_at=utc(2030, 2, 12, 10, 5) if current else None)
    assert moves_forward(record, new, utc(2030, 2, 12, 10, 6)) is forward


def test_a_bounce_stamped_before_the_delivery_is_old_news() -> None:
    record = message(delivery=DeliveryStatus.DELIVERED, delivery_at=utc(2030, 2, 12, 10, 5))
    assert not moves_forward(record, DeliveryStatus.BOUNCED, utc(2030, 2, 12, 10, 1))


def test_a_fallback_only_moves_down_from_text_to_email_to_letter() -> None:
    every = [ChannelKind.SMS, ChannelKind.EMAIL, ChannelKind.LETTER]
    sms, email, letter = ChannelKind.SMS, ChannelKind.EMAIL, ChannelKind.LETTER
    assert fallback_channel(sms, every, set(), set()) is email
    assert fallback_channel(sms, every, {email}, set()) is letter
    assert fallback_channel(email, every, set(), set()) is letter
    assert fallback_channel(email, [sms, email], set(), set()) is None  # never back to a text
    assert fallback_channel(letter, every, set(), set()) is None
    assert fallback_channel(sms, [sms, letter], set(), set()) is letter  # no e-mail address held


def test_no_fallback_when_the_next_channel_already_carried_the_message() -> None:
    every = [ChannelKind.SMS, ChannelKind.EMAIL, ChannelKind.LETTER]
    # An introduction went by text and e-mail; the text was undelivered: the e-mail reached them.
    assert fallback_channel(ChannelKind.SMS, every, set(), {ChannelKind.EMAIL}) is None
    # It went by text and letter (the customer prefers letters): the e-mail is sooner than the post.
    assert fallback_channel(ChannelKind.SMS, every, set(), {ChannelKind.LETTER}) is ChannelKind.EMAIL


def test_the_message_number_is_read_from_its_key() -> None:
    assert message_sequence(f"{REF}/007-update_schedule-sms") == 7
    assert message_sequence(f"{REF}/deferred-introduction-sms") is None
    assert message_sequence("no-slash") is None


# --- what is still open -------------------------------------------------------------------------


def record(
    meaning: str, at: datetime, from_customer: bool = True, sender_authenticated: bool | None = None
) -> CustomerReplyRecord:
    return CustomerReplyRecord(
        reply_id=f"SM{at.isoformat()}",
        channel=ChannelKind.SMS if sender_authenticated is None else ChannelKind.EMAIL,
        received_at=at,
        text=meaning,
        meaning=meaning,
        from_customer=from_customer,
        sender_authenticated=sender_authenticated,
    )


def test_an_ask_to_close_is_outstanding_until_the_customer_answers_yes_or_no_after_it() -> None:
    asked = utc(2030, 2, 20, 10)
    state = CaseState(reference=REF, asked_to_close_at=asked)
    assert ask_outstanding(state)
    state.customer_replies = [record(YES, asked.replace(hour=9))]  # before the ask: not its answer
    assert ask_outstanding(state)
    state.customer_replies.append(record(REPLY, asked.replace(hour=11)))
    state.customer_replies.append(record(NO, asked.replace(hour=12), from_customer=False))
    assert ask_outstanding(state)
    state.customer_replies.append(record(NO, asked.replace(hour=13)))
    assert not ask_outstanding(state)
    assert not ask_outstanding(CaseState(reference=REF))


def test_an_ask_to_close_lapses_when_the_case_escalates_after_it() -> None:
    asked = utc(2030, 2, 20, 10)

    def escalated(at: datetime) -> Escalation:
        return Escalation(at=at, reason="Line still drops", from_handler="a", to_handler="b", level=1)

    state = CaseState(reference=REF, asked_to_close_at=asked, escalations=[escalated(asked.replace(hour=9))])
    assert ask_outstanding(state)  # escalated before the ask: the ask stands
    state.escalations.append(escalated(asked))
    assert not ask_outstanding(state)  # the same moment counts: nothing answers an ask that lapsed
    assert ask_outstanding(state, lapses_at_escalation=False)  # a case begun before v8 decided so
    state.asked_to_close_at = asked.replace(hour=11)  # asked again after the escalation
    assert ask_outstanding(state)


def test_a_forged_yes_does_not_answer_the_ask_so_the_customers_own_answer_still_counts() -> None:
    asked = utc(2030, 2, 20, 10)
    state = CaseState(reference=REF, asked_to_close_at=asked)
    state.customer_replies = [record(YES, asked.replace(hour=11), sender_authenticated=False)]
    assert ask_outstanding(state)
    state.customer_replies.append(record(YES, asked.replace(hour=12), sender_authenticated=True))
    assert not ask_outstanding(state)


def test_a_reply_is_unanswered_until_the_owner_calls_notes_or_the_case_acts_on_it() -> None:
    state = CaseState(
        reference=REF,
        owner=OWNER,
        messages=[message(at=utc(2030, 2, 12, 10))],
        customer_replies=[record(REPLY, utc(2030, 2, 14, 9, 30))],
    )
    assert unanswered_replies(state) == state.customer_replies
    assert owner_next_action(state) == "amara.okafor: read and answer the customer's sms reply of Thu 14 Feb 09:30"
    # A regular update goes whether or not anyone read it: no answer.
    state.messages.append(
        message(key=f"{REF}/002-progress_update-email", kind=MessageKind.PROGRESS_UPDATE, at=utc(2030, 2, 14, 11))
    )
    assert unanswered_replies(state) == state.customer_replies
    answered: list[dict[str, object]] = [
        {"calls": [Call(at=utc(2030, 2, 14, 12), outcome=CallOutcome.REACHED, by="amara.okafor")]},
        {"notes": [Note(at=utc(2030, 2, 14, 12), author="amara.okafor", text="Replied by e-mail")]},
        {
            "messages": [
                message(key=f"{REF}/003-texts_stopped-email", kind=MessageKind.TEXTS_STOPPED, at=utc(2030, 2, 14, 12))
            ]
        },
    ]
    for change in answered:
        assert unanswered_replies(state.model_copy(update=change)) == []


def test_a_bounce_is_a_problem_until_a_fallback_or_another_channel_reached_the_customer() -> None:
    bounced = message(delivery=DeliveryStatus.BOUNCED, delivery_reason="550 mailbox unavailable")
    lone = message(
        key=f"{REF}/004-progress_update-email",
        kind=MessageKind.PROGRESS_UPDATE,
        delivery=DeliveryStatus.DROPPED,
        milestone="update_1",
    )
    state = CaseState(reference=REF, owner=OWNER, messages=[bounced, lone])
    assert delivery_problems(state) == [bounced, lone]
    assert owner_next_action(state) == (
        "amara.okafor: reach the customer another way: the progress update by email was dropped"
    )
    state.messages.append(
        message(key=f"{REF}/005-acknowledgement-letter", channel=ChannelKind.LETTER, fallback_for=bounced.key)
    )
    # The update's text reached them though its e-mail was dropped.
    state.messages.append(
        message(
            key=f"{REF}/004-progress_update-sms",
            kind=MessageKind.PROGRESS_UPDATE,
            channel=ChannelKind.SMS,
            milestone="update_1",
        )
    )
    assert delivery_problems(state) == []


def test_status_and_evidence_show_replies_unanswered_and_undelivered_messages() -> None:
    from domain.compliance_report import handler_facts

    bounced = message(delivery=DeliveryStatus.BOUNCED, delivery_reason="550", delivery_at=utc(2030, 2, 12, 10, 1))
    state = CaseState(
        reference=REF,
        messages=[bounced],
        customer_replies=[record(REPLY, utc(2030, 2, 14, 9, 30))],
        asked_to_close_at=utc(2030, 2, 13, 10),
    )
    facts = handler_facts(state, CUSTOMER)
    replies = facts["customer_replies"]
    assert isinstance(replies, list)
    [reply] = replies
    assert (reply["channel"], reply["received_at"], reply["text"], reply["unanswered"]) == (
        "sms",
        "2030-02-14T09:30:00Z",
        "reply",
        True,
    )
    assert facts["delivery_problems"] == [
        {
            "key": bounced.key,
            "kind": "acknowledgement",
            "channel": "email",
            "delivery": "bounced",
            "delivery_reason": "550",
            "delivery_event_id": None,
            "delivery_at": "2030-02-12T10:01:00Z",
        }
    ]
    assert facts["ask_to_close_outstanding"] is True and facts["sms_stopped_at"] is None


def test_the_status_shows_when_texts_stopped_and_the_ask_to_close_went_as_json_times() -> None:
    from domain.customer_loop import loop_facts

    state = CaseState(reference=REF, sms_stopped_at=utc(2030, 2, 15, 8, 30), asked_to_close_at=utc(2030, 2, 13, 10))
    facts = loop_facts(state)
    assert (facts["sms_stopped_at"], facts["asked_to_close_at"]) == ("2030-02-15T08:30:00Z", "2030-02-13T10:00:00Z")


def test_a_reply_by_post_is_never_taken_for_the_customers_own_text_or_email() -> None:
    assert not from_customer(reply(sender="+447911123456", channel=ChannelKind.LETTER), CUSTOMER)


def test_a_bounce_stamped_the_same_instant_as_the_delivery_still_counts() -> None:
    record = message(delivery=DeliveryStatus.DELIVERED, delivery_at=utc(2030, 2, 12, 10, 5))
    assert moves_forward(record, DeliveryStatus.BOUNCED, utc(2030, 2, 12, 10, 5))


def test_a_yes_received_the_same_instant_as_the_ask_to_close_answers_it() -> None:
    asked = utc(2030, 2, 20, 10)
    state = CaseState(reference=REF, asked_to_close_at=asked, customer_replies=[record(YES, asked)])
    assert not ask_outstanding(state)


def test_a_reply_received_the_same_instant_as_the_owners_call_is_answered_by_it() -> None:
    at = utc(2030, 2, 14, 12)
    state = CaseState(
        reference=REF,
        owner=OWNER,
        calls=[Call(at=at, outcome=CallOutcome.REACHED, by="amara.okafor")],
        customer_replies=[record(REPLY, at)],
    )
    assert unanswered_replies(state) == []


def test_the_evidence_shows_a_bounce_with_its_event_vendor_time_and_verified_signature() -> None:
    bounced = message(
        delivery=DeliveryStatus.BOUNCED,
        delivery_reason="550 5.1.1 mailbox unavailable",
        delivery_event_id="sg-evt-1",
        delivery_at=utc(2030, 2, 12, 10, 2),
    )
    assert delivery_proof(bounced) == {
        "status": "bounced",
        "reason": "550 5.1.1 mailbox unavailable",
        "event_id": "sg-evt-1",
        "vendor_at": "2030-02-12T10:02:00+00:00",
        "signature": "verified",
    }
    # In February London is on UTC: the handler reads the vendor's own time.
    assert vendor_says(bounced) == "bounced Tue 12 Feb 10:02 (550 5.1.1 mailbox unavailable), signed"


def test_a_message_no_vendor_has_reported_on_has_no_proof_beyond_its_acceptance() -> None:
    assert delivery_proof(message()) is None
    assert vendor_says(message()) == ""


def test_a_delivery_without_a_reason_reads_as_the_status_and_time_alone() -> None:
    delivered = message(
        delivery=DeliveryStatus.DELIVERED, delivery_event_id="sg-evt-2", delivery_at=utc(2030, 2, 12, 10, 2)
    )
    assert vendor_says(delivered) == "delivered Tue 12 Feb 10:02, signed"
    assert delivery_proof(delivered) == {
        "status": "delivered",
        "reason": None,
        "event_id": "sg-evt-2",
        "vendor_at": "2030-02-12T10:02:00+00:00",
        "signature": "verified",
    }


def test_a_status_recorded_without_the_vendors_time_is_shown_without_one() -> None:
    # The model lets a record carry a status with no vendor time (the field is optional): the
    # evidence and `admin.py status` show what is known rather than fail on what is not.
    bounced = message(delivery=DeliveryStatus.BOUNCED, delivery_reason="550 5.1.1 mailbox unavailable")
    assert vendor_says(bounced) == "bounced (550 5.1.1 mailbox unavailable), signed"
    assert delivery_proof(bounced) == {
        "status": "bounced",
        "reason": "550 5.1.1 mailbox unavailable",
        "event_id": None,
        "vendor_at": None,
        "signature": "verified",
    }


def test_the_owner_hears_of_one_unverified_reply_in_each_quiet_period() -> None:
    first = record(REPLY, utc(2030, 2, 20, 10), from_customer=False)
    state = CaseState(reference=REF, customer_replies=[first])
    assert not owner_told_of_strangers_lately(state, first)  # the first is told
    later = record(REPLY, first.received_at + STRANGER_NOTICE_QUIET, from_customer=False)
    state.customer_replies.append(later)
    assert owner_told_of_strangers_lately(state, later)  # still inside the period, at its edge
    forged = record(YES, later.received_at + timedelta(minutes=1), sender_authenticated=False)
    state.customer_replies.append(forged)
    assert owner_told_of_strangers_lately(state, forged)  # a forged e-mail counts as unverified
    own = record(REPLY, forged.received_at + timedelta(minutes=1))
    state.customer_replies.append(own)
    next_day = record(REPLY, forged.received_at + STRANGER_NOTICE_QUIET + timedelta(minutes=1), from_customer=False)
    state.customer_replies.append(next_day)
    assert not owner_told_of_strangers_lately(state, next_day)  # the customer's own reply does not count


def test_two_unverified_replies_at_the_same_moment_give_one_notice() -> None:
    first = record(REPLY, utc(2030, 2, 20, 10), from_customer=False)
    same = CustomerReplyRecord(**(first.model_dump() | {"reply_id": "SM-other"}))
    state = CaseState(reference=REF, customer_replies=[first, same])
    assert owner_told_of_strangers_lately(state, same)


def test_the_owners_notice_of_a_reply_not_acted_on_says_only_what_arrived() -> None:
    reply = CustomerReply(
        reply_id="SM1",
        channel=ChannelKind.SMS,
        received_at=utc(2030, 2, 20, 10),
        sender="+447911123456",
        text="Thanks",
        signature_verified=True,
    )
    assert owner_reply_notice(reply, REPLY, True, "", REF) == (
        "a reply from the customer",
        f"A text reply from the customer arrived Wed 20 Feb 10:00 (read as: reply). Read it with admin.py status {REF}.",
    )
