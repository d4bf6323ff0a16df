"""TwilioSmsChannel against Twilio's own OpenAPI spec (Prism), and scripted or client-side faults
for what Prism cannot give (429, 5xx, Retry-After). Assertions are on what the client sent."""

from __future__ import annotations

import base64
import json
import logging
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from urllib.parse import quote

import pytest
from twilio.http.response import Response

from channels.base import PermanentDeliveryError, TransientDeliveryError
from channels.rendering import render
from channels.twilio_sms import LoopbackHttpClient, TwilioSmsChannel
from domain.models import ChannelKind, MessageContext, MessageKind, Recipient, SendRequest
from tests.peers.peers import ScriptedResponse, free_port

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "token-not-real"
SERVICE_SID = "MG" + "fedcba9876543210" * 2
FROM = "+447700900001"
NOW = datetime(2026, 12, 29, 16, 30, tzinfo=UTC)


def twilio(url: str | None, *, account_sid: str = ACCOUNT_SID, **options) -> TwilioSmsChannel:
    options.setdefault("timeout", 10)
    if "messaging_service_sid" not in options:
        options.setdefault("from_number", FROM)
    return TwilioSmsChannel(account_sid, AUTH_TOKEN, base_url=url, clock=lambda: NOW, **options)


def sms_request(make_request, kind=MessageKind.PROGRESS_UPDATE, **kwargs):
    return make_request(kind, ChannelKind.SMS, **kwargs)


def send(channel: TwilioSmsChannel, request):
    return channel.send(request, render(request))


def test_valid_sms_is_created_with_what_we_meant_to_send(twilio_peer, make_request):
    request = sms_request(make_request)
    receipt = send(twilio(twilio_peer.url), request)

    assert twilio_peer.statuses == [201]
    assert receipt.provider_id.startswith("SM") and len(receipt.provider_id) == 34
    assert receipt.channel is ChannelKind.SMS and receipt.key == request.key
    [sent] = twilio_peer.requests
    assert (sent.method, sent.path) == ("POST", f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json")
    expected_auth = base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
    assert sent.headers["Authorization"] == f"Basic {expected_auth}"
    assert sent.form == {"To": ["+447700900123"], "From": [FROM], "Body": [render(request).sms]}


def test_messaging_service_is_used_instead_of_a_from_number(twilio_peer, make_request):
    send(twilio(twilio_peer.url, messaging_service_sid=SERVICE_SID), sms_request(make_request))
    [sent] = twilio_peer.requests
    assert sent.form["MessagingServiceSid"] == [SERVICE_SID]
    assert "From" not in sent.form
    assert twilio_peer.statuses == [201]


@pytest.mark.parametrize("phone", ["07700 900123", "447700900123", "+44 7700 900123", None])
def test_non_e164_numbers_are_refused_before_sending(twilio_peer, make_request, recipient, phone):
    request = sms_request(make_request, recipient_override=recipient.model_copy(update={"phone": phone}))
    with pytest.raises(PermanentDeliveryError):
        send(twilio(twilio_peer.url), request)
    assert twilio_peer.requests == []


class DroppingTo(LoopbackHttpClient):
    """A client bug, simulated: the request leaves without its required `To`."""

    def transmit(self, method, url, **kwargs):
        kwargs["data"] = {k: v for k, v in (kwargs.get("data") or {}).items() if k != "To"}
        return super().transmit(method, url, **kwargs)


def test_a_request_missing_a_required_field_is_permanent(twilio_peer, make_request):
    channel = twilio(None, http_client=DroppingTo(twilio_peer.url, timeout=10))
    with pytest.raises(PermanentDeliveryError, match="Twilio answered 422"):
        send(channel, sms_request(make_request))
    assert twilio_peer.statuses == [422]
    assert "To" not in twilio_peer.requests[0].form


def test_a_malformed_account_sid_is_permanent(twilio_peer, make_request):
    with pytest.raises(PermanentDeliveryError, match="Twilio answered 422"):
        send(twilio(twilio_peer.url, account_sid="ACnot-a-real-sid"), sms_request(make_request))


# --- what Prism cannot produce -------------------------------------------------------------------


def test_429_with_retry_after_is_transient_with_the_delay(stub_peer, make_request):
    stub_peer.script(
        ScriptedResponse(429, b'{"code": 20429, "message": "Too Many Requests", "status": 429}', {"Retry-After": "2"})
    )
    with pytest.raises(TransientDeliveryError, match=r"Twilio answered 429 \(code 20429\)") as caught:
        send(twilio(stub_peer.url), sms_request(make_request))
    assert caught.value.retry_after == 2.0


def test_503_with_retry_after_date_is_transient(stub_peer, make_request):
    when = format_datetime(NOW + timedelta(minutes=5), usegmt=True)
    stub_peer.script(
        ScriptedResponse(
            503, b'{"code": 20503, "message": "Service unavailable", "status": 503}', {"Retry-After": when}
        )
    )
    with pytest.raises(TransientDeliveryError) as caught:
        send(twilio(stub_peer.url), sms_request(make_request))
    assert caught.value.retry_after == 300.0


@pytest.mark.parametrize("status", [500, 502, 504])
def test_server_errors_without_retry_after_are_transient(stub_peer, make_request, status):
    stub_peer.script(ScriptedResponse(status, b"<html>oops</html>"))
    with pytest.raises(TransientDeliveryError, match=f"Twilio answered {status}") as caught:
        send(twilio(stub_peer.url), sms_request(make_request))
    assert caught.value.retry_after is None


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        (400, 21211, "The 'To' number +447700900123 is not a valid phone number."),
        (400, 21614, "'To' number +447700900123 is not a mobile number"),
        (400, 21610, "Attempt to send to unsubscribed recipient +447700900123"),
        (401, 20003, "Authenticate"),
        (403, 21408, "Permission to send an SMS has not been enabled for the region indicated by the 'To' number"),
        (404, 20404, "The requested resource was not found"),
    ],
)
def test_twilio_refusals_are_permanent_and_do_not_quote_the_number(stub_peer, make_request, status, code, message):
    body = f'{{"code": {code}, "message": "{message}", "more_info": "https://www.twilio.com/docs/errors/{code}", "status": {status}}}'
    stub_peer.script(ScriptedResponse(status, body.encode(), {"Content-Type": "application/json"}))
    with pytest.raises(PermanentDeliveryError) as caught:
        send(twilio(stub_peer.url), sms_request(make_request))
    assert f"Twilio answered {status} (code {code})" in caught.value.reason
    assert "7700900123" not in caught.value.reason and "7700 900123" not in caught.value.reason


