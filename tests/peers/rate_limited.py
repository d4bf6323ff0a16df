"""Twilio and SendGrid as a rush sees them: the two endpoints the official clients call, each held
to a rate, 429 with `Retry-After` above it, and every message counted by its key.

    python -m tests.peers.rate_limited --port 0 --sms-per-second 10 --email-per-second 20

prints `listening on http://127.0.0.1:PORT` once it answers (`https://` with `--tls-cert` and
`--tls-key`). `GET /stats` is what it saw (accepted,
429s and duplicates per vendor, staff notices and their 429s apart, first and last acceptance);
`POST /reset` starts the counts afresh.

- Twilio: `POST /2010-04-01/Accounts/{sid}/Messages.json` (form: To, Body, From or
  MessagingServiceSid) answers 201 with a message resource, or 429 with Twilio's error 20429. An SMS
  carries no key of ours, so a duplicate is the same To and Body again (a body holds the case
  reference and the message kind).
- SendGrid: `POST /v3/mail/send` answers 202 with `X-Message-Id`, or 429 with SendGrid's error body
  and rate-limit headers; a duplicate is a `custom_args.message_key` seen before.

The limit is a token bucket per vendor (a second's worth of burst, as the vendors allow): what is
over it is refused and not counted as sent, as Twilio and SendGrid do. Bench and test peer only:
no authentication, loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import ssl
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email.utils import formatdate

from aiohttp import web

SMS, EMAIL = "sms", "email"


@dataclass
class VendorLimit:
    """Tokens refill at `per_second`, up to `burst` (default: one second's worth, at least one)."""

    per_second: float
    burst: float = 0.0
    tokens: float = 0.0
    at: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.burst = self.burst or max(1.0, self.per_second)
        self.tokens = self.burst

    def take(self, now: float) -> float:
        """0 if a token was taken, else the seconds until one will be there."""
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.per_second)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.per_second


@dataclass
class VendorCounts:
    accepted: int = 0  # customer messages
    # Notices to staff (a new owner, a reminder) share the account's rate but are not the
    # customers' messages the rush is measured by.
    staff_notices: int = 0
    too_many_requests: int = 0  # refusals of customer messages
    # Refusals of staff notices, apart: the notices are paced below the customers, and the rush's
    # target (< 1 % refused) is on all the account's requests.
    staff_notices_too_many_requests: int = 0
    duplicates: int = 0
    first_accepted_at: float | None = None  # time.time()
    last_accepted_at: float | None = None
    keys: set[str] = field(default_factory=set)

    def as_dict(self) -> dict[str, object]:
        return {
            "accepted": self.accepted,
            "staff_notices": self.staff_notices,
            "too_many_requests": self.too_many_requests,
            "staff_notices_too_many_requests": self.staff_notices_too_many_requests,
            "duplicates": self.duplicates,
            "first_accepted_at": self.first_accepted_at,
            "last_accepted_at": self.last_accepted_at,
        }


