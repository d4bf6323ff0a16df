"""`python -m bench.message_cpu_cuts`: each cut of issue #15's worker CPU per message, old way against
new, in one process, alternating.

    python -m bench.message_cpu_cuts --json-out bench/results/2026-11-30-message-cpu-cuts.json

On a machine other people load, CPU time per message drifts by a third between runs minutes apart
(`bench.message_cpu`), which hides a cut of a tenth. Here the old and the new way of one step run in
alternating blocks in the same process and minute, so drift hits both alike: the figure is the
saving per message of each cut (min and median over the blocks), on the same message mix.

- `render`: every form for every message (before) / the forms the channel sends (`FORMS_BY_CHANNEL`);
- `ledger_record`: insert then read back and parse the receipt (before, `Store.insert_or_get`) /
  insert only (`SentLog.record` over `Store.insert_if_absent`); the same commit either way;
- `twilio_logging`: a text through the Twilio channel at the rate-limited peer with Twilio's HTTP
  client logging at INFO into the worker's JSON log (before) / at WARNING;
- `thread_hand_offs`: the whole `send_message` (vendor channels at the peer, the SQLite ledger), with
  three hand-offs to a worker thread (before: look-up, send, record; rendering on the event loop) /
  two (look-up with rendering, send with record);
- `sendgrid_transport` (per email): the mail posted by SendGrid's library (`client.mail.send.post`: a
  new urllib opener, proxy scan and connection per email) / by the channel's kept-alive pool
  (`channels.sendgrid_transport`); `sendgrid_transport_tls` the same over HTTPS (`bench.loopback_tls`);
- `ledger_statements`: the ledger's look-up and record with their SQL statements built per call
  (`insert(table).values(**row)`, a `select ... where` per key) / built once per store with values
  bound per call (`ops.stores.Store`); the same SQL, transaction and commit;
- `twilio_environment` (per text): Twilio's requests session reading the environment's proxy and
  CA-bundle settings on every request / pinned when the channel was built (`channels.proxy_settings`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import insert, select
from temporalio import activity
from temporalio.testing import ActivityEnvironment
from twilio.http.http_client import TwilioHttpClient

from activities.messaging import MessagingActivities
from bench.loopback_tls import loopback_certificate, system_bundle_with, trusting
from bench.message_cpu import message_mix, rate_limited_peer, vendor_channels
from bench.report import build, machine
from channels.rendering import FORMS_BY_CHANNEL, render
from channels.sendgrid_email import SendGridEmailChannel
from channels.sent_log import SentLog
from channels.twilio_sms import TwilioSmsChannel
from domain.models import ChannelKind, DeliveryReceipt, SendRequest
from ops import stores
from ops.logs import configure_logging

app = typer.Typer(add_completion=False, help=__doc__, pretty_exceptions_show_locals=False)

Step = Callable[[SendRequest], object]


def alternate(before: Step, after: Step, requests: list[SendRequest], blocks: int) -> dict[str, object]:
    """CPU ms per message of each way, over `blocks` alternating blocks of the whole mix."""
    for request in requests:  # warm both
        before(request)
        after(request)
    times: dict[str, list[float]] = {"before": [], "after": []}
    for block in range(blocks):
        order = (("before", before), ("after", after)) if block % 2 == 0 else (("after", after), ("before", before))
        for name, step in order:
            began = time.process_time()
            for request in requests:
                step(request)
            times[name].append(1000 * (time.process_time() - began) / len(requests))
    summary: dict[str, object] = {}
    for name, values in times.items():
        summary[f"{name}_ms_min"] = round(min(values), 3)
        summary[f"{name}_ms_median"] = round(statistics.median(values), 3)
    summary["saving_ms_median"] = round(statistics.median(times["before"]) - statistics.median(times["after"]), 3)
    summary["saving_ms_min"] = round(min(times["before"]) - min(times["after"]), 3)
    return summary


def ledger_steps(folder: Path) -> tuple[Step, Step]:
    log = SentLog.in_data_dir(folder)
    store = stores.open_store(stores.SENT_MESSAGES, log.path)
    counter = iter(range(10**9))

    def receipt(request: SendRequest) -> DeliveryReceipt:
        return DeliveryReceipt(
            key=f"{request.key}:{next(counter)}", channel=request.channel, provider_id="SM1", sent_at=datetime.now(UTC)
        )

    def before(request: SendRequest) -> object:
        stored = receipt(request)
        _, row = store.insert_or_get(
            {
                "key": stored.key,
                "channel": stored.channel.value,
                "provider_id": stored.provider_id,
                "sent_at": stored.sent_at,
                "receipt": stored.model_dump_json(),
            }
        )
        return DeliveryReceipt.model_validate_json(row.receipt)

    def after(request: SendRequest) -> object:
        return log.record(receipt(request))

    return before, after


def ledger_statement_steps(folder: Path) -> tuple[Step, Step]:
    """A new key looked up (absent), then recorded: the ledger's work for every new send."""
    log = SentLog.in_data_dir(folder)
    store = stores.open_store(stores.SENT_MESSAGES, log.path)
    table = store.table
    counter = iter(range(10**9))

    def row(request: SendRequest) -> dict[str, object]:
        receipt = DeliveryReceipt(
            key=f"{request.key}:{next(counter)}", channel=request.channel, provider_id="SM1", sent_at=datetime.now(UTC)
        )
        fields = {"channel": receipt.channel.value, "provider_id": receipt.provider_id, "sent_at": receipt.sent_at}
        return {"key": receipt.key, **fields, "receipt": receipt.model_dump_json()}

    def built_per_call(request: SendRequest) -> object:
        fresh = row(request)
        with store.engine.connect() as conn:
            if conn.execute(select(table).where(table.c.key == fresh["key"])).first() is not None:
                raise RuntimeError("a new key was found in the ledger")
        with store.engine.connect() as conn, conn.begin():
            return conn.execute(insert(table).values(**fresh))

    def built_once(request: SendRequest) -> object:
        fresh = row(request)
        if store.fetch({"key": fresh["key"]}) is not None:
            raise RuntimeError("a new key was found in the ledger")
        return store.insert_if_absent(fresh)

    return built_per_call, built_once


