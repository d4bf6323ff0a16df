"""`python -m inbound`: the webhook routes and the forwarder, in one process.

Refuses to start on a settings error (one line per wrong field), as the worker does. Stops cleanly
on SIGTERM or Ctrl-C: what was accepted is in the queue, and the next start forwards it.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from datetime import timedelta

from aiohttp import web
from pydantic import SecretStr, ValidationError

from activities.archive import CaseArchive
from codec.at_rest import AtRest
from codec.converter import EncryptionRequiredError, data_converter
from codec.keyring import CodecSettings
from connection import connect
from domain.models import field_errors
from inbound.app import Verifiers, build_app
from inbound.forwarder import Forwarder
from inbound.queue import InboundQueue
from inbound.settings import InboundSettings
from inbound.signatures import BasicAuthSecret, SendGridEventVerifier, TwilioVerifier
from ops import stores
from ops.logs import configure_logging
from settings import PipelineSettings

log = logging.getLogger("complaints.inbound")


def verifiers_from(settings: InboundSettings) -> Verifiers:
    def secret(value: SecretStr | None) -> str | None:
        return value.get_secret_value() if value is not None else None

    key = secret(settings.sendgrid_webhook_public_key)
    token = secret(settings.twilio_auth_token)
    parse_secret = secret(settings.sendgrid_inbound_secret)
    return Verifiers(
        sendgrid_events=SendGridEventVerifier(key, settings.webhook_tolerance_seconds) if key else None,
        twilio=TwilioVerifier(token) if token else None,
        sendgrid_inbound=BasicAuthSecret(parse_secret) if parse_secret else None,
        public_base_url=settings.public_base_url,
    )


async def serve(settings: InboundSettings, pipeline: PipelineSettings) -> None:
    at_rest = AtRest(CodecSettings().keyring())
    queue = InboundQueue(stores.locate(pipeline, stores.INBOUND), at_rest)
    archive = CaseArchive(
        stores.locate(pipeline, stores.CASE_ARCHIVE), retention=timedelta(days=pipeline.archive_retention_days)
    )
    secret = settings.contact_key_secret.get_secret_value() if settings.contact_key_secret else None
    forwarder = Forwarder(
        queue,
        lambda: connect(pipeline),
        archive=archive,
        sealed=at_rest.seal,
        contact_key_secret=secret,
        # The notice of a reply no open case took runs on the workers' queue (they send staff mail).
        notice_queue=pipeline.task_queue,
        notices_per_hour=settings.reply_notices_per_hour,
        batch_size=settings.forward_batch_size,
        retry_first=settings.forward_retry_first_seconds,
        retry_max=settings.forward_retry_max_seconds,
    )
    verifiers = verifiers_from(settings)
    runner = web.AppRunner(build_app(queue, verifiers, forwarder), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, settings.inbound_host, settings.inbound_port)
    await site.start()
    routes = {
        "sendgrid events": verifiers.sendgrid_events is not None,
        "twilio": verifiers.twilio is not None,
        "sendgrid inbound parse": verifiers.sendgrid_inbound is not None,
        "sms reply lookup": secret is not None,
        "stored text encrypted": at_rest.encrypted,
    }
    log.info(
        "inbound service listening on http://%s:%s (queue %s): %s",
        settings.inbound_host,
        settings.inbound_port,
        queue.where,
        ", ".join(f"{name} {'on' if on else 'OFF'}" for name, on in routes.items()),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main() -> int:
    try:
        settings = InboundSettings()
        pipeline = PipelineSettings()
    except ValidationError as exc:
        print("inbound service not started, settings refused:", file=sys.stderr)
        for line in field_errors(exc):
            print(f"  {line}", file=sys.stderr)
        return 2
    except ValueError as exc:  # a secrets file that is missing or open to other users
        print(f"inbound service not started: {exc}", file=sys.stderr)
        return 2
    try:
        # Here, not at the first forward: with COMPLAINTS_REQUIRE_ENCRYPTION and no keys it must
        # not start (and store replies unsealed), rather than retry "Temporal unavailable" for ever.
        data_converter(CodecSettings())
    except EncryptionRequiredError as exc:
        print(f"inbound service not started: {exc}", file=sys.stderr)
        return 2
    configure_logging(pipeline.log_format)
    try:
        asyncio.run(serve(settings, pipeline))
    except OSError as exc:  # the port is taken, or the address is not this host's
        print(f"inbound service not started: {settings.inbound_host}:{settings.inbound_port}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
