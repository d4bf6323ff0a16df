"""Forged, replayed and duplicate webhooks change nothing; genuine ones are persisted before 2xx."""

from __future__ import annotations

import json
import time
from urllib.parse import quote

from aiohttp import FormData
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from domain.models import ChannelKind, CustomerReply, DeliveryEvent, DeliveryStatus, Vendor
from inbound.app import Verifiers, build_app
from inbound.queue import CUSTOMER_REPLY, DELIVERY_EVENT, PENDING, InboundQueue
from ops import stores
from tests.inbound.signing import (
    INBOUND_SECRET,
    SendGridSigner,
    basic_auth,
    events_body,
    sender_checks,
    sendgrid_event,
    twilio_headers,
)

KEY = "CC-2026-T7MH3PQR/001-acknowledgement-email"
SMS_KEY = "CC-2026-T7MH3PQR/002-introduction-sms"


def stored(queue: InboundQueue) -> dict[str, object]:
    return {item.item_id: item.item for item in queue.due(10_000)}


# --- SendGrid Event Webhook ------------------------------------------------------------------------


async def test_signed_bounce_is_persisted_as_a_delivery_event_for_its_message(client, queue, signer) -> None:
    body = events_body(sendgrid_event("ev-1", KEY, "bounce", reason="550 5.1.1 mailbox unknown", at=1764460800))
    response = await client.post("/webhooks/sendgrid/events", data=body, headers=signer.headers(body))
    assert response.status == 200
    assert await response.json() == {"accepted": 1, "new": 1, "skipped": 0}
    [item] = queue.due(10)
    assert item.item_id == "sendgrid:ev-1" and item.reference == "CC-2026-T7MH3PQR" and item.kind == DELIVERY_EVENT
    event = item.item
    assert isinstance(event, DeliveryEvent)
    assert (event.event_id, event.message_key, event.vendor, event.status) == (
        "ev-1",
        KEY,
        Vendor.SENDGRID,
        DeliveryStatus.BOUNCED,
    )
    assert event.reason == "550 5.1.1 mailbox unknown" and event.signature_verified
    assert event.vendor_at.timestamp() == 1764460800


async def test_unsigned_events_are_refused_and_nothing_is_stored(client, queue) -> None:
    body = events_body(sendgrid_event("ev-1", KEY, "bounce"))
    response = await client.post("/webhooks/sendgrid/events", data=body, headers={"Content-Type": "application/json"})
    assert response.status == 403
    assert queue.counts() == {}


async def test_events_signed_with_another_key_are_refused(client, queue) -> None:
    body = events_body(sendgrid_event("ev-1", KEY, "bounce"))
    forger = SendGridSigner()
    response = await client.post("/webhooks/sendgrid/events", data=body, headers=forger.headers(body))
    assert response.status == 403
    assert queue.counts() == {}


async def test_a_signed_batch_altered_in_transit_is_refused(client, queue, signer) -> None:
    body = events_body(sendgrid_event("ev-1", KEY, "delivered"))
    headers = signer.headers(body)
    altered = body.replace(b'"delivered"', b'"bounce"')
    response = await client.post("/webhooks/sendgrid/events", data=altered, headers=headers)
    assert response.status == 403
    assert queue.counts() == {}


async def test_a_validly_signed_but_stale_batch_is_refused(client, queue, signer) -> None:
    body = events_body(sendgrid_event("ev-1", KEY, "bounce"))
    response = await client.post(
        "/webhooks/sendgrid/events", data=body, headers=signer.headers(body, timestamp=int(time.time()) - 3600)
    )
    assert response.status == 403
    assert queue.counts() == {}


async def test_a_replayed_batch_and_a_duplicate_event_are_stored_once(client, queue, signer) -> None:
    body = events_body(sendgrid_event("ev-1", KEY, "bounce"), sendgrid_event("ev-1", KEY, "bounce"))
    first = await client.post("/webhooks/sendgrid/events", data=body, headers=signer.headers(body))
    replay = await client.post("/webhooks/sendgrid/events", data=body, headers=signer.headers(body))
    assert (await first.json())["new"] == 1
    assert (await replay.json())["new"] == 0
    assert list(stored(queue)) == ["sendgrid:ev-1"]


async def test_events_not_about_delivery_or_not_ours_are_skipped(client, queue, signer) -> None:
    foreign = sendgrid_event("ev-2", KEY, "delivered")
    del foreign["message_key"]
    body = events_body(sendgrid_event("ev-1", KEY, "open"), sendgrid_event("ev-3", KEY, "processed"), foreign)
    response = await client.post("/webhooks/sendgrid/events", data=body, headers=signer.headers(body))
    assert await response.json() == {"accepted": 0, "new": 0, "skipped": 3}
    assert queue.counts() == {}


# --- Twilio status callbacks and incoming SMS ------------------------------------------------------


