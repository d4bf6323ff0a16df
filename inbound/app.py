"""The inbound service's routes (aiohttp).

Every route verifies first, then persists, then answers 2xx: a vendor that gets no 2xx retries, so
nothing accepted is ever only in memory. A request that fails verification changes nothing and is
answered 401/403 (400 for a malformed one); a route whose secret is not configured answers 503.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from aiohttp import web
from twilio.twiml.messaging_response import MessagingResponse

from domain.models import CustomerReply, DeliveryEvent
from inbound.forwarder import Forwarder
from inbound.queue import InboundQueue
from inbound.signatures import (
    SENDGRID_SIGNATURE,
    SENDGRID_TIMESTAMP,
    TWILIO_SIGNATURE,
    BasicAuthSecret,
    Refused,
    SendGridEventVerifier,
    TwilioVerifier,
)
from inbound.vendor_payloads import (
    PayloadError,
    inbound_email_reply,
    sendgrid_events,
    twilio_sms_reply,
    twilio_status_event,
)

log = logging.getLogger("complaints.inbound")

# A route handler, as aiohttp's middleware gets it; a row to persist (item id, the event or reply,
# its case reference if the request named it).
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
QueueEntry = tuple[str, DeliveryEvent | CustomerReply, str | None]
V = TypeVar("V")

# SendGrid batches events (thousands per post at peak) and Inbound Parse posts whole e-mails with
# attachments (up to 30 MB): one request is held in memory at most this large.
MAX_REQUEST_BYTES = 32 * 1024 * 1024


@dataclass
class Verifiers:
    sendgrid_events: SendGridEventVerifier | None
    twilio: TwilioVerifier | None
    sendgrid_inbound: BasicAuthSecret | None
    # The URL Twilio was given (e.g. https://complaints.example.com): what it signed. None: the URL
    # the request was made to, as under `make run` with no proxy in front.
    public_base_url: str | None = None


QUEUE = web.AppKey("queue", InboundQueue)
VERIFIERS = web.AppKey("verifiers", Verifiers)
FORWARDER = web.AppKey("forwarder", Forwarder)


def build_app(queue: InboundQueue, verifiers: Verifiers, forwarder: Forwarder | None = None) -> web.Application:
    """The routes; with a forwarder, it runs for the application's lifetime."""
    app = web.Application(client_max_size=MAX_REQUEST_BYTES, middlewares=[_refusals])
    app[QUEUE] = queue
    app[VERIFIERS] = verifiers
    app.router.add_post("/webhooks/sendgrid/events", sendgrid_event_webhook)
    app.router.add_post("/webhooks/twilio/status", twilio_status_callback)
    app.router.add_post("/webhooks/twilio/sms", twilio_incoming_sms)
    app.router.add_post("/webhooks/sendgrid/inbound", sendgrid_inbound_parse)
    app.router.add_get("/healthz", healthz)
    if forwarder is not None:
        app[FORWARDER] = forwarder
        app.cleanup_ctx.append(_forwarding)
    return app


async def _forwarding(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(app[FORWARDER].run(), name="inbound-forwarder")
    yield
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass


@web.middleware
async def _refusals(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except Refused as exc:
        log.warning("refused %s %s: %s", request.method, request.path, exc.reason)
        headers = {"WWW-Authenticate": 'Basic realm="inbound"'} if exc.status == 401 else None
        return web.json_response({"refused": exc.reason}, status=exc.status, headers=headers)
    except PayloadError as exc:
        log.warning("malformed %s %s: %s", request.method, request.path, exc)
        return web.json_response({"refused": str(exc)}, status=400)


def _configured(verifier: V | None, route: str) -> V:
    if verifier is None:
        # Never "accept unverified": the vendor retries, and nothing is lost once it is configured.
        raise web.HTTPServiceUnavailable(text=f"{route} is not configured on this service")
    return verifier


async def _persist(request: web.Request, items: list[QueueEntry]) -> int:
    new = await asyncio.to_thread(request.app[QUEUE].accept, items)
    forwarder = request.app.get(FORWARDER)
    if new and forwarder is not None:
        forwarder.wake.set()
    return new


async def sendgrid_event_webhook(request: web.Request) -> web.Response:
    verifier = _configured(request.app[VERIFIERS].sendgrid_events, "the SendGrid Event Webhook")
    body = await request.read()
    text = verifier.verify(body, request.headers.get(SENDGRID_SIGNATURE), request.headers.get(SENDGRID_TIMESTAMP))
    events, skipped = sendgrid_events(text)
    new = await _persist(request, [(f"sendgrid:{e.event_id}", e, e.message_key.split("/", 1)[0]) for e in events])
    return web.json_response({"accepted": len(events), "new": new, "skipped": skipped})


def _signed_url(request: web.Request) -> str:
    base = request.app[VERIFIERS].public_base_url
    return f"{base}{request.path_qs}" if base else str(request.url)


async def _twilio_form(request: web.Request) -> dict[str, str]:
    verifier = _configured(request.app[VERIFIERS].twilio, "Twilio (COMPLAINTS_TWILIO_AUTH_TOKEN)")
    form = {key: str(value) for key, value in (await request.post()).items()}
    verifier.verify(_signed_url(request), form, request.headers.get(TWILIO_SIGNATURE))
    return form


async def twilio_status_callback(request: web.Request) -> web.Response:
    form = await _twilio_form(request)
    event = twilio_status_event(form, request.query.get("key"), datetime.now(UTC))
    if event is None:
        return web.Response(status=204)  # queued, sending, sent: on the way, nothing to record
    await _persist(request, [(f"twilio:{event.event_id}", event, event.message_key.split("/", 1)[0])])
    return web.Response(status=204)


async def twilio_incoming_sms(request: web.Request) -> web.Response:
    form = await _twilio_form(request)
    reply = twilio_sms_reply(form, datetime.now(UTC))
    await _persist(request, [(f"twilio-sms:{reply.reply_id}", reply, None)])
    # An empty TwiML answer: the case replies through its own channels (and Twilio answers STOP).
    return web.Response(text=str(MessagingResponse()), content_type="text/xml")


async def sendgrid_inbound_parse(request: web.Request) -> web.Response:
    verifier = _configured(request.app[VERIFIERS].sendgrid_inbound, "SendGrid Inbound Parse")
    verifier.verify(request.headers.get("Authorization"))
    form = {key: value for key, value in (await request.post()).items() if isinstance(value, str)}
    reply, reference = inbound_email_reply(form, datetime.now(UTC))
    await _persist(request, [(f"email:{reply.reply_id}", reply, reference)])
    return web.Response(status=200, text="ok")


async def healthz(request: web.Request) -> web.Response:
    counts = await asyncio.to_thread(request.app[QUEUE].counts)
    return web.json_response({"status": "ok", "queue": counts})
