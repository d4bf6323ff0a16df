"""SendGrid and Twilio over HTTPS, as in production: the certificate is still verified against the
trust store the environment names (SSL_CERT_FILE for SendGrid's pool, as urllib read it;
REQUESTS_CA_BUNDLE for Twilio's session), and that store is loaded once per channel, not per email
(issue #15: loading it per email was 23 ms of CPU). The peer is the bench's rate-limited vendors,
serving a throwaway certificate for 127.0.0.1 (`bench.loopback_tls`)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from bench.loopback_tls import TRUST_VARIABLES, loopback_certificate, system_bundle_with
from channels.base import RenderedMessage, TransientDeliveryError
from channels.sendgrid_email import SendGridEmailChannel
from channels.twilio_sms import TwilioSmsChannel
from domain.models import ChannelKind
from tests.peers.rate_limited import RateLimitedVendors

MESSAGE = RenderedMessage(subject="Update on your complaint", text="text", html="<p>text</p>", sms="sms")


@pytest.fixture
async def https_vendors(tmp_path: Path) -> AsyncIterator[tuple[RateLimitedVendors, str, Path]]:
    """The peer over HTTPS; yields it, its URL, and a CA bundle (the system's store plus its cert)."""
    cert, key = loopback_certificate(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    peer = RateLimitedVendors(sms_per_second=1000, email_per_second=1000)
    runner = web.AppRunner(peer.app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    yield peer, f"https://127.0.0.1:{runner.addresses[0][1]}", system_bundle_with(cert, tmp_path)
    await runner.cleanup()


@pytest.fixture
def trust(monkeypatch: pytest.MonkeyPatch):
    """Point every trust-store variable at one bundle (the machine's own settings set aside)."""
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)

    def point_at(bundle: Path) -> None:
        for name in TRUST_VARIABLES:
            monkeypatch.setenv(name, str(bundle))

    return point_at


def sendgrid(url: str) -> SendGridEmailChannel:
    return SendGridEmailChannel("SG.test-key.not-real", email_from="complaints@iss.example.com", host=url, timeout=5)


def twilio(url: str) -> TwilioSmsChannel:
    return TwilioSmsChannel("AC" + "0" * 32, "token", from_number="+447700900001", base_url=url, timeout=5)


async def test_email_and_text_go_over_https_to_a_certificate_the_trust_store_holds(https_vendors, trust, make_request):
    peer, url, bundle = https_vendors
    trust(bundle)
    email, text = sendgrid(url), twilio(url)
    await asyncio.to_thread(email.send, make_request(key="k-email"), MESSAGE)
    await asyncio.to_thread(text.send, make_request(channel=ChannelKind.SMS, key="k-text"), MESSAGE)
    stats = peer.stats()
    assert stats["email"]["accepted"] == 1 and stats["sms"]["accepted"] == 1


def unrelated_store(folder: Path) -> Path:
    """A trust store that exists but lacks the peer's certificate."""
    folder.mkdir()
    return loopback_certificate(folder)[0]


async def test_a_certificate_the_trust_store_lacks_is_refused_as_transient(
    https_vendors, trust, make_request, tmp_path
):
    _, url, _ = https_vendors
    trust(unrelated_store(tmp_path / "unrelated"))
    with pytest.raises(TransientDeliveryError, match="SendGrid unreachable: SSLCertVerificationError"):
        await asyncio.to_thread(sendgrid(url).send, make_request(), MESSAGE)
    with pytest.raises(TransientDeliveryError, match="Twilio unreachable"):
        await asyncio.to_thread(twilio(url).send, make_request(channel=ChannelKind.SMS), MESSAGE)


async def test_the_trust_store_is_loaded_when_the_channel_is_built_not_per_email(
    https_vendors, trust, make_request, tmp_path
):
    peer, url, bundle = https_vendors
    trust(bundle)
    email = sendgrid(url)
    # A store without the peer's certificate: an email that loaded the store again would be refused.
    trust(unrelated_store(tmp_path / "unrelated"))
    for number in range(2):
        await asyncio.to_thread(email.send, make_request(key=f"k{number}"), MESSAGE)
    assert peer.stats()["email"]["accepted"] == 2