async def test_signed_twilio_undelivered_status_is_persisted_with_the_key_from_its_url(client, queue) -> None:
    path = f"/webhooks/twilio/status?key={quote(SMS_KEY, safe='')}"
    form = {"MessageSid": "SM1", "MessageStatus": "undelivered", "ErrorCode": "30005", "To": "+447700900123"}
    response = await client.post(path, data=form, headers=twilio_headers(str(client.make_url(path)), form))
    assert response.status == 204
    event = stored(queue)["twilio:SM1:undelivered"]
    assert isinstance(event, DeliveryEvent)
    assert (event.message_key, event.status, event.reason) == (
        SMS_KEY,
        DeliveryStatus.UNDELIVERED,
        "Twilio error 30005",
    )


async def test_twilio_callbacks_with_a_wrong_or_no_signature_change_nothing(client, queue) -> None:
    path = f"/webhooks/twilio/status?key={quote(SMS_KEY, safe='')}"
    form = {"MessageSid": "SM1", "MessageStatus": "undelivered"}
    wrong = twilio_headers(str(client.make_url(path)), form, token="another-accounts-token-000000000")
    assert (await client.post(path, data=form, headers=wrong)).status == 403
    assert (await client.post(path, data=form)).status == 403
    # Signed for one message key, replayed against another: the URL is part of what is signed.
    signed = twilio_headers(str(client.make_url(path)), form)
    other = "/webhooks/twilio/status?key=" + quote("CC-2026-T7MH3PQR/009-closure-sms", safe="")
    assert (await client.post(other, data=form, headers=signed)).status == 403
    assert queue.counts() == {}


async def test_a_status_on_the_way_is_acknowledged_and_not_stored(client, queue) -> None:
    path = f"/webhooks/twilio/status?key={quote(SMS_KEY, safe='')}"
    form = {"MessageSid": "SM1", "MessageStatus": "sent"}
    response = await client.post(path, data=form, headers=twilio_headers(str(client.make_url(path)), form))
    assert response.status == 204
    assert queue.counts() == {}


async def test_signatures_are_checked_against_the_public_url_when_one_is_configured(queue, verifiers) -> None:
    public = Verifiers(**{**verifiers.__dict__, "public_base_url": "https://complaints.example.com"})
    async with TestClient(TestServer(build_app(queue, public))) as client:
        form = {"MessageSid": "SM9", "From": "+447700900123", "Body": "YES"}
        signed_for_public = twilio_headers("https://complaints.example.com/webhooks/twilio/sms", form)
        assert (await client.post("/webhooks/twilio/sms", data=form, headers=signed_for_public)).status == 200
        form2 = form | {"MessageSid": "SM10"}
        signed_for_local = twilio_headers(str(client.make_url("/webhooks/twilio/sms")), form2)
        assert (await client.post("/webhooks/twilio/sms", data=form2, headers=signed_for_local)).status == 403
    assert list(stored(queue)) == ["twilio-sms:SM9"]


async def test_an_sms_reply_is_answered_with_twiml_and_its_text_is_encrypted_at_rest(client, queue, tmp_path) -> None:
    form = {"MessageSid": "SM2", "From": "07700 900123", "Body": "YES it is sorted, thank you"}
    path = "/webhooks/twilio/sms"
    response = await client.post(path, data=form, headers=twilio_headers(str(client.make_url(path)), form))
    assert response.status == 200
    assert response.content_type == "text/xml"
    assert "<Response" in await response.text()
    reply = stored(queue)["twilio-sms:SM2"]
    assert isinstance(reply, CustomerReply)
    assert (reply.channel, reply.sender, reply.text) == (ChannelKind.SMS, "+447700900123", form["Body"])
    raw = stores.open_store(stores.INBOUND, tmp_path / "inbound.sqlite3")
    with raw.engine.connect() as conn:
        [body] = conn.scalars(select(stores.inbound_items.c.body))
    assert "sorted" not in body and "447700900123" not in body and body.startswith("sealed:")


# --- SendGrid Inbound Parse ------------------------------------------------------------------------


def parse_form(**fields: str) -> FormData:
    form = FormData()
    for name, value in fields.items():
        form.add_field(name, value)
    return form


INBOUND_EMAIL = {
    "from": "Ann Customer <Ann@Example.com>",
    "to": "complaints+cc-2026-t7mh3pqr@iss.example.com",
    "subject": "Re: something else entirely",
    "text": "YES\n\n> quoted text",
    "headers": "Message-ID: <abc123@mail.example.com>\nFrom: Ann@Example.com\n",
    **sender_checks("ann@example.com", "complaints+CC-2026-T7MH3PQR@iss.example.com"),
}


async def test_an_email_reply_finds_its_case_from_the_plus_address(client, queue) -> None:
    response = await client.post("/webhooks/sendgrid/inbound", data=parse_form(**INBOUND_EMAIL), headers=basic_auth())
    assert response.status == 200
    [item] = queue.due(10)
    assert item.item_id == "email:<abc123@mail.example.com>" and item.kind == CUSTOMER_REPLY
    assert item.reference == "CC-2026-T7MH3PQR"
    assert (item.item.sender, item.item.channel) == ("ann@example.com", ChannelKind.EMAIL)
    assert item.item.text == "YES"  # the quoted thread under it is ours, not the customer's words


