"""What the customer and the vendors tell a case after a message went out (v4, closed-loop). Pure.

The workflow's handlers (workflows/customer_loop.py) decide with these functions: what a reply
means, whether it came from the customer's own number or address, whether a vendor's event moves a
message forward, and what the owner still has to look at.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime, timedelta

from domain.formatting import local_label
from domain.models import (
    CaseState,
    ChannelKind,
    Customer,
    CustomerReply,
    CustomerReplyRecord,
    DeliveryStatus,
    MessageKind,
    MessageRecord,
)

YES = "yes"
NO = "no"
STOP = "stop"
REPLY = "reply"

# Twilio's default opt-out keywords: Twilio itself stops texting a number that sends one, so the
# case must stop too, and say so in writing.
OPT_OUT_WORDS = frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit"})

# Messages that carry a clock of the code: one that bounces falls back to the next channel.
CLOCK_KINDS = frozenset(
    {MessageKind.ACKNOWLEDGEMENT, MessageKind.INTRODUCTION, MessageKind.UPDATE_SCHEDULE, MessageKind.ADR_RIGHTS}
)

# Messages that act on what the customer said: a reply before one of them has had its answer.
ANSWERING_KINDS = frozenset({MessageKind.CLOSURE, MessageKind.ESCALATION, MessageKind.TEXTS_STOPPED})

# Phone -> e-mail -> letter: a fallback only ever moves down this list (a letter cannot bounce back).
FALLBACK_ORDER = (ChannelKind.SMS, ChannelKind.EMAIL, ChannelKind.LETTER)


def _trimmed(text: str) -> str:
    """The text without surrounding whitespace, punctuation or invisible characters ("Yes." -> "yes")."""
    edge = 0
    while edge < len(text) and _is_padding(text[edge]):
        edge += 1
    end = len(text)
    while end > edge and _is_padding(text[end - 1]):
        end -= 1
    return text[edge:end].casefold()


def _is_padding(char: str) -> bool:
    return char.isspace() or unicodedata.category(char)[0] in ("P", "Z", "C")


def reply_meaning(text: str) -> str:
    """YES, NO, STOP or REPLY. Only a reply that is the word alone is acted on: "yes but the line
    still drops" closes nothing, it is a reply for the owner to read."""
    word = _trimmed(text)
    if word == YES:
        return YES
    if word == NO:
        return NO
    if word in OPT_OUT_WORDS:
        return STOP
    return REPLY


def from_customer(reply: CustomerReply, customer: Customer) -> bool:
    """The sender is the customer's own current number (E.164, exactly) or address (any case)."""
    if reply.channel is ChannelKind.SMS:
        return customer.phone is not None and reply.sender == customer.phone
    if reply.channel is ChannelKind.EMAIL:
        return customer.email is not None and reply.sender.casefold() == customer.email.casefold()
    return False


def failed_sender_checks(reply: CustomerReply | CustomerReplyRecord) -> bool:
    """An e-mail whose From address the inbound service could not authenticate (no aligned SPF or
    DKIM pass): it may be forged, whatever address it gives. Never true of a text, nor of a reply
    received before the check (None: not checked), so what those decided is unchanged."""
    return reply.sender_authenticated is False


def answers_for_customer(reply: CustomerReply, customer: Customer) -> bool:
    """A YES, NO or STOP is acted on only from the customer's own number or address, and an
    e-mail only if its sender passed the checks: anyone can write the customer's address in From."""
    return from_customer(reply, customer) and not failed_sender_checks(reply)


