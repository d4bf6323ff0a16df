"""Each channel is given only the forms it sends (`FORMS_BY_CHANNEL`, issue #15): what the customer
receives must be what it was when every form was rendered for every message: byte for byte for
emails and texts, as printed for letters."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime

import pytest
from pypdf import PdfReader

from channels.letters import LetterRenderer
from channels.outbox import OutboxChannel
from channels.rendering import ALL_FORMS, FORMS_BY_CHANNEL, render
from channels.sendgrid_email import SendGridEmailChannel
from domain.models import ChannelKind, MessageKind

from .pdf import printed_text

SENT_AT = datetime(2026, 12, 29, 16, 30, tzinfo=UTC)
CASES = [(kind, channel) for kind in MessageKind for channel in ChannelKind]


def comparable(content: bytes) -> bytes:
    """What the customer gets, without what differs between two sends of one message anyway: an
    email's random MIME boundary; a letter is compared as printed (every piece of text, where and
    how large, and the document title), not by bytes, which carry the clock's second and an ID."""
    if content.startswith(b"%PDF"):
        title = PdfReader(io.BytesIO(content)).metadata.title
        return repr((printed_text(content), title)).encode()
    return re.sub(rb"={15}\d+==", b"BOUNDARY", content)


def outbox_file(tmp_path, name, request, message) -> bytes:
    outbox = OutboxChannel(
        request.channel,
        tmp_path / name,
        email_from="complaints@iss.example.com",
        email_from_name="Infinity System Solutions",
        email_reply_to="complaints@iss.example.com",
        clock=lambda: SENT_AT,
    )
    receipt = outbox.send(request, message)
    with open(receipt.provider_id, "rb") as written:
        return comparable(written.read())


@pytest.mark.parametrize(("kind", "channel"), CASES, ids=[f"{k.value}-{c.value}" for k, c in CASES])
def test_the_outbox_writes_the_same_bytes_from_the_channels_forms(tmp_path, make_request, kind, channel):
    request = make_request(kind, channel)
    everything = outbox_file(tmp_path, "all", request, render(request))
    assert outbox_file(tmp_path, "own", request, render(request, forms=FORMS_BY_CHANNEL[channel])) == everything


@pytest.mark.parametrize("kind", list(MessageKind), ids=lambda kind: kind.value)
def test_sendgrid_posts_the_same_body_from_the_email_forms(make_request, kind):
    request = make_request(kind, ChannelKind.EMAIL)
    sendgrid = SendGridEmailChannel(
        "SG.test", email_from="complaints@iss.example.com", email_reply_to="complaints@iss.example.com"
    )
    body = sendgrid.build_mail(request, render(request)).get()
    assert sendgrid.build_mail(request, render(request, forms=FORMS_BY_CHANNEL[ChannelKind.EMAIL])).get() == body


@pytest.mark.parametrize("kind", list(MessageKind), ids=lambda kind: kind.value)
def test_the_post_room_prints_the_same_letter_from_the_letter_forms(make_request, kind):
    request = make_request(kind, ChannelKind.LETTER)
    letters = LetterRenderer()
    full = letters.render(request, render(request), dated=SENT_AT).content
    own = letters.render(request, render(request, forms=FORMS_BY_CHANNEL[ChannelKind.LETTER]), dated=SENT_AT).content
    assert comparable(own) == comparable(full)


def test_a_form_not_asked_for_is_left_empty_and_an_unknown_one_is_refused(make_request):
    request = make_request(MessageKind.PROGRESS_UPDATE, ChannelKind.SMS)
    message = render(request, forms=FORMS_BY_CHANNEL[ChannelKind.SMS])
    assert message.sms == render(request).sms
    assert (message.subject, message.text, message.html) == ("", "", "")
    assert set().union(*FORMS_BY_CHANNEL.values()) == ALL_FORMS
    with pytest.raises(ValueError, match="unknown message forms: pdf"):
        render(request, forms={"pdf"})
