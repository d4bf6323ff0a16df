"""Scenario inbound_flood: a burst of signed SendGrid events through the inbound service, vs bare signals.

Pipeline: N delivery events in ONE signed Event Webhook post (ECDSA key pair made here) to the real
aiohttp app on loopback: verified, persisted in the inbound queue (SQLite), answered, then forwarded
by the forwarder as `delivery_event` signals to C cases, in its bounded batches. Measured from the
post until every row is marked signalled: events/s applied to their cases' histories.
Baseline: the same N signals sent straight to the same cases with `handle.signal`, the same
concurrency (32, the forwarder's), on the same server: bare signals/s.
The cases are started with no worker polling: this measures delivery into history, not what the
workflow then does with an event (that is the lifecycle scenario's business).
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from temporalio.client import Client

from activities.archive import CaseArchive
from bench.infra import task_queue
from bench.options import Options
from bench.report import ratio
from codec.at_rest import AtRest
from codec.keyring import CodecSettings
from domain.models import DeliveryEvent, DeliveryStatus, Vendor
from inbound.app import Verifiers, build_app
from inbound.forwarder import DELIVERY_EVENT_SIGNAL, Forwarder
from inbound.queue import SIGNALLED, InboundQueue
from inbound.signatures import SENDGRID_SIGNATURE, SENDGRID_TIMESTAMP, SendGridEventVerifier

CASES = 10
CONCURRENCY = 32


def _signed(body: bytes, key: ec.EllipticCurvePrivateKey) -> dict[str, str]:
    stamp = str(int(time.time()))
    signature = key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        SENDGRID_SIGNATURE: base64.b64encode(signature).decode(),
        SENDGRID_TIMESTAMP: stamp,
        "Content-Type": "application/json",
    }


async def _open_cases(client: Client, prefix: str) -> list[str]:
    queue = task_queue("flood-nobody")
    ids = [f"{prefix}-{uuid.uuid4().hex[:10]}" for _ in range(CASES)]
    for workflow_id in ids:
        await client.start_workflow("BaselineCase", {}, id=workflow_id, task_queue=queue)
    return ids


async def _bare_signals(client: Client, count: int) -> float:
    cases = await _open_cases(client, "flood-bare")
    event = DeliveryEvent(
        event_id="bare",
        message_key="bare/001-acknowledgement-email",
        vendor=Vendor.SENDGRID,
        status=DeliveryStatus.DELIVERED,
        vendor_at=datetime.now(UTC),
    )
    numbers = iter(range(count))

    async def lane() -> None:
        for n in numbers:
            await client.get_workflow_handle(cases[n % CASES]).signal(DELIVERY_EVENT_SIGNAL, event)

    began = time.perf_counter()
    await asyncio.gather(*(lane() for _ in range(CONCURRENCY)))
    return count / (time.perf_counter() - began)


async def _through_inbound(client: Client, count: int, folder: Path, limit_s: float) -> dict[str, float]:
    folder.mkdir(parents=True, exist_ok=True)
    cases = await _open_cases(client, "flood-inbound")
    key = ec.generate_private_key(ec.SECP256R1())
    public = base64.b64encode(
        key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    ).decode()
    at_rest = AtRest(CodecSettings().keyring())
    queue = InboundQueue(folder / f"inbound-{uuid.uuid4().hex[:6]}.sqlite3", at_rest)

    async def connect() -> Client:
        return client

    forwarder = Forwarder(
        queue,
        connect,
        archive=CaseArchive(folder / "archive.sqlite3"),
        sealed=at_rest.seal,
        contact_key_secret=None,
        notice_queue=None,  # delivery events only: no reply goes unmatched
        concurrency=CONCURRENCY,
    )
    now = int(time.time())
    events = [
        {
            "event": "delivered",
            "sg_event_id": f"flood-{uuid.uuid4().hex}",
            "timestamp": now,
            "email": "customer@example.com",
            "case_reference": cases[n % CASES],
            "message_key": f"{cases[n % CASES]}/{n:03d}-progress_update-email",
        }
        for n in range(count)
    ]
    body = json.dumps(events).encode()
    app = build_app(queue, Verifiers(SendGridEventVerifier(public, 300), None, None), forwarder)
    async with TestClient(TestServer(app)) as http:
        began = time.perf_counter()
        response = await http.post("/webhooks/sendgrid/events", data=body, headers=_signed(body, key))
        accepted = (await response.json())["new"]
        persisted_s = time.perf_counter() - began
        while (await asyncio.to_thread(queue.counts)).get(SIGNALLED, 0) < count:
            if time.perf_counter() - began > limit_s:
                raise TimeoutError(f"inbound_flood: not every event was forwarded within {limit_s:g} s")
            await asyncio.sleep(0.05)
        applied_s = time.perf_counter() - began
    if accepted != count:
        raise RuntimeError(f"inbound_flood: {accepted} of {count} events persisted")
    return {"persisted_per_s": count / persisted_s, "applied_per_s": count / applied_s}


async def run(client: Client, options: Options) -> dict[str, object]:
    count = 100 if options.quick else 1000
    inbound = await _through_inbound(client, count, options.workdir / "inbound_flood", options.wait_limit_s)
    bare = await _bare_signals(client, count)
    return {
        "events": count,
        "events_applied_per_s": inbound["applied_per_s"],
        "events_persisted_per_s": inbound["persisted_per_s"],
        "bare_signals_per_s": bare,
        "ratio": ratio(inbound["applied_per_s"], bare),
    }