class RateLimitedVendors:
    def __init__(self, sms_per_second: float, email_per_second: float) -> None:
        self.rates = {SMS: sms_per_second, EMAIL: email_per_second}
        self.reset()

    def reset(self) -> None:
        self.limits = {vendor: VendorLimit(rate) for vendor, rate in self.rates.items()}
        self.counts = {vendor: VendorCounts() for vendor in self.rates}

    def admit(self, vendor: str, key: str, *, staff: bool = False) -> float:
        """0 and counted as sent, or the whole seconds to put in `Retry-After`."""
        wait = self.limits[vendor].take(time.monotonic())
        counts = self.counts[vendor]
        if wait:
            if staff:
                counts.staff_notices_too_many_requests += 1
            else:
                counts.too_many_requests += 1
            return max(1.0, math.ceil(wait))
        if staff:
            counts.staff_notices += 1
            return 0.0
        counts.accepted += 1
        if key in counts.keys:
            counts.duplicates += 1
        counts.keys.add(key)
        now = time.time()
        counts.first_accepted_at = counts.first_accepted_at or now
        counts.last_accepted_at = now
        return 0.0

    def stats(self) -> dict[str, object]:
        return {"rates": self.rates} | {vendor: counts.as_dict() for vendor, counts in self.counts.items()}

    # --- the vendors' endpoints -------------------------------------------------------------------

    async def twilio_messages(self, request: web.Request) -> web.Response:
        form = await request.post()
        to, body = str(form.get("To", "")), str(form.get("Body", ""))
        retry_after = self.admit(SMS, hashlib.sha256(f"{to}\n{body}".encode()).hexdigest())
        if retry_after:
            return web.json_response(
                {
                    "code": 20429,
                    "message": "Too Many Requests",
                    "more_info": "https://www.twilio.com/docs/errors/20429",
                    "status": 429,
                },
                status=429,
                headers={"Retry-After": f"{retry_after:.0f}"},
            )
        now = formatdate(usegmt=True)
        return web.json_response(
            {
                "sid": "SM" + uuid.uuid4().hex,
                "account_sid": request.match_info["account"],
                "to": to,
                "from": form.get("From"),
                "messaging_service_sid": form.get("MessagingServiceSid"),
                "body": body,
                "status": "queued",
                "num_segments": "1",
                "direction": "outbound-api",
                "date_created": now,
                "date_updated": now,
                "api_version": "2010-04-01",
            },
            status=201,
        )

    async def sendgrid_mail_send(self, request: web.Request) -> web.Response:
        mail = await request.json()
        args = [p.get("custom_args") or {} for p in mail.get("personalizations") or []]
        key = next((a["message_key"] for a in args if "message_key" in a), None) or json.dumps(mail, sort_keys=True)
        retry_after = self.admit(EMAIL, key, staff="staff_notice" in (mail.get("categories") or []))
        if retry_after:
            return web.json_response(
                {"errors": [{"field": None, "message": "too many requests"}]},
                status=429,
                headers={
                    "Retry-After": f"{retry_after:.0f}",
                    "X-RateLimit-Limit": f"{self.rates[EMAIL]:g}",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": f"{time.time() + retry_after:.0f}",
                },
            )
        return web.Response(status=202, headers={"X-Message-Id": uuid.uuid4().hex})

    async def get_stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    async def post_reset(self, request: web.Request) -> web.Response:
        self.reset()
        return web.json_response(self.stats())

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/2010-04-01/Accounts/{account}/Messages.json", self.twilio_messages)
        app.router.add_post("/v3/mail/send", self.sendgrid_mail_send)
        app.router.add_get("/stats", self.get_stats)
        app.router.add_post("/reset", self.post_reset)
        return app


@asynccontextmanager
async def listening(
    vendors: RateLimitedVendors, port: int = 0, tls: ssl.SSLContext | None = None
) -> AsyncIterator[str]:
    """The peer on loopback (`port` 0: any free port) for as long as the block runs; yields its URL."""
    runner = web.AppRunner(vendors.app(), access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", port, backlog=1024, ssl_context=tls)
        await site.start()
        yield f"{'https' if tls else 'http'}://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def serve(vendors: RateLimitedVendors, port: int, tls: ssl.SSLContext | None = None) -> None:
    async with listening(vendors, port, tls) as url:
        print(f"listening on {url}", flush=True)
        await asyncio.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--sms-per-second", type=float, default=10.0)
    parser.add_argument("--email-per-second", type=float, default=20.0)
    # HTTPS, as the vendors answer in production (the bench's `vendor-tls`: what TLS costs a client).
    parser.add_argument("--tls-cert", help="PEM certificate chain; serve HTTPS with --tls-key")
    parser.add_argument("--tls-key", help="PEM private key of --tls-cert")
    args = parser.parse_args()
    tls = None
    if args.tls_cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
    try:
        asyncio.run(serve(RateLimitedVendors(args.sms_per_second, args.email_per_second), args.port, tls))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