class Throttled(LoopbackHttpClient):
    """Fault injected on the client side: the answer a rate-limited account gets."""

    def transmit(self, method, url, **kwargs):
        return Response(429, '{"code": 20429, "message": "Too Many Requests"}', {"Retry-After": "3"})


def test_client_side_429_is_read_from_the_last_response():
    request = SendRequest(
        key="k1",
        kind=MessageKind.CLOSURE,
        channel=ChannelKind.SMS,
        recipient=Recipient(name="J", phone="+447700900123"),
        context=MessageContext(reference="CMP-9", customer_name="J", received_at=NOW),
    )
    channel = twilio(None, http_client=Throttled(None))
    with pytest.raises(TransientDeliveryError) as caught:
        send(channel, request)
    assert caught.value.retry_after == 3.0


def test_a_slow_vendor_times_out_as_transient(stub_peer, make_request):
    stub_peer.script(ScriptedResponse(201, b"{}", delay=2.0))
    with pytest.raises(TransientDeliveryError, match="timed out"):
        send(twilio(stub_peer.url, timeout=0.3), sms_request(make_request))


def test_nobody_listening_is_transient(make_request):
    with pytest.raises(TransientDeliveryError, match="unreachable"):
        send(twilio(f"http://127.0.0.1:{free_port()}"), sms_request(make_request))


def test_loopback_client_rewrites_every_twilio_host():
    client = LoopbackHttpClient("http://127.0.0.1:4010")
    assert client.rewrite("https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json?x=1") == (
        "http://127.0.0.1:4010/2010-04-01/Accounts/AC1/Messages.json?x=1"
    )
    assert client.rewrite("https://messaging.twilio.com/v1/Services") == "http://127.0.0.1:4010/v1/Services"
    assert LoopbackHttpClient(None).rewrite("https://api.twilio.com/x") == "https://api.twilio.com/x"


def test_the_auth_token_is_not_in_repr():
    assert AUTH_TOKEN not in repr(twilio("http://127.0.0.1:9"))


def test_with_a_public_url_each_text_asks_for_status_callbacks_carrying_its_key(twilio_peer, make_request):
    request = sms_request(make_request)
    send(twilio(twilio_peer.url, public_base_url="https://complaints.example.com/"), request)
    [sent] = twilio_peer.requests
    assert twilio_peer.statuses == [201]  # a field Twilio's own spec accepts
    assert sent.form["StatusCallback"] == [
        f"https://complaints.example.com/webhooks/twilio/status?key={quote(request.key, safe='')}"
    ]


def test_without_a_public_url_no_status_callback_is_asked_for(twilio_peer, make_request):
    send(twilio(twilio_peer.url), sms_request(make_request))
    [sent] = twilio_peer.requests
    assert "StatusCallback" not in sent.form


def test_a_text_sent_at_info_level_logs_nothing_from_twilios_http_client(stub_peer, make_request, caplog):
    """Twilio's client would write ten INFO lines per text (URL, headers, response headers) into
    the worker's JSON log: CPU per message and noise (issue #15); the worker logs the send itself."""
    body = json.dumps({"sid": "SM" + "0" * 32, "status": "queued"}).encode()
    stub_peer.script(ScriptedResponse(201, body, {"Content-Type": "application/json"}))
    with caplog.at_level(logging.INFO):
        receipt = send(twilio(stub_peer.url), sms_request(make_request))
    assert receipt.provider_id == "SM" + "0" * 32
    assert [r.getMessage() for r in caplog.records if r.name.startswith("twilio")] == []
