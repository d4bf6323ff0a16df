"""Every customer-facing message, rendered from the templates in `channels/templates/`.

One set per `MessageKind`: `<kind>.subject.j2`, `<kind>.txt.j2` (the content: email text body and
letter body), `<kind>.html.j2` (extends `_layout.html.j2`, which lays out that same text, escaped),
and `<kind>.sms.j2` (a short text within two GSM-7 segments).

Safety:
- Customer- and handler-supplied text (names, notes, reasons) is only ever passed as template
  *data*, never as template source, so `{{ 7*7 }}` in a name prints as typed. The environment is
  sandboxed anyway, and `StrictUndefined` turns a missing field into an error, not a blank.
- HTML templates autoescape; the text body is escaped paragraph by paragraph by `paragraphs`.
- Subjects go into an email header: line breaks are removed (`header_safe`).
- SMS bodies are folded to the GSM-7 alphabet and cut to 306 septets, so one stray emoji in a
  name cannot turn a 2-segment text into a 5-segment UCS-2 one.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import datetime, time
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import phonenumbers
from jinja2 import FileSystemLoader, StrictUndefined, TemplateError
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup, escape

from channels.base import ProviderDetails, RenderedMessage, header_safe, transliterate
from domain.formatting import gbp
from domain.models import CaseRole, ChannelKind, IntervalUnit, MessageContext, MessageKind, SendRequest, UpdateSchedule

TEMPLATES_DIR = Path(__file__).with_name("templates")
LONDON = ZoneInfo("Europe/London")

# Two concatenated GSM-7 segments carry 153 septets each (7 go to the concatenation header).
SMS_MAX_SEPTETS = 306


class RenderError(ValueError):
    """The request lacks what its kind of message must say; retrying cannot fix it."""


# Which context fields each kind cannot be written without.
_REQUIRED_CONTEXT: dict[MessageKind, tuple[str, ...]] = {
    MessageKind.ACKNOWLEDGEMENT: (),
    MessageKind.INTRODUCTION: ("handler",),
    MessageKind.UPDATE_SCHEDULE: ("schedule", "next_update_at"),
    # No note yet is still an update owed: the template says there is no news rather than skip it.
    MessageKind.PROGRESS_UPDATE: (),
    MessageKind.ESCALATION: ("handler",),
    MessageKind.ADR_RIGHTS: ("adr_scheme", "adr_reason"),
    MessageKind.COMPENSATION: ("compensation_gbp",),
    MessageKind.CLOSURE: (),
    MessageKind.ASK_TO_CLOSE: (),
    MessageKind.TEXTS_STOPPED: (),
}
ADR_REASONS = ("eight_weeks", "deadlock")

DEFAULT_PROVIDER = ProviderDetails()


# --- filters ---------------------------------------------------------------------------------------

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS_LONG = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def london_datetime(value: datetime) -> str:
    """'Tue 29 Dec 2026, 16:30' in UK local time (GMT or BST), independent of the host locale."""
    local = value.astimezone(LONDON)
    return f"{_DAYS[local.weekday()]} {local.day} {_MONTHS[local.month - 1]} {local.year}, {local:%H:%M}"


def london_long_date(value: datetime) -> str:
    """'29 December 2026': the date line of a letter."""
    local = value.astimezone(LONDON)
    return f"{local.day} {_MONTHS_LONG[local.month - 1]} {local.year}"


def _clock(value: time) -> str:
    return f"{value:%H:%M}"


def _interval(schedule: UpdateSchedule) -> str:
    if schedule.unit is IntervalUnit.WORKING_DAYS:
        return "every working day" if schedule.every == 1 else f"every {schedule.every} working days"
    return "every day" if schedule.every == 1 else f"every {schedule.every} days"


def display_phone(e164: str) -> str:
    """UK numbers as a UK customer dials them ('01495 123456'); others in international form."""
    try:
        number = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return e164
    fmt = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if number.country_code == 44
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return phonenumbers.format_number(number, fmt)


def clip(value: str, limit: int) -> str:
    """At most `limit` characters, cut at a word where possible, marked with '...'."""
    value = " ".join(str(value).split())
    if len(value) <= limit:
        return value
    cut = value[: max(limit - 3, 1)]
    if " " in cut[limit // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,.;:-") + "..."


_HONORIFICS = {"mr", "mrs", "ms", "miss", "mx", "dr", "prof", "rev", "sir", "dame", "lord", "lady"}


def salutation(name: str, title: str | None = None) -> str:
    """Who a message is addressed to: 'Mr Rees' (title and surname) given a title, else 'Alan Rees'.

    Spacing is normalised; the surname is the last word as typed, so 'Mr Fitzwilliam-Smythe' keeps
    its hyphen and a one-word name stays whole ('Mr Cher'). A blank name never prints 'Dear ,'.
    """
    words = str(name).split()
    honorific = " ".join(str(title).split()) if title else ""
    if not honorific and len(words) > 2 and words[0].rstrip(".").lower() in _HONORIFICS:
        # An intake that typed the title into the name ("Mr Alan Rees") still gets "Dear Mr Rees".
        honorific, words = words[0], words[1:]
    if not words:
        return honorific or "Customer"
    if honorific:
        start = len(words) - 1
        # The surname's particles go with it ("ap Gruffydd", "de la Cruz"); the first word stays
        # the given name ("Van Morrison" is Mr Morrison).
        while start > 1 and words[start - 1].lower() in _SURNAME_PARTICLES:
            start -= 1
        return f"{honorific} {' '.join(words[start:])}"
    return " ".join(words)


# Words that begin a surname in the names a UK provider's customers give: Welsh (ap, ab, ferch,
# verch), Dutch, German, French, Spanish, Portuguese, Italian and Arabic particles.
_SURNAME_PARTICLES = frozenset(
    [
        "ap",
        "ab",
        "ferch",
        "verch",
        "van",
        "von",
        "der",
        "den",
        "de",
        "del",
        "della",
        "di",
        "da",
        "dos",
        "das",
        "du",
        "la",
        "le",
        "lo",
        "al",
        "el",
        "bin",
        "binti",
        "ibn",
    ]
)


# Who a complaint goes to next, by the owner's role: the code's ladder (case handler, Customer
# Service Manager, Head of Professional Services). None at the top: it can only be re-opened.
_NEXT_LEVEL = {
    None: "the Customer Service Manager",
    CaseRole.CASE_HANDLER: "the Customer Service Manager",
    CaseRole.CUSTOMER_SERVICE_MANAGER: "the Head of Professional Services",
    CaseRole.HEAD_OF_PROFESSIONAL_SERVICES: None,
}


def _escalates_to(ctx: MessageContext) -> str | None:
    """Whom a "not satisfied" goes to from here: never the manager who already owns the case."""
    return _NEXT_LEVEL[ctx.handler.role if ctx.handler else None]


def _salutation(ctx: MessageContext) -> str:
    return salutation(ctx.customer_name, ctx.customer_title)


def _paragraphs(text: str) -> Markup:
    """Plain text as HTML: blank-line paragraphs, line breaks kept, every character escaped."""
    blocks = [block.strip("\n") for block in re.split(r"\n\s*\n", text) if block.strip()]
    style = ' style="margin:0 0 16px 0;"'
    return Markup("\n").join(
        Markup(f"<p{style}>") + Markup("<br>\n").join(escape(line) for line in block.split("\n")) + Markup("</p>")
        for block in blocks
    )


# --- GSM-7 ----------------------------------------------------------------------------------------

_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = frozenset("^{}\\[~]|€\f")


def is_gsm7(char: str) -> bool:
    return char in _GSM7_BASIC or char in _GSM7_EXTENDED


def gsm7_septets(text: str) -> int:
    """Length in septets; extension-table characters take an escape septet as well."""
    return sum(2 if char in _GSM7_EXTENDED else 1 for char in text)


def fit_sms(text: str, max_septets: int = SMS_MAX_SEPTETS) -> str:
    """GSM-7 only, one line per paragraph, within `max_septets`; cut at a word when too long."""
    text = transliterate(" ".join(text.split()), is_gsm7)
    if gsm7_septets(text) <= max_septets:
        return text
    budget = max_septets - 3
    out: list[str] = []
    used = 0
    for char in text:
        cost = 2 if char in _GSM7_EXTENDED else 1
        if used + cost > budget:
            break
        out.append(char)
        used += cost
    cut = "".join(out)
    if " " in cut[len(cut) // 2 :]:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,.;:-") + "..."


# --- environment ----------------------------------------------------------------------------------


def _autoescape(template_name: str | None) -> bool:
    return template_name is not None and template_name.endswith(".html.j2")


@lru_cache(maxsize=1)
def environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=_autoescape,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,  # so an included block ends its paragraph
        auto_reload=False,
    )
    env.filters.update(
        london=london_datetime,
        long_date=london_long_date,
        clock=_clock,
        interval=_interval,
        gbp=gbp,
        phone=display_phone,
        clip=clip,
        paragraphs=_paragraphs,
        salutation=_salutation,
        escalates_to=_escalates_to,
    )
    return env


def _tidy(text: str) -> str:
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))


def _check_context(request: SendRequest) -> None:
    ctx = request.context
    missing = [name for name in _REQUIRED_CONTEXT[request.kind] if getattr(ctx, name) in (None, "")]
    if missing:
        raise RenderError(f"a {request.kind.value} message needs context.{', context.'.join(missing)}")
    if request.kind is MessageKind.ADR_RIGHTS and ctx.adr_reason not in ADR_REASONS:
        raise RenderError(f"context.adr_reason must be one of {', '.join(ADR_REASONS)}")


# The forms each channel sends (an email: subject, text and HTML; a text: the SMS form; a letter:
# subject and text). Rendering only these is a third to three quarters of the templates' work per
# message (issue #15); a form not asked for is left empty, and no channel reads one it was not given.
ALL_FORMS = frozenset({"subject", "text", "html", "sms"})
FORMS_BY_CHANNEL: dict[ChannelKind, frozenset[str]] = {
    ChannelKind.EMAIL: frozenset({"subject", "text", "html"}),
    ChannelKind.SMS: frozenset({"sms"}),
    ChannelKind.LETTER: frozenset({"subject", "text"}),
}


def render(
    request: SendRequest, provider: ProviderDetails = DEFAULT_PROVIDER, forms: Collection[str] = ALL_FORMS
) -> RenderedMessage:
    """The `forms` of one request (all four unless asked for fewer; see `FORMS_BY_CHANNEL`), the
    others empty. Raises `RenderError` when it cannot be written."""
    _check_context(request)
    unknown = set(forms) - ALL_FORMS
    if unknown:
        raise ValueError(f"unknown message forms: {', '.join(sorted(unknown))}")
    env = environment()
    kind = request.kind.value
    variables = {
        "ctx": request.context,
        "recipient": request.recipient,
        "provider": provider,
        "kind": kind,
        "channel": request.channel.value,
    }
    subject = text = html = sms = ""
    try:
        # The HTML lays out the subject and the text, so it needs both.
        if "subject" in forms or "html" in forms:
            subject = header_safe(env.get_template(f"{kind}.subject.j2").render(variables))
        if "text" in forms or "html" in forms:
            text = _tidy(env.get_template(f"{kind}.txt.j2").render(variables))
        if "html" in forms:
            html = env.get_template(f"{kind}.html.j2").render(variables, subject=subject, text=text)
        if "sms" in forms:
            sms = fit_sms(env.get_template(f"{kind}.sms.j2").render(variables))
    except TemplateError as exc:
        # Only our own templates get here; say which, without echoing any customer data.
        raise RenderError(f"template for {kind} failed: {type(exc).__name__}: {exc}") from None
    return RenderedMessage(
        subject=subject if "subject" in forms else "",
        text=text + "\n" if "text" in forms else "",
        html=html,
        sms=sms,
    )
