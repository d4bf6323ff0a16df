"""SendGridEmailChannel against SendGrid's own OpenAPI spec (Prism), and a scripted peer for the
answers Prism cannot give. Assertions are on what the official client put on the wire."""

from __future__ import annotations

import base64
import logging
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from channels.base import PermanentDeliveryError, TransientDeliveryError
from channels.rendering import render
from channels.sendgrid_email import SendGridEmailChannel
from domain.models import ChannelKind, MessageKind
from tests.peers.peers import RecordingPeer, ScriptedResponse, free_port

from .conftest import REFERENCE

API_KEY = "SG.test-key.not-real"
NOW = datetime(2026, 12, 29, 16, 30, tzinfo=UTC)


def sendgrid(url: str, **options) -> SendGridEmailChannel:
    options.setdefault("timeout", 10)
    return SendGridEmailChannel(
        API_KEY,
        email_from="complaints@iss.example.com",
        email_from_name="ISS Complaints",
        email_reply_to="replies@iss.example.com",
        host=url,
        clock=lambda: NOW,
        **options,
    )


def send(channel: SendGridEmailChannel, request):
    return channel.send(request, render(request))


def test_valid_email_is_accepted_with_what_we_meant_to_send(sendgrid_peer, make_request):
    request = make_request(MessageKind.INTRODUCTION, ChannelKind.EMAIL)
    message = render(request)
    receipt = sendgrid(sendgrid_peer.url).send(request, message)

    assert sendgrid_peer.statuses == [202]
    assert receipt.provider_id == request.key  # Prism sends no X-Message-Id
    assert receipt.channel is ChannelKind.EMAIL and receipt.sent_at == NOW
    [sent] = sendgrid_peer.requests
    assert (sent.method, sent.path) == ("POST", "/v3/mail/send")
    assert sent.headers["Authorization"] == f"Bearer {API_KEY}"
    body = sent.json()
    assert body["personalizations"][0]["to"] == [{"email": "jane.obrien@example.com", "name": "Jane O'Brien"}]
    assert body["from"] == {"email": "complaints@iss.example.com", "name": "ISS Complaints"}
    # Plus-addressed with the reference: the customer's reply finds its case (the inbound service).
    assert body["reply_to"]["email"] == f"replies+{request.context.reference}@iss.example.com"
    assert body["subject"] == message.subject and REFERENCE in body["subject"]
    assert body["content"] == [
        {"type": "text/plain", "value": message.text},
        {"type": "text/html", "value": message.html},
    ]
    assert body["personalizations"][0]["custom_args"] == {"case_reference": REFERENCE, "message_key": request.key}
    assert body["headers"] == {"X-Case-Reference": REFERENCE, "X-Message-Key": request.key}


def test_provider_id_is_sendgrids_message_id_when_given(stub_peer, make_request):
    stub_peer.script(ScriptedResponse(202, headers={"X-Message-Id": "abc123XYZ"}))
    assert send(sendgrid(stub_peer.url), make_request()).provider_id == "abc123XYZ"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413])
def test_vendor_refusals_are_permanent(sendgrid_peer, make_request, status):
    channel = sendgrid(sendgrid_peer.url, query_params={"__code": status})
    with pytest.raises(PermanentDeliveryError, match=f"SendGrid answered {status}"):
        send(channel, make_request())
    assert sendgrid_peer.statuses == [status]
    assert sendgrid_peer.requests[0].query == {"__code": [str(status)]}


def test_vendor_500_is_transient(sendgrid_peer, make_request):
    with pytest.raises(TransientDeliveryError, match="SendGrid answered 500") as caught:
        send(sendgrid(sendgrid_peer.url, query_params={"__code": 500}), make_request())
    assert caught.value.retry_after is None
    assert sendgrid_peer.statuses == [500]


def test_an_invalid_sender_is_refused_by_the_spec_and_permanent(sendgrid_peer, make_request):
    channel = SendGridEmailChannel(API_KEY, email_from="not-an-address", host=sendgrid_peer.url, timeout=10)
    with pytest.raises(PermanentDeliveryError, match="Request body property from") as caught:
        send(channel, make_request())
    assert sendgrid_peer.statuses == [400]
    assert "jane.obrien" not in caught.value.reason


def test_recipient_without_email_is_refused_before_sending(sendgrid_peer, make_request, recipient):
    request = make_request(recipient_override=recipient.model_copy(update={"email": None}))
    with pytest.raises(PermanentDeliveryError):
        send(sendgrid(sendgrid_peer.url), request)
    assert sendgrid_peer.requests == []


# --- what Prism cannot produce: a scripted loopback peer ----------------------------------------


def test_429_with_retry_after_seconds_is_transient_with_the_delay(stub_peer, make_request):
    stub_peer.script(ScriptedResponse(429, b'{"errors":[{"message":"too many"}]}', {"Retry-After": "7"}))
    with pytest.raises(TransientDeliveryError, match="SendGrid answered 429") as caught:
        send(sendgrid(stub_peer.url), make_request())
    assert caught.value.retry_after == 7.0


def test_429_with_retry_after_date_is_transient_with_the_delay(stub_peer, make_request):
    retry_at = format_datetime(NOW + timedelta(seconds=90), usegmt=True)
    stub_peer.script(ScriptedResponse(429, b"{}", {"Retry-After": retry_at}))
    with pytest.raises(TransientDeliveryError) as caught:
        send(sendgrid(stub_peer.url), make_request())
    assert caught.value.retry_after == 90.0