def owner_reply_notice(reply: CustomerReply, meaning: str, own: bool, acted: str, reference: str) -> tuple[str, str]:
    """(what, detail) of the owner's notice of a reply: no more than the case knows of its sender.

    `own`: it gives the customer's number or address; `acted`: what the case did on it, or "".
    """
    received = local_label(reply.received_at)
    read = f"Read it with admin.py status {reference}."
    if own and failed_sender_checks(reply):
        what = "an e-mail giving the customer's address that failed the sender checks (SPF/DKIM)"
        return what, (
            f"An e-mail giving the customer's address arrived {received} (read as: {meaning}), but it failed "
            "the sender checks (SPF/DKIM): it may be forged, so the case did nothing on it. Check with the "
            f"customer another way before acting on it. {read}"
        )
    who = "the customer" if own else "a sender not on file for the customer"
    done = f"{acted.capitalize()}. " if acted else ""
    if own and not acted and meaning in (YES, NO):
        # A YES or NO the case did not act on: say why, or the owner may think it closed or escalated.
        done = (
            "Nothing was done on it: no request to confirm was outstanding (none had been sent, it was "
            "already answered, or the case has escalated since); if they mean it, record it with admin.py "
            "satisfied or not-satisfied, or ask again with admin.py ask-to-close. "
        )
    return f"a reply from {who}" + (f": {acted}" if acted else ""), (
        f"{_A_REPLY[reply.channel]} reply from {who} arrived {received} (read as: {meaning}). {done}{read}"
    )


_A_REPLY = {ChannelKind.SMS: "A text", ChannelKind.EMAIL: "An e-mail", ChannelKind.LETTER: "A letter"}


# Replies no one on file for the customer sent (another number or address, or a forged e-mail):
# the owner hears of the first in this long, the rest wait in the case (v8), so a flood of spam to
# a case's reply address cannot fill one person's inbox. Every reply is still kept and shown.
STRANGER_NOTICE_QUIET = timedelta(hours=24)


def unverified(record: CustomerReplyRecord) -> bool:
    """A reply the customer may not have sent: not from their number or address, or forged."""
    return not record.from_customer or failed_sender_checks(record)


def owner_told_of_strangers_lately(state: CaseState, latest: CustomerReplyRecord) -> bool:
    """Whether another unverified reply arrived within the quiet period before `latest` (whose
    notice the owner has then had): `latest` needs no notice of its own."""
    since = latest.received_at - STRANGER_NOTICE_QUIET
    return any(
        r is not latest and unverified(r) and since <= r.received_at <= latest.received_at
        for r in state.customer_replies
    )


def moves_forward(record: MessageRecord, status: DeliveryStatus, vendor_at: datetime) -> bool:
    """Whether a vendor's event changes what the case believes about a message.

    Accepted < deferred < delivered < bounced/dropped/undelivered. A failure is final: the fallback
    has gone, and a late "delivered" (webhooks arrive in any order) does not undo it. A failure after
    "delivered" counts only if the vendor stamped it later (an asynchronous bounce: the receiving
    server took the e-mail, then returned it); a deferral after either is old news.
    """
    current = record.delivery
    if current is None:
        return True
    if current.failed:
        return False
    if current is DeliveryStatus.DEFERRED:
        return status is not DeliveryStatus.DEFERRED
    # Delivered.
    return status.failed and (record.delivery_at is None or vendor_at >= record.delivery_at)


def fallback_channel(
    failed: ChannelKind,
    reachable: list[ChannelKind],
    failed_channels: set[ChannelKind],
    reached_channels: set[ChannelKind],
) -> ChannelKind | None:
    """The channel a message that did not reach the customer goes by next: the first one down the
    fallback order that can reach them and has not failed. None when none is left, or when that
    channel already carried the same message to them (an introduction's e-mail after its text)."""
    for channel in FALLBACK_ORDER[FALLBACK_ORDER.index(failed) + 1 :]:
        if channel not in reachable or channel in failed_channels:
            continue
        return None if channel in reached_channels else channel
    return None


def message_sequence(key: str) -> int | None:
    """The message number in a key "<reference>/<nnn>-<kind>-<channel>" (None for other keys)."""
    _, _, rest = key.partition("/")
    number, _, _ = rest.partition("-")
    return int(number) if number.isdigit() else None


