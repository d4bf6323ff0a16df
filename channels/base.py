"""What every channel shares: the protocol, the two kinds of failure, and small safety helpers.

A channel turns one rendered message into something the customer receives (an email, an SMS, a
letter) and answers with a `DeliveryReceipt`. It is synchronous on purpose: the vendor SDKs are
blocking, and the activity runs `send` in a worker thread.

Failures come in exactly two kinds, because the workflow needs exactly one decision from them:
- `PermanentDeliveryError`: retrying the same request cannot succeed (bad recipient, bad request,
  bad credentials, unverified sender, payload too large). The case falls back to another channel.
- `TransientDeliveryError`: the same request may succeed later (429, 5xx, timeouts, connection
  errors); `retry_after` carries the vendor's own back-off when it gave one.

Reasons end up in Temporal history and logs, so they are built from status codes and vendor error
codes and passed through `redact()`: no customer email addresses or phone numbers.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from domain.models import ChannelKind, DeliveryReceipt, SendRequest

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class RenderedMessage:
    """One message in every form a channel may need; built once by `channels.rendering.render`."""

    subject: str
    text: str
    html: str
    sms: str


class ProviderDetails(BaseModel):
    """Who the customer is dealing with: printed on letters, quoted in emails and texts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "Infinity System Solutions Ltd"
    address_lines: list[str] = Field(
        default_factory=lambda: ["Innovation Centre", "Festival Drive", "Ebbw Vale", "Blaenau Gwent"],
        min_length=1,
        max_length=6,
    )
    postcode: str = "NP23 8XA"
    phone: str = "0330 9000 009"
    phone_hours: str = "09:00 to 17:00, Monday to Friday, excluding bank holidays"
    # The sender name at the start of every SMS: short, so the message itself fits two segments.
    sms_sender_name: str = Field(default="Infinity System Solutions", max_length=30)


class DeliveryError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PermanentDeliveryError(DeliveryError):
    """Sending the same request again cannot succeed."""


class TransientDeliveryError(DeliveryError):
    """Sending the same request again may succeed; wait `retry_after` seconds when given."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


@runtime_checkable
class MessageChannel(Protocol):
    kind: ChannelKind

    def send(self, request: SendRequest, message: RenderedMessage) -> DeliveryReceipt:
        """Deliver one message, or raise PermanentDeliveryError / TransientDeliveryError."""
        ...


# --- helpers --------------------------------------------------------------------------------------

_LINE_BREAKS = re.compile(r"[\r\n\v\f\x85\u2028\u2029]+")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f]")


def header_safe(value: str) -> str:
    """One line of text, fit for an email header: CR/LF (and other line breaks) become spaces,
    other control characters go, and no RFC 2047 encoded word can start (`=?` becomes `= ?`).

    Customer- and handler-supplied text reaches subjects and display names; a CR/LF there is a
    header-injection attempt (or a paste accident) either way. An encoded word is the same attempt
    in disguise: `=?utf-8?q?=0D=0ABcc:_x@y.z?=` holds no line break, but CPython before 3.11.10 /
    3.12.5 (CVE-2024-6923) decodes it while folding a long header and writes the CRLF raw.
    """
    text = _CONTROL.sub("", _LINE_BREAKS.sub(" ", value)).replace("=?", "= ?")
    return " ".join(text.split())


# RFC 5322 3.2.3 specials, which a display name may only hold inside quotes; the email package
# drops those quotes when it folds a long name, so they are not kept at all.
_ADDRESS_SPECIALS = re.compile(r'[()<>\[\]:;@\\,."]')
# Bidirectional overrides and isolates: they make a name display as something else.
_BIDI_CONTROLS = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")
DISPLAY_NAME_MAX = 40


def display_name(value: str | None, max_length: int = DISPLAY_NAME_MAX) -> str:
    """A name for an email From/To/Reply-To header: one line, no encoded words, no RFC 5322
    specials, at most `max_length` characters (cut at a word boundary where one is near).

    Short and special-free, the name never needs quoting, so folding cannot turn it into extra
    recipients ("J. Smith, y@z.com" stays one name). It is for the header only; letters and email
    bodies print the name as typed.
    """
    # Bidi controls go before header_safe, so removing one cannot join "=" and "?" again.
    text = " ".join(_ADDRESS_SPECIALS.sub(" ", header_safe(_BIDI_CONTROLS.sub("", value or ""))).split())
    if len(text) <= max_length:
        return text
    head = text[: max_length + 1]
    if " " in head:
        trimmed = head.rsplit(" ", 1)[0].rstrip()
        if len(trimmed) >= max_length // 2:
            return trimmed
    return text[:max_length].rstrip()


_FILE_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_file_stem(value: str, max_length: int = 120) -> str:
    """A file-name stem from a message key or case reference: no separators, no dot-files."""
    stem = _FILE_UNSAFE.sub("_", value).strip("._") or "message"
    return stem[:max_length]


_EMAIL_LIKE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE_LIKE = re.compile(r"\+?\d[\d ()-]{5,}\d")


def redact(text: str, max_length: int = 300) -> str:
    """Vendor error text with email addresses and phone numbers masked, for logs and history."""
    text = _PHONE_LIKE.sub("[number]", _EMAIL_LIKE.sub("[email]", header_safe(text)))
    return text if len(text) <= max_length else text[: max_length - 3] + "..."


def header_lookup(headers: object, name: str) -> str | None:
    """Case-insensitive header read from a dict, `requests` headers or `http.client.HTTPMessage`."""
    if headers is None:
        return None
    getter = getattr(headers, "get", None)
    if getter is not None:
        value = getter(name)
        if value is not None:
            return str(value)
    if isinstance(headers, Mapping):
        lowered = name.lower()
        for key, value in headers.items():
            if str(key).lower() == lowered:
                return str(value)
    return None


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """`Retry-After` as seconds from now: either delta-seconds or an HTTP date (RFC 9110 10.2.3)."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or utc_now())).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


