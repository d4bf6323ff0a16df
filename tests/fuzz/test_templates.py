"""Customer- and handler-supplied text in every template: printed as typed, never evaluated,
escaped in HTML, and never able to add an email header."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time
from decimal import Decimal
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from tempfile import TemporaryDirectory

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from markupsafe import escape

from channels.base import header_safe
from channels.letters import LetterRenderer
from channels.outbox import OutboxChannel
from channels.rendering import SMS_MAX_SEPTETS, gsm7_septets, is_gsm7, render
from domain.models import (
    AdrScheme,
    CaseRole,
    ChannelKind,
    Handler,
    MessageContext,
    MessageKind,
    PostalAddress,
    Recipient,
    SendRequest,
    UpdateSchedule,
)
from tests.channels.pdf import pdf_text

from .strategies import EVALUATED_MARKERS, FUZZ, hostile_text, one_line

REFERENCE = "CC-2026-4F7K2Q"
EMAIL = "jane.obrien@example.com"
EXPECTED_HEADERS = {
    "from",
    "to",
    "subject",
    "date",
    "message-id",
    "x-case-reference",
    "x-message-key",
    "mime-version",
    "content-type",
}
CONTROL = re.compile(r"[\x00-\x1f\x7f]")
BRIEF_NAME = "Jane {{ 7777*7 }} {% for x in range(3) %}looploop{% endfor %} {{ ''.__class__ }}\r\nBcc: x@y.z"


@dataclass(frozen=True)
class Typed:
    """What the customer and handler typed, as the models store it (trimmed)."""

    name: str
    handler: str
    note: str
    reason: str
    compensation: str
    line: str

    def contains(self, marker: str) -> bool:
        return any(marker in value for value in vars(self).values())


def build_request(
    kind: MessageKind,
    name: str,
    handler_name: str = "Sam Patel",
    note: str = "Engineer booked.",
    reason: str = "Not satisfied.",
    compensation_reason: str = "Loss of service.",
    line: str = "14 Bethcar Street",
    channel: ChannelKind = ChannelKind.EMAIL,
    adr_reason: str = "deadlock",
) -> tuple[SendRequest, Typed]:
    handler = Handler(
        id="h-017",
        name=handler_name,
        role=CaseRole.CASE_HANDLER,
        phone="+441495123456",
        email="sam.patel@iss.example.com",
    )
    address = PostalAddress(lines=[line, "Ebbw Vale"], postcode="NP23 6HN")
    context = MessageContext(
        reference=REFERENCE,
        customer_name=name,
        handler=handler,
        received_at=datetime(2026, 11, 2, 9, 15, tzinfo=UTC),
        introduction_due_at=datetime(2026, 11, 4, 9, 15, tzinfo=UTC),
        acknowledgement={"Name": name, "Address": ", ".join([line, "Ebbw Vale", "NP23 6HN"])},
        schedule=UpdateSchedule(every=7, contact_time=time(10, 0)),
        next_update_at=datetime(2026, 12, 29, 16, 30, tzinfo=UTC),
        progress_note=note,
        escalation_reason=reason,
        adr_scheme=AdrScheme(),
        adr_reason=adr_reason,
        compensation_gbp=Decimal("25.00"),
        compensation_reason=compensation_reason,
    )
    request = SendRequest(
        key=f"{REFERENCE}/001-{kind.value}-{channel.value}",
        kind=kind,
        channel=channel,
        recipient=Recipient(name=name, email=EMAIL, phone="+447700900123", address=address),
        context=context,
    )
    typed = Typed(
        name=context.customer_name,
        handler=handler.name,
        note=context.progress_note or "",
        reason=context.escalation_reason or "",
        compensation=context.compensation_reason or "",
        line=address.lines[0],
    )
    return request, typed


def bounded(limit: int) -> st.SearchStrategy[str]:
    return hostile_text.map(lambda text: text[:limit]).filter(lambda text: text.strip())


hostile_requests = st.builds(
    build_request,
    kind=st.sampled_from(list(MessageKind)),
    name=bounded(200),
    handler_name=bounded(200) | st.just("Sam Patel"),
    note=bounded(5000),
    reason=bounded(2000),
    compensation_reason=bounded(2000),
    line=bounded(100),
    adr_reason=st.sampled_from(["eight_weeks", "deadlock"]),
)


def words(text: str) -> str:
    return " ".join(text.split())


@settings(FUZZ, max_examples=50)
@given(case=hostile_requests)
@example(case=build_request(MessageKind.ACKNOWLEDGEMENT, BRIEF_NAME))
@example(case=build_request(MessageKind.PROGRESS_UPDATE, "Jane", note="{{ 7777*7 }}\n\n<script>alert(1)</script>"))
@example(case=build_request(MessageKind.ESCALATION, "Jane", handler_name="Sam\r\nBcc: x@y.z", reason="{{ ctx }}"))
@example(case=build_request(MessageKind.COMPENSATION, "Jane", compensation_reason="{{ recipient.email }}"))
def test_hostile_text_renders_literally_in_every_template(case: tuple[SendRequest, Typed]) -> None:
    request, typed = case
    message = render(request)

    # Never evaluated, in any form of the message.
    for marker in EVALUATED_MARKERS:
        if not typed.contains(marker):
            for form in (message.subject, message.text, message.html, message.sms):
                assert marker not in form, f"{marker!r} appeared: template syntax was evaluated"
    if "{{ recipient.email }}" in typed.compensation and request.kind is MessageKind.COMPENSATION:
        assert "{{ recipient.email }}" in message.text

    # The subject is one clean header line.
    assert one_line(message.subject) and not CONTROL.search(message.subject), repr(message.subject)
    assert message.subject == header_safe(message.subject)

    # The text body prints what was typed (whitespace aside: lines are tidied).
    body = words(message.text)
    assert words(typed.name) in body
    printed = {
        MessageKind.PROGRESS_UPDATE: typed.note,
        MessageKind.ESCALATION: typed.reason,
        MessageKind.COMPENSATION: typed.compensation,
        MessageKind.ACKNOWLEDGEMENT: typed.line,
    }.get(request.kind)
    if printed is not None:
        assert words(printed) in body

    # HTML: their markup is escaped, never live.
    lowered = message.html.lower()
    for tag in ("<script", "<img", "<svg", "<html>body"):
        assert tag not in lowered, f"{tag} reached the HTML unescaped"
    if "<script>" in typed.name:
        assert str(escape("<script>")) in message.html

    # SMS: GSM-7 only, within two segments.
    assert all(is_gsm7(c) for c in message.sms), repr(message.sms)
    assert gsm7_septets(message.sms) <= SMS_MAX_SEPTETS


@settings(FUZZ, max_examples=30)
@given(case=hostile_requests)
@example(case=build_request(MessageKind.ACKNOWLEDGEMENT, "{{ 7*7 }} {{ ''.__class__ }}\r\nBcc: x@y.z"))
@example(case=build_request(MessageKind.INTRODUCTION, "Jane\r\nBcc: x@y.z", handler_name="Sam\nCc: c@y.z"))
@example(case=build_request(MessageKind.ACKNOWLEDGEMENT, 'Jane "x@y.z", <z@y.z>'))
@example(case=build_request(MessageKind.ACKNOWLEDGEMENT, "Jane\u2028To: other@y.z\x85Cc: c@y.z"))
def test_an_eml_has_one_recipient_and_no_injected_headers(case: tuple[SendRequest, Typed]) -> None:
    assert_one_recipient_and_no_injected_headers(*case)


@pytest.mark.parametrize(
    ("name", "handler_name"),
    [("=?utf-8?q?=0D=0ABcc:_x@y.z?=", "Sam Patel"), ("Jane", "=?utf-8?q?=0D=0ABcc:_x@y.z?=")],
    ids=["customer-name-in-To", "handler-name-in-Subject"],
)
def test_an_encoded_word_cannot_inject_a_header(name: str, handler_name: str) -> None:
    assert_one_recipient_and_no_injected_headers(*build_request(MessageKind.INTRODUCTION, name, handler_name))


@pytest.mark.parametrize(
    "name",
    [
        "J. " + "a" * 70 + ", y@z.com",
        "Jane O'Brien (flat 2), Ebbw Vale, Blaenau Gwent, Wales, United Kingdom y@z.com",
        BRIEF_NAME,
    ],
    ids=["initial-and-comma", "address-in-name", "jinja-and-crlf-bcc"],
)
def test_a_long_customer_name_cannot_add_a_recipient(name: str) -> None:
    assert_one_recipient_and_no_injected_headers(*build_request(MessageKind.ACKNOWLEDGEMENT, name))


def assert_one_recipient_and_no_injected_headers(request: SendRequest, typed: Typed) -> None:
    message = render(request)
    with TemporaryDirectory() as folder:
        receipt = OutboxChannel(ChannelKind.EMAIL, Path(folder)).send(request, message)
        raw = Path(receipt.provider_id).read_bytes()
    email = message_from_bytes(raw, policy=default_policy)

    assert {name.lower() for name in email.keys()} <= EXPECTED_HEADERS, email.keys()
    assert len(email.get_all("To")) == 1
    [to] = email["To"].addresses
    assert to.addr_spec == EMAIL
    assert email["Bcc"] is None and email["Cc"] is None
    # Compared without whitespace: RFC 2047 drops the space between two adjacent encoded words.
    assert "".join(str(email["Subject"]).split()) == "".join(message.subject.split())
    assert one_line(str(email["Subject"]).strip())

    # Raw header block: every line is a header we wrote or a folded continuation of one.
    head = raw.split(b"\r\n\r\n", 1)[0]
    for line in head.split(b"\r\n"):
        assert line[:1] in (b" ", b"\t") or line.split(b":", 1)[0].lower().decode() in EXPECTED_HEADERS, line
    assert not re.search(rb"\r\n(bcc|cc|reply-to):", head, re.I)
    assert email.get_body(("plain",)) is not None and email.get_body(("html",)) is not None
    assert words(typed.name) in words(email.get_body(("plain",)).get_content())


@settings(FUZZ, max_examples=8)
@given(
    case=hostile_requests.map(
        lambda c: build_request(
            c[0].kind,
            c[1].name,
            c[1].handler,
            c[1].note,
            c[1].reason,
            c[1].compensation,
            c[1].line,
            channel=ChannelKind.LETTER,
            adr_reason=c[0].context.adr_reason or "deadlock",
        )
    )
)
@example(
    case=build_request(
        MessageKind.PROGRESS_UPDATE, BRIEF_NAME, note="名前 \U0001f600 {{ 7777*7 }}", channel=ChannelKind.LETTER
    )
)
def test_a_letter_prints_hostile_text_without_crashing_or_evaluating(case: tuple[SendRequest, Typed]) -> None:
    request, typed = case
    message = render(request)
    letter = LetterRenderer().render(request, message, dated=datetime(2026, 11, 25, 10, tzinfo=UTC))
    assert letter.pages >= 1 and letter.content.startswith(b"%PDF")
    printed = pdf_text(letter.content)
    for marker in EVALUATED_MARKERS:
        if not typed.contains(marker):
            assert marker not in printed