async def test_a_folded_message_id_cannot_forge_a_log_line(client, queue) -> None:
    # The item id goes into the text log ("reply email:<id>: forwarded"), the store and staff's screens.
    forged = "<li1@evil.example>\r\n 2026-11-30 10:00:00,000 WARNING complaints.inbound: INJECTED LINE"
    fields = INBOUND_EMAIL | {"headers": f"Message-ID: {forged}\r\nFrom: Ann@Example.com\r\n"}
    response = await client.post("/webhooks/sendgrid/inbound", data=parse_form(**fields), headers=basic_auth())
    assert response.status == 200
    [item] = queue.due(10)
    assert item.item_id == "email:<li1@evil.example> 2026-11-30 10:00:00,000 WARNING complaints.inbound: INJECTED LINE"
    assert item.item.reply_id == item.item_id.removeprefix("email:")


async def test_an_email_reply_carries_whether_its_sender_passed_the_checks(client, queue) -> None:
    # The basic-auth secret proves SendGrid posted it; SPF and DKIM say whether Ann's provider sent it.
    await client.post("/webhooks/sendgrid/inbound", data=parse_form(**INBOUND_EMAIL), headers=basic_auth())
    [genuine] = queue.due(10)
    assert genuine.item.signature_verified and genuine.item.sender_authenticated is True


async def test_a_forged_email_giving_the_customers_address_is_stored_as_failing_the_sender_checks(
    client, queue
) -> None:
    # Sent from anywhere with "From: Ann@Example.com": SPF fails for example.com and nothing signs it.
    forged = INBOUND_EMAIL | sender_checks("ann@example.com", INBOUND_EMAIL["to"], passed=False)
    assert (await client.post("/webhooks/sendgrid/inbound", data=parse_form(**forged), headers=basic_auth())).ok
    [item] = queue.due(10)
    assert item.item.sender == "ann@example.com" and item.item.sender_authenticated is False


async def test_a_dkim_signature_of_the_forgers_own_domain_does_not_authenticate_the_customers_address(
    client, queue
) -> None:
    forged = INBOUND_EMAIL | {
        "SPF": "pass",
        "dkim": "{@forger.example.net : pass}",
        "envelope": json.dumps({"to": [INBOUND_EMAIL["to"]], "from": "bounce@forger.example.net"}),
    }
    await client.post("/webhooks/sendgrid/inbound", data=parse_form(**forged), headers=basic_auth())
    [item] = queue.due(10)
    assert item.item.sender_authenticated is False


async def test_an_sms_reply_carries_no_sender_check(client, queue) -> None:
    # Left out of what is stored and signalled, so a worker of the release before reads it.
    form = {"MessageSid": "SM3", "From": "+447700900123", "Body": "YES"}
    path = "/webhooks/twilio/sms"
    await client.post(path, data=form, headers=twilio_headers(str(client.make_url(path)), form))
    [item] = queue.due(10)
    assert item.item.sender_authenticated is None
    assert "sender_authenticated" not in item.item.model_dump_json()


async def test_an_email_reply_without_a_plus_address_falls_back_to_the_subject(client, queue) -> None:
    fields = INBOUND_EMAIL | {
        "to": "complaints@iss.example.com",
        "envelope": "{}",
        "subject": "RE: Your complaint CC-2026-T7MH3PQR",
    }
    await client.post("/webhooks/sendgrid/inbound", data=parse_form(**fields), headers=basic_auth())
    [item] = queue.due(10)
    assert item.reference == "CC-2026-T7MH3PQR"


async def test_inbound_parse_without_the_secret_is_refused(client, queue) -> None:
    no_auth = await client.post("/webhooks/sendgrid/inbound", data=parse_form(**INBOUND_EMAIL))
    wrong = await client.post(
        "/webhooks/sendgrid/inbound", data=parse_form(**INBOUND_EMAIL), headers=basic_auth("not-" + INBOUND_SECRET)
    )
    assert (no_auth.status, wrong.status) == (401, 401)
    assert queue.counts() == {}


async def test_a_route_whose_secret_is_not_configured_accepts_nothing(queue) -> None:
    async with TestClient(TestServer(build_app(queue, Verifiers(None, None, None)))) as client:
        body = events_body(sendgrid_event("ev-1", KEY))
        assert (await client.post("/webhooks/sendgrid/events", data=body)).status == 503
        assert (await client.post("/webhooks/twilio/sms", data={"MessageSid": "SM1"})).status == 503
        assert (await client.post("/webhooks/sendgrid/inbound", data=parse_form(**INBOUND_EMAIL))).status == 503
    assert queue.counts() == {}


async def test_healthz_reports_the_queue(client, queue, signer) -> None:
    body = events_body(sendgrid_event("ev-1", KEY, "bounce"))
    await client.post("/webhooks/sendgrid/events", data=body, headers=signer.headers(body))
    response = await client.get("/healthz")
    assert await response.json() == {"status": "ok", "queue": {PENDING: 1}}