def ask_outstanding(state: CaseState, *, lapses_at_escalation: bool = True) -> bool:
    """The customer was asked to confirm by reply and has not answered YES or NO since. A forged
    YES (an e-mail that failed the sender checks) answers nothing: the customer's own answer still counts.

    `lapses_at_escalation` (v8): nor has the case escalated since (not satisfied, a NO, a
    re-opening), so a YES to a request made before it cannot close the escalated case. False only
    for the histories of cases begun before v8, which decided without it.
    """
    asked = state.asked_to_close_at
    if asked is None:
        return False
    if lapses_at_escalation and any(e.at >= asked for e in state.escalations):
        return False
    return not any(
        r.from_customer and not failed_sender_checks(r) and r.meaning in (YES, NO) and r.received_at >= asked
        for r in state.customer_replies
    )


def delivery_problems(state: CaseState) -> list[MessageRecord]:
    """Messages a vendor says never reached the customer, that no other message replaced: neither a
    fallback nor another channel of the same clock (an introduction's e-mail after its text)."""
    replaced = {m.fallback_for for m in state.messages if m.fallback_for}
    met = {m.milestone for m in state.messages if m.milestone and m.status == "sent" and not _failed(m)}
    return [m for m in state.messages if _failed(m) and m.key not in replaced and m.milestone not in met]


def _failed(record: MessageRecord) -> bool:
    return record.delivery is not None and record.delivery.failed


def unanswered_replies(state: CaseState) -> list[CustomerReplyRecord]:
    """Replies nobody has dealt with: no call, note or escalation since, and no closure, escalation
    or texts-stopped message after them. A regular update or the 8-week letter goes whether or not
    anyone read the reply, so it answers nothing."""
    answers = (
        [c.at for c in state.calls]
        + [n.at for n in state.notes]
        + [e.at for e in state.escalations]
        + [m.at for m in state.messages if m.kind in ANSWERING_KINDS and m.status == "sent"]
    )
    last_answer = max(answers, default=None)
    return [r for r in state.customer_replies if last_answer is None or r.received_at > last_answer]


def loop_facts(state: CaseState) -> dict[str, object]:
    """What came back from the customer and the vendors, for `admin.py status --json` and the
    evidence record (each message's own delivery fields are in `messages`)."""
    unanswered = {r.reply_id for r in unanswered_replies(state)}
    delivery = {"key", "kind", "channel", "delivery", "delivery_reason", "delivery_event_id", "delivery_at"}
    return {
        "customer_replies": [
            r.model_dump(mode="json") | {"unanswered": r.reply_id in unanswered} for r in state.customer_replies
        ],
        "delivery_problems": [m.model_dump(mode="json", include=delivery) for m in delivery_problems(state)],
        **state.model_dump(mode="json", include={"sms_stopped_at", "asked_to_close_at"}),
        "ask_to_close_outstanding": ask_outstanding(state),
    }


def delivery_proof(record: MessageRecord) -> dict[str, object] | None:
    """What the vendor reported about a message, as the evidence record shows it. The case applies
    only events whose signature the inbound service verified (it refuses the rest), so every status
    recorded here is signed by the vendor."""
    if record.delivery is None:
        return None
    return {
        "status": record.delivery.value,
        "reason": record.delivery_reason,
        "event_id": record.delivery_event_id,
        "vendor_at": record.delivery_at.isoformat() if record.delivery_at else None,
        "signature": "verified",
    }


def vendor_says(record: MessageRecord) -> str:
    """One line for `admin.py status`: what the vendor reported and when, e.g.
    "bounced Mon 30 Nov 10:02 (550 5.1.1 mailbox unavailable), signed"."""
    if record.delivery is None:
        return ""
    when = f" {local_label(record.delivery_at)}" if record.delivery_at else ""
    reason = f" ({record.delivery_reason})" if record.delivery_reason else ""
    return f"{record.delivery.value}{when}{reason}, signed"