# --- transliteration, for targets with a fixed character set (GSM-7 texts, core-font PDFs) -------

_PUNCTUATION = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201a": "'",
    "\u201b": "'",
    "\u2032": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u201e": '"',
    "\u2033": '"',
    "\u2013": "-",
    "\u2014": "-",
    "\u2012": "-",
    "\u2212": "-",
    "\u2010": "-",
    "\u2011": "-",
    "\u2026": "...",
    "\u00a0": " ",
    "\u2009": " ",
    "\u202f": " ",
    "\u200b": "",
    "\u2022": "*",
    "\u00b7": ".",
    "\u2122": "TM",
    "\u0141": "L",
    "\u0142": "l",
    "\u00d0": "D",
    "\u00f0": "d",
    "\u0110": "D",
    "\u0111": "d",
    "\u00de": "Th",
    "\u00fe": "th",
    "\u0131": "i",
    "\u0152": "OE",
    "\u0153": "oe",
}


def transliterate(text: str, allowed: Callable[[str], bool], replacement: str = "?") -> str:
    """Keep what `allowed` accepts; fold the rest to a close ASCII form, else `replacement`.

    Customer names and notes may hold any Unicode; printers' core fonts and GSM-7 texts hold a
    fixed set. Folding ("Łukasz" -> "Lukasz", "Zoë" stays where allowed) beats a crash or a box.
    """
    out: list[str] = []
    for char in text:
        if allowed(char):
            out.append(char)
            continue
        mapped = _PUNCTUATION.get(char)
        if mapped is None:
            decomposed = unicodedata.normalize("NFKD", char)
            mapped = "".join(c for c in decomposed if not unicodedata.combining(c))
        if mapped and all(allowed(c) for c in mapped):
            out.append(mapped)
        else:
            out.append(replacement)
    return "".join(out)


# --- recipient checks, the same for every implementation of a channel -----------------------------

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def require_email(request: SendRequest) -> str:
    """The recipient's email address, normalised, or PermanentDeliveryError."""
    from email_validator import EmailNotValidError, validate_email

    address = request.recipient.email
    if not address:
        raise PermanentDeliveryError("email needs an address and the recipient has none")
    try:
        return validate_email(address, check_deliverability=False).normalized
    except EmailNotValidError:
        raise PermanentDeliveryError("recipient email address is not valid") from None


def require_e164(request: SendRequest) -> str:
    """The recipient's phone number in E.164 form, or PermanentDeliveryError.

    Vendors accept (and bill for) numbers they cannot deliver to; a malformed number is refused
    here, before anything is sent.
    """
    number = (request.recipient.phone or "").strip()
    if not number:
        raise PermanentDeliveryError("SMS needs a phone number and the recipient has none")
    if not _E164.fullmatch(number):
        raise PermanentDeliveryError("recipient phone number is not in E.164 form (+447700900123)")
    # Whether the number exists is the intake's question (domain.models validates it there);
    # refusing here on stale numbering metadata would fail a real customer permanently.
    return number
