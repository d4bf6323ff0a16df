from __future__ import annotations

import json
import re
from email import message_from_bytes
from email.policy import compat32
from email.policy import default as default_policy
from email.utils import getaddresses
from pathlib import Path

import pytest

from channels.base import DISPLAY_NAME_MAX, PermanentDeliveryError, display_name, header_safe
from channels.outbox import OutboxChannel
from channels.rendering import render
from domain.models import ChannelKind, MessageKind, PostalAddress, Recipient

from .conftest import REFERENCE
from .pdf import pdf_text


def send(outbox: OutboxChannel, request):
    return outbox.send(request, render(request))


def test_email_is_a_real_eml_with_case_headers(tmp_path, make_request):
    outbox = OutboxChannel(
        ChannelKind.EMAIL,
        tmp_path,
        email_from="complaints@iss.example.com",
        email_from_name="ISS Complaints",
        email_reply_to="replies@iss.example.com",
    )
    request = make_request(MessageKind.INTRODUCTION, ChannelKind.EMAIL)
    receipt = send(outbox, request)

    path = Path(receipt.provider_id)
    assert path.parent == tmp_path / REFERENCE
    assert path.name.startswith("CMP-2026-000123_introduction_email_1") and path.suffix == ".eml"
    email = message_from_bytes(path.read_bytes(), policy=default_policy)
    assert email["To"].addresses[0].addr_spec == "jane.obrien@example.com"
    assert email["To"].addresses[0].display_name == "Jane O'Brien"
    assert email["From"].addresses[0].addr_spec == "complaints@iss.example.com"
    # Plus-addressed with the reference: the customer's reply finds its case (the inbound service).
    assert email["Reply-To"].addresses[0].addr_spec == f"replies+{REFERENCE}@iss.example.com"
    assert email["Subject"] == f"Complaint {REFERENCE}: introducing your case handler, Sam Patel"
    assert email["X-Case-Reference"] == REFERENCE
    assert email["X-Message-Key"] == request.key
    assert email["Message-ID"].endswith("@iss.example.com>")
    assert "01495 123456" in email.get_body(("plain",)).get_content()
    assert "<p" in email.get_body(("html",)).get_content()
    assert receipt.key == request.key and receipt.channel is ChannelKind.EMAIL


def test_resending_a_key_replaces_the_file_and_keeps_the_message_id(tmp_path, make_request):
    outbox = OutboxChannel(ChannelKind.EMAIL, tmp_path)
    request = make_request(MessageKind.ACKNOWLEDGEMENT)
    first, second = send(outbox, request), send(outbox, request)
    assert first.provider_id == second.provider_id
    assert len(list((tmp_path / REFERENCE).iterdir())) == 1
    ids = {
        message_from_bytes(Path(r.provider_id).read_bytes(), policy=default_policy)["Message-ID"]
        for r in (first, second)
    }
    assert len(ids) == 1


def test_line_breaks_in_a_recipient_name_cannot_add_headers(tmp_path, make_request, recipient):
    evil = recipient.model_copy(update={"name": "Jane\r\nBcc: everyone@example.com"})
    receipt = send(OutboxChannel(ChannelKind.EMAIL, tmp_path), make_request(recipient_override=evil))
    raw = Path(receipt.provider_id).read_bytes()
    email = message_from_bytes(raw, policy=default_policy)
    assert email["Bcc"] is None
    assert b"\r\nBcc:" not in raw


def test_email_without_a_valid_address_is_refused(tmp_path, make_request, recipient):
    outbox = OutboxChannel(ChannelKind.EMAIL, tmp_path)
    with pytest.raises(PermanentDeliveryError, match="has none"):
        send(outbox, make_request(recipient_override=recipient.model_copy(update={"email": None})))
    with pytest.raises(PermanentDeliveryError, match="not valid"):
        send(outbox, make_request(recipient_override=recipient.model_copy(update={"email": "jane@"})))
    assert not tmp_path.joinpath(REFERENCE).exists()


