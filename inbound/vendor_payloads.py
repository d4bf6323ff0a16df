"""What the vendors post, read into the pipeline's models (pure: no I/O, no clock of its own).

SendGrid's Event Webhook carries our `custom_args` (case_reference, message_key) as top-level
fields of each event; Twilio's status callback carries only its own fields, so the message key
travels in the callback URL we set (`?key=`).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from email.parser import HeaderParser
from email.utils import getaddresses, parseaddr

from email_reply_parser import EmailReplyParser
from pydantic import ValidationError

from channels.reply_address import reference_in_address, reference_in_text
from domain.models import ChannelKind, CustomerReply, DeliveryEvent, DeliveryStatus, Vendor
from inbound.sender_checks import sender_authenticated
from ops.contact_keys import normal_email, normal_phone

# SendGrid event -> what it says about delivery. "processed" is SendGrid accepting the message,
# which the case already records as sent; opens, clicks and unsubscribes are not delivery.
SENDGRID_STATUS = {
    "delivered": DeliveryStatus.DELIVERED,
    "deferred": DeliveryStatus.DEFERRED,
    "bounce": DeliveryStatus.BOUNCED,
    "blocked": DeliveryStatus.BOUNCED,
    "dropped": DeliveryStatus.DROPPED,
}

# Twilio MessageStatus -> delivery. queued/sending/sent are on the way; "failed" means Twilio
# could not send it at all, which for the customer is the same as undelivered.
TWILIO_STATUS = {
    "delivered": DeliveryStatus.DELIVERED,
    "undelivered": DeliveryStatus.UNDELIVERED,
    "failed": DeliveryStatus.UNDELIVERED,
}


class PayloadError(ValueError):
    """The request is well signed but not what the vendor documents: refused with 400."""


def sendgrid_events(body: str) -> tuple[list[DeliveryEvent], int]:
    """(the delivery events in a verified batch, how many events were skipped as not ours or not
    about delivery)."""
    try:
        batch = json.loads(body)
    except ValueError:
        raise PayloadError("the body is not JSON") from None
    if not isinstance(batch, list):
        raise PayloadError("the body is not a JSON array of events")
    events: list[DeliveryEvent] = []
    skipped = 0
    for raw in batch:
        if not isinstance(raw, dict):
            raise PayloadError("an event is not a JSON object")
        kind = raw.get("event")
        status = SENDGRID_STATUS.get(kind if isinstance(kind, str) else "")
        key = raw.get("message_key")
        if status is None or not isinstance(key, str) or not raw.get("sg_event_id"):
            skipped += 1  # not about delivery, or not a message the pipeline sent
            continue
        if kind == "blocked" or raw.get("type") == "blocked":
            reason = f"blocked: {raw.get('reason') or ''}".strip(": ")
        else:
            reason = str(raw.get("reason") or raw.get("response") or "")
        try:
            events.append(
                DeliveryEvent(
                    event_id=str(raw["sg_event_id"]),
                    message_key=key,
                    vendor=Vendor.SENDGRID,
                    status=status,
                    vendor_at=datetime.fromtimestamp(int(raw["timestamp"]), UTC),
                    reason=str(reason)[:1000] if reason else None,
                    signature_verified=True,
                )
            )
        except (ValidationError, TypeError, ValueError, OverflowError, KeyError) as exc:
            raise PayloadError(f"event {raw.get('sg_event_id')}: {_first_error(exc)}") from None
    return events, skipped


def twilio_status_event(form: dict[str, str], message_key: str | None, received_at: datetime) -> DeliveryEvent | None:
    """The delivery event in a verified status callback, or None for a status on the way (sent)."""
    status = TWILIO_STATUS.get(form.get("MessageStatus", ""))
    if status is None:
        return None
    sid = form.get("MessageSid") or form.get("SmsSid")
    if not sid or not message_key:
        raise PayloadError("a status callback needs MessageSid and the ?key= the pipeline set")
    code = form.get("ErrorCode")
    try:
        return DeliveryEvent(
            event_id=f"{sid}:{form['MessageStatus']}",
            message_key=message_key,
            vendor=Vendor.TWILIO,
            status=status,
            # Twilio's callback carries no time of its own: it is sent as the status changes.
            vendor_at=received_at,
            reason=f"Twilio error {code}" if code else None,
            signature_verified=True,
        )
    except ValidationError as exc:
        raise PayloadError(_first_error(exc)) from None


def twilio_sms_reply(form: dict[str, str], received_at: datetime) -> CustomerReply:
    sid = form.get("MessageSid") or form.get("SmsSid")
    sender = normal_phone(form.get("From", ""))
    if not sid or not sender:
        raise PayloadError("an incoming SMS needs MessageSid and a From number")
    try:
        return CustomerReply(
            reply_id=sid,
            channel=ChannelKind.SMS,
            received_at=received_at,
            sender=sender,
            text=form.get("Body", "")[:5000],
            signature_verified=True,
        )
    except ValidationError as exc:
        raise PayloadError(_first_error(exc)) from None


def inbound_email_reply(form: dict[str, str], received_at: datetime) -> tuple[CustomerReply, str | None]:
    """(the reply in an Inbound Parse post, the case reference it names, if any).

    The reference is read from the plus-address it was sent to (the envelope, then the To and Cc
    headers), falling back to the subject, which a mail client may have rewritten. Whether the From
    address is authenticated is judged from the post's `SPF`, `dkim` and envelope `from`.
    """
    headers = HeaderParser().parsestr(form.get("headers", ""))
    sender = parseaddr(form.get("from", "") or headers.get("From", ""))[1]
    if not sender or "@" not in sender:
        raise PayloadError("an inbound e-mail needs a From address")
    recipients: list[str] = []
    envelope_from = ""
    try:
        envelope = json.loads(form.get("envelope") or "{}")
        recipients += [r for r in envelope.get("to", []) if isinstance(r, str)]
        envelope_from = envelope.get("from") if isinstance(envelope.get("from"), str) else ""
    except (ValueError, AttributeError):
        pass
    recipients += [addr for _, addr in getaddresses([form.get("to", ""), form.get("cc", "")])]
    reference = next((ref for ref in map(reference_in_address, recipients) if ref), None)
    reference = reference or reference_in_text(form.get("subject", ""))
    # The reply above the quoted thread (and signature): what the customer wrote now.
    text = EmailReplyParser.parse_reply(form.get("text") or "")
    # One line, whatever the sender folded or smuggled into the header: the id is logged, stored
    # and shown to staff, and a CR/LF in it would forge a line of its own in a text log.
    message_id = one_line(headers.get("Message-ID") or "")
    # Without a Message-ID, the same post retried by SendGrid must still get the same id.
    reply_id = (
        message_id or "email:" + hashlib.sha256(f"{sender}\n{form.get('subject', '')}\n{text}".encode()).hexdigest()
    )
    try:
        reply = CustomerReply(
            reply_id=reply_id[:300],
            channel=ChannelKind.EMAIL,
            received_at=received_at,
            sender=normal_email(sender),
            text=text[:5000],
            # The basic-auth secret proves SendGrid posted it; these checks, who wrote it.
            signature_verified=True,
            sender_authenticated=sender_authenticated(
                sender, spf=form.get("SPF", ""), dkim=form.get("dkim", ""), envelope_from=envelope_from
            ),
        )
    except ValidationError as exc:
        raise PayloadError(_first_error(exc)) from None
    return reply, reference


def one_line(text: str) -> str:
    """`text` unfolded onto one line: each run of whitespace and control characters (CR, LF, tab,
    NUL, ESC, Unicode's line separators, ...) becomes one space, and the ends are trimmed."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        error = exc.errors()[0]
        return f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}"
    return str(exc)