def hand_off_steps(folder: Path, peer: str) -> tuple[Step, Step]:
    """`send_message` as it was (three hand-offs) and as it is (two), on the same channels and ledger."""
    messaging = MessagingActivities(vendor_channels(peer), SentLog.in_data_dir(folder))
    env = ActivityEnvironment()
    loop = asyncio.new_event_loop()
    counter = iter(range(10**9))

    async def three_hand_offs(request: SendRequest) -> DeliveryReceipt:
        # The flow before issue #15's cut, on the activity's own parts (no rate share configured).
        log_extra = {"case_reference": request.context.reference, "message_key": request.key}
        previous = await asyncio.to_thread(messaging._sent_log.get, request.key)
        if previous is not None:
            raise RuntimeError("a new key was found in the ledger")
        channel = messaging._channels[request.channel]
        message = render(request, messaging._provider, FORMS_BY_CHANNEL[request.channel])
        receipt = await asyncio.to_thread(channel.send, request, message)
        recorded = await asyncio.to_thread(messaging._sent_log.record, receipt)
        activity.logger.info("%s sent via %s", request.key, type(channel).__name__, extra=log_extra)
        return recorded

    def fresh(request: SendRequest) -> SendRequest:
        return request.model_copy(update={"key": f"{request.key}:{next(counter)}"})

    def before(request: SendRequest) -> object:
        return loop.run_until_complete(env.run(three_hand_offs, fresh(request)))

    def after(request: SendRequest) -> object:
        return loop.run_until_complete(env.run(messaging.send_message, fresh(request)))

    return before, after


def sendgrid_steps(peer: str, emails: list[SendRequest]) -> tuple[Step, Step]:
    """The same mail, built by the channel, posted through the library or through the transport."""
    channel = vendor_channels(peer)[ChannelKind.EMAIL]
    assert isinstance(channel, SendGridEmailChannel)
    rendered = {r.key: render(r, forms=FORMS_BY_CHANNEL[r.channel]) for r in emails}

    def library(request: SendRequest) -> object:
        body = channel.build_mail(request, rendered[request.key]).get()
        return channel._client.client.mail.send.post(request_body=body, timeout=channel.timeout)

    def transport(request: SendRequest) -> object:
        return channel._transport.post(
            channel.build_mail(request, rendered[request.key]).get(), timeout=channel.timeout
        )

    return library, transport