def test_sms_is_written_as_json(tmp_path, make_request):
    outbox = OutboxChannel(ChannelKind.SMS, tmp_path, sms_from="+447700900001")
    request = make_request(MessageKind.CLOSURE, ChannelKind.SMS)
    receipt = send(outbox, request)

    path = Path(receipt.provider_id)
    assert path.name.endswith(".sms.json") and path.name.startswith("CMP-2026-000123_closure_sms_1")
    record = json.loads(path.read_text())
    assert record["to"] == "+447700900123"
    assert record["from"] == "+447700900001"
    assert record["key"] == request.key
    assert record["body"] == render(request).sms
    assert REFERENCE in record["body"]


@pytest.mark.parametrize(
    "phone", [None, "07700 900123", "+44 7700 900123", "+4412", "+44770090012x", "+447700900123 ext 2"]
)
def test_sms_needs_an_e164_number(tmp_path, make_request, recipient, phone):
    request = make_request(channel=ChannelKind.SMS, recipient_override=recipient.model_copy(update={"phone": phone}))
    with pytest.raises(PermanentDeliveryError):
        send(OutboxChannel(ChannelKind.SMS, tmp_path), request)


def test_letter_is_a_pdf_with_reference_address_and_adr_details(tmp_path, make_request):
    request = make_request(MessageKind.ADR_RIGHTS, ChannelKind.LETTER)
    receipt = send(OutboxChannel(ChannelKind.LETTER, tmp_path), request)

    path = Path(receipt.provider_id)
    assert path.suffix == ".pdf" and path.name.startswith("CMP-2026-000123_adr_rights_letter_1")
    text = pdf_text(path.read_bytes())
    for expected in (
        REFERENCE,
        "Jane O'Brien",
        "Flat 2",
        "14 Bethcar Street",
        "NP23 6HN",
        "Communications Ombudsman",
        "0330 440 1614",
        "www.commsombudsman.org",
        "PO Box 730, Warrington, WA4 6WU",
        "free of charge",
        "12 months",
        "Infinity System Solutions Ltd",
        "NP23 8XA",
    ):
        assert expected in text, expected


def test_letter_without_an_address_is_refused(tmp_path, make_request):
    request = make_request(channel=ChannelKind.LETTER, recipient_override=Recipient(name="Jane"))
    with pytest.raises(PermanentDeliveryError, match="postal address"):
        send(OutboxChannel(ChannelKind.LETTER, tmp_path), request)


def test_file_names_are_sanitised(tmp_path, make_request):
    request = make_request(key="../../etc/passwd", reference="../CMP 1")
    receipt = send(OutboxChannel(ChannelKind.EMAIL, tmp_path), request)
    path = Path(receipt.provider_id).resolve()
    assert path.is_relative_to(tmp_path.resolve())
    assert path.name == "etc_passwd.eml"


def test_non_latin_text_does_not_break_a_letter(tmp_path, make_request, recipient):
    who = recipient.model_copy(
        update={
            "name": "Łukasz Żółć 王小明",
            "address": PostalAddress(lines=["ul. Świętokrzyska 1"], postcode="NP23 6HN"),
        }
    )
    request = make_request(
        MessageKind.PROGRESS_UPDATE,
        ChannelKind.LETTER,
        recipient_override=who,
        customer_name="Łukasz Żółć 王小明 🙂",
        progress_note="Ref “fault” – fixed… €10 off",
    )
    text = pdf_text(Path(send(OutboxChannel(ChannelKind.LETTER, tmp_path), request).provider_id).read_bytes())
    assert "Lukasz Zólc ???" in text  # ó is in Windows-1252, Ł ż ć are folded
    assert "ul. Swietokrzyska 1" in text
    assert "Ref “fault” – fixed… €10 off" in text  # Windows-1252 has these; kept as typed


# --- display names and encoded words: what reaches From/To/Subject cannot add a recipient or header


def _head(raw: bytes) -> bytes:
    return raw.split(b"\r\n\r\n", 1)[0]


