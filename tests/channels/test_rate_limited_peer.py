"""The rush bench's vendor peer, driven by the real Twilio and SendGrid channels: it holds each
vendor to its rate with 429 + Retry-After (which the channels read), and counts resends by key."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from channels.base import RenderedMessage, TransientDeliveryError
from channels.sendgrid_email import SendGridEmailChannel
from channels.twilio_sms import TwilioSmsChannel
from domain.models import ChannelKind, MessageKind
from tests.peers.rate_limited import RateLimitedVendors, VendorLimit, listening

ACCOUNT = "AC" + "0" * 32
MESSAGE = RenderedMessage(subject="Update on your complaint", text="text", html="<p>text</p>", sms="sms")


@pytest.fixture
async def vendors() -> AsyncIterator[tuple[RateLimitedVendors, str]]:
    # A rate so low that the bucket cannot refill during the test: what passes is the burst.
    peer = RateLimitedVendors(sms_per_second=0.01, email_per_second=0.01)
    peer.limits = {vendor: VendorLimit(0.01, burst=2) for vendor in peer.limits}
    async with listening(peer) as url:
        yield peer, url


async def test_texts_over_the_rate_get_429_with_retry_after_and_a_resend_counts_as_a_duplicate(vendors, make_request):
    peer, url = vendors
    sms = TwilioSmsChannel(ACCOUNT, "token", from_number="+447700900001", base_url=url, timeout=5)
    first = make_request(MessageKind.PROGRESS_UPDATE, ChannelKind.SMS, key="k1")
    second = make_request(MessageKind.CLOSURE, ChannelKind.SMS, key="k2")

    receipt = await asyncio.to_thread(sms.send, first, MESSAGE)
    await asyncio.to_thread(sms.send, first, MESSAGE)  # the same text again: a duplicate
    with pytest.raises(TransientDeliveryError, match="429") as refused:
        await asyncio.to_thread(sms.send, second, MESSAGE)

    assert receipt.provider_id.startswith("SM")
    assert refused.value.retry_after is not None and refused.value.retry_after >= 1
    assert peer.stats()["sms"] | {"first_accepted_at": None, "last_accepted_at": None} == {
        "accepted": 2,
        "too_many_requests": 1,
        "staff_notices": 0,
        "staff_notices_too_many_requests": 0,
        "duplicates": 1,
        "first_accepted_at": None,
        "last_accepted_at": None,
    }


async def test_emails_over_the_rate_get_429_and_duplicates_are_counted_by_message_key(vendors, make_request):
    peer, url = vendors
    email = SendGridEmailChannel("SG.test", email_from="complaints@iss.example.com", host=url, timeout=5)
    request = make_request(MessageKind.PROGRESS_UPDATE, ChannelKind.EMAIL, key="CC-1/001-progress_update-email")

    await asyncio.to_thread(email.send, request, MESSAGE)
    await asyncio.to_thread(email.send, request, MESSAGE)
    with pytest.raises(TransientDeliveryError, match="429") as refused:
        await asyncio.to_thread(email.send, make_request(key="CC-1/002-closure-email"), MESSAGE)

    assert refused.value.retry_after is not None and refused.value.retry_after >= 1
    counts = peer.stats()["email"]
    assert (counts["accepted"], counts["too_many_requests"], counts["duplicates"]) == (2, 1, 1)