def twilio_environment_steps(peer: str, texts: list[SendRequest]) -> tuple[Step, Step]:
    """Two Twilio channels at the peer: one whose session reads the environment per request, as
    requests does by default, and one as built (pinned)."""
    per_request = vendor_channels(peer)[ChannelKind.SMS]
    pinned = vendor_channels(peer)[ChannelKind.SMS]
    assert isinstance(per_request, TwilioSmsChannel) and isinstance(per_request.http_client, TwilioHttpClient)
    session = per_request.http_client.session
    assert session is not None
    session.trust_env, session.proxies, session.verify = True, {}, True
    rendered = {r.key: render(r, forms=FORMS_BY_CHANNEL[r.channel]) for r in texts}
    return (lambda r: per_request.send(r, rendered[r.key])), (lambda r: pinned.send(r, rendered[r.key]))


@app.command()
def main(
    blocks: Annotated[int, typer.Option(min=2, help="Alternating blocks per way.")] = 20,
    json_out: Annotated[Path | None, typer.Option(help="Also write the figures as JSON (bench/results/).")] = None,
) -> None:
    configure_logging("json")  # as the worker: JSON lines at INFO, here to /dev/null
    sink = open(os.devnull, "w")  # noqa: SIM115 - the process's lifetime
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(sink)
    requests = message_mix(0)
    cuts: dict[str, dict[str, object]] = {}
    cuts["render"] = alternate(
        lambda r: render(r), lambda r: render(r, forms=FORMS_BY_CHANNEL[r.channel]), requests, blocks
    )
    with tempfile.TemporaryDirectory(prefix="complaints-cpu-cuts-") as folder:
        cuts["ledger_record"] = alternate(*ledger_steps(Path(folder)), requests, blocks)
    with tempfile.TemporaryDirectory(prefix="complaints-cpu-cuts-") as folder:
        cuts["ledger_statements"] = alternate(*ledger_statement_steps(Path(folder)), requests, blocks)
    texts = [r for r in requests if r.channel is ChannelKind.SMS]
    twilio_log = logging.getLogger("twilio.http_client")
    with rate_limited_peer() as peer:
        sms = vendor_channels(peer)[ChannelKind.SMS]
        rendered = {r.key: render(r, forms=FORMS_BY_CHANNEL[r.channel]) for r in texts}

        def send_at(level: int) -> Step:
            def step(request: SendRequest) -> object:
                twilio_log.setLevel(level)
                return sms.send(request, rendered[request.key])

            return step

        # Per text (a message in the mix is a text half the time).
        cuts["twilio_logging"] = alternate(send_at(logging.INFO), send_at(logging.WARNING), texts, blocks)
        twilio_log.setLevel(logging.WARNING)
        with tempfile.TemporaryDirectory(prefix="complaints-cpu-cuts-") as folder:
            cuts["thread_hand_offs"] = alternate(*hand_off_steps(Path(folder), peer), requests, blocks)
        emails = [r for r in requests if r.channel is ChannelKind.EMAIL]
        cuts["sendgrid_transport"] = alternate(*sendgrid_steps(peer, emails), emails, blocks)
        cuts["twilio_environment"] = alternate(*twilio_environment_steps(peer, texts), texts, blocks)
    with tempfile.TemporaryDirectory(prefix="complaints-cpu-cuts-") as scratch:
        tls = loopback_certificate(Path(scratch))
        with rate_limited_peer(tls) as peer, trusting(system_bundle_with(tls[0], Path(scratch))):
            cuts["sendgrid_transport_tls"] = alternate(*sendgrid_steps(peer, emails), emails, blocks)
    for name, figures in cuts.items():
        print(f"{name}: {json.dumps(figures)}")
    if json_out:
        document = {"bench": "message_cpu_cuts", "blocks": blocks, "cuts": cuts}
        document |= {"machine": machine() | {"loadavg_at_end": list(os.getloadavg())}, "build": build()}
        json_out.write_text(json.dumps(document, indent=1) + "\n")


if __name__ == "__main__":
    app()