def test_a_long_name_with_specials_stays_one_recipient(tmp_path, make_request, recipient):
    # Unquoted when the email package folds it, this name used to read as two recipients.
    name = "J. " + "a" * 70 + ", y@z.com"
    request = make_request(recipient_override=recipient.model_copy(update={"name": name}))
    raw = Path(send(OutboxChannel(ChannelKind.EMAIL, tmp_path), request).provider_id).read_bytes()

    email = message_from_bytes(raw, policy=default_policy)
    [to] = email["To"].addresses
    assert to.addr_spec == "jane.obrien@example.com"
    assert len(to.display_name) <= DISPLAY_NAME_MAX and not set(to.display_name) & set('()<>[]:;@\\,."')
    assert to.display_name.startswith("J ")
    raw_to = message_from_bytes(raw, policy=compat32).get_all("To")
    assert getaddresses(raw_to) == [(to.display_name, "jane.obrien@example.com")]
    assert b"y@z.com" not in _head(raw)


def test_an_encoded_word_in_a_name_cannot_inject_a_header(tmp_path, make_request, recipient, handler):
    # Python < 3.11.10 (CVE-2024-6923) decodes this while folding and writes the CRLF raw.
    evil = "=?utf-8?q?=0D=0ABcc:_x@y.z?="
    request = make_request(
        MessageKind.INTRODUCTION,
        recipient_override=recipient.model_copy(update={"name": evil}),
        handler=handler.model_copy(update={"name": evil}),
    )
    raw = Path(send(OutboxChannel(ChannelKind.EMAIL, tmp_path), request).provider_id).read_bytes()

    head = _head(raw)
    assert not re.search(rb"\r\n(bcc|cc):", head, re.I) and b"=?utf-8?q?=0D" not in head
    email = message_from_bytes(raw, policy=default_policy)
    assert email["Bcc"] is None and email["Cc"] is None
    [to] = email["To"].addresses
    assert to.addr_spec == "jane.obrien@example.com" and "=?" not in to.display_name
    assert "= ?utf-8?q?=0D=0ABcc" in email["Subject"]


def test_header_safe_breaks_encoded_words_and_strips_controls():
    assert header_safe("=?utf-8?q?=0D=0ABcc:_x@y.z?=") == "= ?utf-8?q?=0D=0ABcc:_x@y.z?="
    assert "=?" not in header_safe("=\x00?utf-8?b?DQpCY2M6IHhAeS56?=")
    assert header_safe("Jane\r\n\x9bBcc:\x07 x") == "Jane Bcc: x"
    for value in ("==??", "=?=?", "a =\r\n? b"):
        assert "=?" not in header_safe(value) and header_safe(header_safe(value)) == header_safe(value)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Jane O'Brien", "Jane O'Brien"),
        ('Jane "x@y.z", <z@y.z>', "Jane x y z z y z"),
        ("Jane O'Brien (flat 2), Ebbw Vale, Blaenau Gwent, Wales", "Jane O'Brien flat 2 Ebbw Vale Blaenau"),
        ("a" * 60, "a" * 40),
        ("\u202eevil\u202c Jane", "evil Jane"),
        (None, ""),
    ],
)
def test_display_name_is_short_plain_and_one_line(name, expected):
    assert display_name(name) == expected


def test_a_name_that_would_still_fold_into_two_recipients_is_refused(tmp_path, make_request, recipient, monkeypatch):
    # Defence in depth: were the name not made safe, the parse-back check refuses the email.
    monkeypatch.setattr("channels.outbox.display_name", lambda name: header_safe(name or ""))
    name = "J. " + "a" * 1000 + ", y@z.com"  # long enough to fold even at 998 columns
    request = make_request(recipient_override=recipient.model_copy(update={"name": name}))
    with pytest.raises(PermanentDeliveryError, match="To header"):
        send(OutboxChannel(ChannelKind.EMAIL, tmp_path), request)
    assert not tmp_path.joinpath(REFERENCE).exists()
