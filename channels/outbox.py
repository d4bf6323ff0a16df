"""The embedded default channel: writes what the customer would receive, instead of sending it.

`<data_dir>/outbox/<reference>/` holds, per message key:
- `<key>.eml`: the email as it would be delivered (text and HTML alternatives, Message-ID,
  X-Case-Reference, X-Message-Key); opens in any mail client;
- `<key>.sms.json`: {"to", "from", "body", "key", "reference", "created_at"};
- `<key>.pdf`: the letter, exactly as the post room would print it.

Runs with no vendor account, and is what `build_channels` picks for any channel without keys. It
applies the same recipient rules as the real channels, so a case behaves the same either way.
Writing the same key again replaces the file: a retried send does not leave a second copy.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import SMTP, compat32
from email.utils import format_datetime, getaddresses
from pathlib import Path

from channels.base import (
    Clock,
    PermanentDeliveryError,
    RenderedMessage,
    TransientDeliveryError,
    display_name,
    header_safe,
    require_e164,
    require_email,
    safe_file_stem,
    utc_now,
)
from channels.letters import LetterRenderer, write_atomically
from channels.reply_address import plus_address
from domain.models import ChannelKind, DeliveryReceipt, SendRequest

# RFC 5322's 998-character line limit, not the 78 it recommends: folding a header that needs encoded
# words at 78 can split a name across words that CPython's parser then reads back wrongly (found by
# the template fuzzer with a non-ASCII handler name in the subject). One line keeps it whole.
WIRE = SMTP.clone(max_line_length=998)

DEFAULT_EMAIL_FROM = "complaints@outbox.invalid"


def _address(name: str | None, addr_spec: str) -> Address:
    try:
        return Address(display_name=display_name(name), addr_spec=addr_spec)
    except (ValueError, IndexError):
        raise PermanentDeliveryError("email address cannot be written in a header") from None


def _check_headers(email: EmailMessage, addresses: dict[str, str]) -> None:
    """Defence in depth: the header block as it goes on the wire, parsed back, holds exactly the
    headers written and, in each of `addresses`, exactly the one address intended.

    Names are made safe before they get here (`display_name`, `header_safe`); this catches what
    the email package's folding might still do to them (unquoting, decoding encoded words).
    """
    block = b"".join(WIRE.fold_binary(name, value) for name, value in email.raw_items())
    parsed = BytesHeaderParser(policy=compat32).parsebytes(block + b"\r\n")
    if [name.lower() for name in parsed.keys()] != [name.lower() for name in email.keys()]:
        raise PermanentDeliveryError("email headers did not survive folding: refused, not sent")
    for header, intended in addresses.items():
        found = getaddresses(parsed.get_all(header, []))
        if len(found) != 1 or found[0][1] != intended:
            raise PermanentDeliveryError(f"email {header} header would not hold exactly one address: refused")


def build_email(
    request: SendRequest,
    message: RenderedMessage,
    *,
    sender: str,
    sender_name: str | None = None,
    reply_to: str | None = None,
    sent_at: datetime | None = None,
) -> EmailMessage:
    """The email a customer receives for this request, as a standard library message."""
    to = require_email(request)
    domain = sender.rpartition("@")[2] or "outbox.invalid"
    email = EmailMessage()
    email["From"] = _address(sender_name, sender)
    email["To"] = _address(request.recipient.name, to)
    addresses = {"From": sender, "To": to}
    if reply_to:
        # As SendGrid sends it: plus-addressed with the reference, so a reply finds its case.
        reply_to = plus_address(reply_to, request.context.reference)
        email["Reply-To"] = _address(sender_name, reply_to)
        addresses["Reply-To"] = reply_to
    email["Subject"] = header_safe(message.subject)
    email["Date"] = format_datetime(sent_at or utc_now())
    # Derived from the key, so a resend carries the same Message-ID and mail clients fold it.
    email["Message-ID"] = f"<{hashlib.sha256(request.key.encode()).hexdigest()[:32]}@{domain}>"
    email["X-Case-Reference"] = header_safe(request.context.reference)
    email["X-Message-Key"] = header_safe(request.key)
    _check_headers(email, addresses)
    email.set_content(message.text)
    email.add_alternative(message.html, subtype="html")
    return email


class OutboxChannel:
    """One instance per channel kind; all three share the folder layout."""

    def __init__(
        self,
        kind: ChannelKind,
        outbox_dir: Path,
        *,
        email_from: str | None = None,
        email_from_name: str | None = None,
        email_reply_to: str | None = None,
        sms_from: str = "outbox",
        letters: LetterRenderer | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self.kind = ChannelKind(kind)
        self.outbox_dir = Path(outbox_dir)
        self.email_from = email_from or DEFAULT_EMAIL_FROM
        self.email_from_name = email_from_name
        self.email_reply_to = email_reply_to
        self.sms_from = sms_from
        self.letters = letters or LetterRenderer()
        self.clock = clock

    def __repr__(self) -> str:
        return f"OutboxChannel(kind={self.kind.value!r}, outbox_dir={str(self.outbox_dir)!r})"

    def folder(self, reference: str) -> Path:
        return self.outbox_dir / safe_file_stem(reference)

    def send(self, request: SendRequest, message: RenderedMessage) -> DeliveryReceipt:
        now = self.clock()
        stem = safe_file_stem(request.key)
        folder = self.folder(request.context.reference)
        if self.kind is ChannelKind.EMAIL:
            email = build_email(
                request,
                message,
                sender=self.email_from,
                sender_name=self.email_from_name,
                reply_to=self.email_reply_to,
                sent_at=now,
            )
            path, content = folder / f"{stem}.eml", email.as_bytes(policy=WIRE)  # CRLF, as on the wire
        elif self.kind is ChannelKind.SMS:
            record = {
                "to": require_e164(request),
                "from": self.sms_from,
                "body": message.sms,
                "key": request.key,
                "reference": request.context.reference,
                "created_at": now.isoformat(),
            }
            path, content = folder / f"{stem}.sms.json", json.dumps(record, indent=2, ensure_ascii=False).encode()
        else:
            letter = self.letters.render(request, message, dated=now)
            path, content = folder / f"{stem}.pdf", letter.content
        if path.exists():
            # Written whole (atomically) by an attempt that died before the ledger heard of it:
            # the file is the proof of dispatch, so this retry does not send it again.
            sent_at = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            return DeliveryReceipt(
                key=request.key, channel=self.kind, provider_id=str(path), sent_at=sent_at, duplicate=True
            )
        try:
            write_atomically(path, content)
        except OSError as exc:
            raise TransientDeliveryError(f"outbox not writable: {exc.strerror}") from None
        return DeliveryReceipt(key=request.key, channel=self.kind, provider_id=str(path), sent_at=now)