def test_429_with_only_sendgrids_rate_limit_reset_uses_it(stub_peer, make_request):
    reset = int((NOW + timedelta(seconds=42)).timestamp())
    stub_peer.script(ScriptedResponse(429, b"{}", {"X-RateLimit-Reset": str(reset)}))
    with pytest.raises(TransientDeliveryError) as caught:
        send(sendgrid(stub_peer.url), make_request())
    assert caught.value.retry_after == 42.0


@pytest.mark.parametrize("status", [502, 503, 504])
def test_gateway_errors_are_transient(stub_peer, make_request, status):
    stub_peer.script(ScriptedResponse(status, b"upstream trouble"))
    with pytest.raises(TransientDeliveryError, match=f"SendGrid answered {status}"):
        send(sendgrid(stub_peer.url), make_request())


def test_a_slow_vendor_times_out_as_transient(stub_peer, make_request):
    stub_peer.script(ScriptedResponse(202, delay=2.0))
    with pytest.raises(TransientDeliveryError, match="timed out"):
        send(sendgrid(stub_peer.url, timeout=0.3), make_request())


def test_nobody_listening_is_transient(make_request):
    with pytest.raises(TransientDeliveryError, match="unreachable"):
        send(sendgrid(f"http://127.0.0.1:{free_port()}"), make_request())


def test_the_api_key_is_not_in_repr():
    channel = sendgrid("http://127.0.0.1:9")
    assert API_KEY not in repr(channel)
    assert base64.b64encode(API_KEY.encode()).decode() not in repr(channel)


def test_debug_logging_shows_neither_the_key_nor_the_customer(stub_peer, make_request, caplog):
    stub_peer.script(ScriptedResponse(202))
    with caplog.at_level(logging.DEBUG):
        send(sendgrid(stub_peer.url), make_request())
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "POST Request" in logged  # the library did log, at DEBUG
    assert API_KEY not in logged and "jane.obrien@example.com" not in logged


async def test_staff_notices_are_emailed_through_sendgrid_when_it_is_configured(sendgrid_peer, tmp_path):
    from temporalio.testing import ActivityEnvironment

    from activities.alerts import AlertActivities
    from domain.models import AlertRequest, CaseRole

    alerts = AlertActivities(tmp_path / "alerts", email=sendgrid(sendgrid_peer.url))
    notice = AlertRequest(
        key=f"{REFERENCE}/alert-001",
        reference=REFERENCE,
        to_role=CaseRole.CASE_HANDLER,
        to_handler="amara.okafor",
        to_email="amara.okafor@iss.example.com",
        subject=f"{REFERENCE}: a case for you",
        detail="Next for you: call the customer to introduce yourself by Wed 13 Feb 14:00.",
        kind="work",
    )
    await ActivityEnvironment().run(alerts.raise_internal_alert, notice)
    assert sendgrid_peer.statuses == [202]  # the vendor's own spec accepted it
    body = sendgrid_peer.requests[0].json()
    assert body["personalizations"][0]["to"] == [{"email": "amara.okafor@iss.example.com"}]
    assert body["subject"] == notice.subject
    assert body["content"] == [{"type": "text/plain", "value": notice.detail}]
    assert body["headers"] == {"X-Case-Reference": REFERENCE, "X-Message-Key": notice.key}
    assert (tmp_path / "alerts" / f"{REFERENCE}_alert-001.json").exists()  # and the alert on file


def test_emails_from_one_channel_share_one_kept_alive_connection(make_request):
    """A new connection per email is a TCP and, in production, a TLS handshake per email (issue #15)."""
    with RecordingPeer(keep_alive=True) as peer:
        peer.script(*[ScriptedResponse(202)] * 3)
        channel = sendgrid(peer.url)
        for number in range(3):
            send(channel, make_request(key=f"{REFERENCE}:acknowledgement:email:{number}"))
    assert peer.statuses == [202, 202, 202]
    assert len({sent.client_port for sent in peer.requests}) == 1


def test_concurrent_sends_through_one_channel_each_arrive_once(stub_peer, make_request):
    """The activity sends from worker threads at once, through the one channel and its pool."""
    from concurrent.futures import ThreadPoolExecutor

    keys = [f"{REFERENCE}:progress_update:email:{number}" for number in range(12)]
    stub_peer.script(*[ScriptedResponse(202, delay=0.05)] * len(keys))
    channel = sendgrid(stub_peer.url)
    with ThreadPoolExecutor(max_workers=6) as pool:
        receipts = list(pool.map(lambda key: send(channel, make_request(key=key)), keys))
    assert [receipt.key for receipt in receipts] == keys
    assert sorted(sent.json()["personalizations"][0]["custom_args"]["message_key"] for sent in stub_peer.requests) == (
        sorted(keys)
    )


def test_a_connection_dropped_before_the_answer_is_transient(make_request):
    """SendGrid (or a proxy) closing the connection after reading the request: maybe sent, so the
    activity's retry and the ledger decide; the reason names the socket's error, not the host."""
    import socket
    import threading

    with socket.create_server(("127.0.0.1", 0)) as server:

        def read_then_hang_up() -> None:
            connection, _ = server.accept()
            with connection:
                connection.recv(65536)

        threading.Thread(target=read_then_hang_up, daemon=True).start()
        channel = sendgrid(f"http://127.0.0.1:{server.getsockname()[1]}")
        with pytest.raises(TransientDeliveryError, match="^SendGrid connection failed: RemoteDisconnected$"):
            send(channel, make_request())
