"""The forwarder against the real dev server: each persisted item reaches its case once, replies
that no open case claims land in the unmatched list, late items go beside the archived record, and
nothing accepted while Temporal is down is lost.

The cases here are workflows that no worker runs: the server records each signal in the case's
history all the same, which is exactly what the forwarder promises (what the case then does with
it is the workflow's tests' business).
"""

from __future__ import annotations

import asyncio
import time
import tracemalloc
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from activities.archive import CaseArchive
from codec.at_rest import AtRest
from codec.converter import data_converter
from codec.keyring import CodecSettings
from domain import search_attributes as sa
from domain.models import AlertRequest, ChannelKind, CustomerReply, DeliveryEvent, DeliveryStatus, Vendor
from domain.reference import new_reference
from domain.reply_notices import flood_workflow_id, notice_workflow_id
from inbound.app import build_app
from inbound.forwarder import Forwarder
from inbound.queue import ARCHIVED, SIGNALLED, UNMATCHED, InboundQueue
from ops.contact_keys import phone_key
from ops.dev_server import DevServer, start_dev_server
from tests.inbound.signing import events_body, sendgrid_event

SECRET = "contact-key-secret-for-tests"
# No worker polls it here: a notice started on it stays running, its input there to read.
NOTICE_QUEUE = "complaints-notices-nobody-runs"


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    folder = tmp_path_factory.mktemp("temporal")
    server = start_dev_server(db_file=folder / "temporal.sqlite", log_file=folder / "server.log")
    yield server
    server.stop()


async def connect_to(server: DevServer) -> Client:
    return await Client.connect(server.address, data_converter=data_converter(CodecSettings()))


@pytest.fixture
async def temporal(dev_server: DevServer) -> AsyncIterator[Client]:
    yield await connect_to(dev_server)


@pytest.fixture
def archive(tmp_path: Path) -> CaseArchive:
    return CaseArchive(tmp_path / "archive.sqlite3")


def forwarder_for(queue: InboundQueue, server: DevServer, archive: CaseArchive, at_rest: AtRest, **kw) -> Forwarder:
    return Forwarder(
        queue,
        lambda: connect_to(server),
        archive=archive,
        sealed=at_rest.seal,
        contact_key_secret=SECRET,
        notice_queue=NOTICE_QUEUE,
        retry_first=0.2,
        retry_max=1.0,
        **kw,
    )


async def open_case(client: Client, *, contact_keys: list[str] | None = None) -> str:
    """A running case nobody works on: its history records every signal it is sent."""
    reference = new_reference(2026)
    pairs: list[SearchAttributePair[Any]] = [SearchAttributePair(sa.CASE_REFERENCE, reference)]
    if contact_keys:
        pairs.append(SearchAttributePair(sa.CUSTOMER_CONTACT_KEYS, contact_keys))
    await client.start_workflow(
        "ComplaintCase",
        {"reference": reference},
        id=reference,
        task_queue=f"nobody-{uuid.uuid4().hex[:8]}",
        search_attributes=TypedSearchAttributes(pairs),
    )
    return reference


async def signals(client: Client, reference: str) -> list[tuple[str, dict]]:
    history = await client.get_workflow_handle(reference).fetch_history()
    found = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            attrs = event.workflow_execution_signaled_event_attributes
            [arg] = await client.data_converter.decode(attrs.input.payloads, [dict])
            found.append((attrs.signal_name, arg))
    return found


async def eventually(check, timeout: float = 60):  # noqa: ANN001, ANN201
    deadline = time.monotonic() + timeout
    while not (result := await check()):
        assert time.monotonic() < deadline, f"not true within {timeout}s: last saw {result!r}"
        await asyncio.sleep(0.2)
    return result


def bounce(reference: str, event_id: str) -> DeliveryEvent:
    return DeliveryEvent(
        event_id=event_id,
        message_key=f"{reference}/001-acknowledgement-email",
        vendor=Vendor.SENDGRID,
        status=DeliveryStatus.BOUNCED,
        vendor_at=datetime.now(UTC),
        reason="550 mailbox unknown",
        signature_verified=True,
    )


def sms_reply(reply_id: str, sender: str = "+447700900123", text: str = "YES") -> CustomerReply:
    return CustomerReply(
        reply_id=reply_id,
        channel=ChannelKind.SMS,
        received_at=datetime.now(UTC),
        sender=sender,
        text=text,
        signature_verified=True,
    )


async def test_a_delivery_event_reaches_its_case_once(temporal, dev_server, queue, archive, at_rest) -> None:
    reference = await open_case(temporal)
    event = bounce(reference, "ev-once")
    queue.accept([("sendgrid:ev-once", event, reference)])
    forwarder = forwarder_for(queue, dev_server, archive, at_rest)
    assert await forwarder.forward_due() == 1
    queue.accept([("sendgrid:ev-once", event, reference)])  # the vendor delivers it again
    assert await forwarder.forward_due() == 0
    assert queue.state_of("sendgrid:ev-once") == SIGNALLED
    [(name, arg)] = await signals(temporal, reference)
    assert name == "delivery_event"
    assert DeliveryEvent.model_validate(arg) == event


async def test_an_sms_reply_is_matched_to_the_one_open_case_with_the_senders_number(
    temporal, dev_server, queue, archive, at_rest
) -> None:
    number = f"+4477009{uuid.uuid4().int % 100000:05d}"
    reference = await open_case(temporal, contact_keys=[phone_key(SECRET, number)])
    await eventually(lambda: _visible(temporal, f"{sa.CUSTOMER_CONTACT_KEYS.name} = '{phone_key(SECRET, number)}'", 1))
    queue.accept([("twilio-sms:SM-match", sms_reply("SM-match", number), None)])
    assert await forwarder_for(queue, dev_server, archive, at_rest).forward_due() == 1
    assert queue.state_of("twilio-sms:SM-match") == SIGNALLED
    [(name, arg)] = await signals(temporal, reference)
    assert name == "customer_reply" and CustomerReply.model_validate(arg).text == "YES"
    assert queue.unmatched() == []


async def test_replies_no_single_open_case_claims_land_in_the_unmatched_list(
    temporal, dev_server, queue, archive, at_rest
) -> None:
    shared = f"+4477009{uuid.uuid4().int % 100000:05d}"
    key = phone_key(SECRET, shared)
    first, second = await open_case(temporal, contact_keys=[key]), await open_case(temporal, contact_keys=[key])
    await eventually(lambda: _visible(temporal, f"{sa.CUSTOMER_CONTACT_KEYS.name} = '{key}'", 2))
    queue.accept(
        [
            ("twilio-sms:SM-nobody", sms_reply("SM-nobody", "+447700900999", "who is this?"), None),
            ("twilio-sms:SM-two", sms_reply("SM-two", shared, "YES"), None),
        ]
    )
    assert await forwarder_for(queue, dev_server, archive, at_rest).forward_due() == 2
    listed = {u.reply.reply_id: u for u in queue.unmatched()}
    assert set(listed) == {"SM-nobody", "SM-two"}
    assert listed["SM-nobody"].reply.text == "who is this?"
    assert "no open case" in listed["SM-nobody"].reason
    assert first in listed["SM-two"].reason and second in listed["SM-two"].reason
    assert queue.state_of("twilio-sms:SM-two") == UNMATCHED
    assert await signals(temporal, first) == [] and await signals(temporal, second) == []
    # Each is put in front of the Customer Service Managers: the list alone is read only when someone thinks to.
    for item_id in ("twilio-sms:SM-nobody", "twilio-sms:SM-two"):
        notice = await notice_of(temporal, item_id)
        assert notice.subject == "A customer's reply matched no open case" and notice.reference == "unmatched"
    assert "who is this?" in (await notice_of(temporal, "twilio-sms:SM-nobody")).detail


async def test_a_reply_to_a_closed_case_is_kept_with_its_record_and_the_managers_are_told_once(
    temporal, dev_server, queue, archive, at_rest, tmp_path
) -> None:
    reference = await closed_case(temporal, archive)
    reply = sms_reply("SM-after", text="It is broken again").model_copy(update={"channel": ChannelKind.EMAIL})
    queue.accept([("email:<after@mail.example.com>", reply, reference)])
    assert await forwarder_for(queue, dev_server, archive, at_rest).forward_due() == 1

    assert_kept_with_the_closed_case(queue, archive, "email:<after@mail.example.com>", reference)
    notice = await notice_of(temporal, "email:<after@mail.example.com>")
    assert notice.subject == f"{reference}: a reply after the case closed"
    assert "It is broken again" in notice.detail and f"not-satisfied {reference}" in notice.detail
    handle = temporal.get_workflow_handle(notice_workflow_id("email:<after@mail.example.com>"))
    described = await handle.describe()
    assert described.task_queue == NOTICE_QUEUE
    assert described.typed_search_attributes.get(sa.CASE_REFERENCE) == reference  # found beside the case

    # Forwarded again (a crash before the row was marked, here a second queue holding it): no second notice.
    again = InboundQueue(tmp_path / "again.sqlite3", at_rest)
    again.accept([("email:<after@mail.example.com>", reply, reference)])
    assert await forwarder_for(again, dev_server, archive, at_rest).forward_due() == 1
    assert again.state_of("email:<after@mail.example.com>") == UNMATCHED
    runs = [wf async for wf in temporal.list_workflows(f"WorkflowId = '{handle.id}'")]
    assert len(runs) == 1


async def test_a_text_from_the_customer_of_a_closed_case_is_kept_with_that_case_and_the_notice_names_it(
    temporal, dev_server, queue, archive, at_rest
) -> None:
    number = f"+4477009{uuid.uuid4().int % 100000:05d}"
    key = phone_key(SECRET, number)
    reference = await closed_case(temporal, archive, contact_keys=[key])
    await eventually(lambda: _visible(temporal, f"{sa.CUSTOMER_CONTACT_KEYS.name} = '{key}'", 1))
    queue.accept([("twilio-sms:SM-again", sms_reply("SM-again", number, "It's gone off again"), None)])
    assert await forwarder_for(queue, dev_server, archive, at_rest).forward_due() == 1

    assert_kept_with_the_closed_case(queue, archive, "twilio-sms:SM-again", reference)
    notice = await notice_of(temporal, "twilio-sms:SM-again")
    assert notice.subject == f"{reference}: a reply after the case closed"
    assert "--how sms-reply" in notice.detail


async def test_a_text_matching_several_closed_cases_names_them_for_the_managers(
    temporal, dev_server, queue, archive, at_rest
) -> None:
    number = f"+4477009{uuid.uuid4().int % 100000:05d}"
    key = phone_key(SECRET, number)
    first = await closed_case(temporal, archive, contact_keys=[key])
    second = await closed_case(temporal, archive, contact_keys=[key])
    await eventually(lambda: _visible(temporal, f"{sa.CUSTOMER_CONTACT_KEYS.name} = '{key}'", 2))
    queue.accept([("twilio-sms:SM-which", sms_reply("SM-which", number, "Still broken"), None)])
    assert await forwarder_for(queue, dev_server, archive, at_rest).forward_due() == 1

    assert archive.addenda(first) == [] and archive.addenda(second) == []  # which one is a person's call
    notice = await notice_of(temporal, "twilio-sms:SM-which")
    assert notice.subject == "A customer's reply matched no open case"
    assert first in notice.detail and second in notice.detail


async def test_past_the_hours_cap_the_managers_get_one_notice_for_the_rest_not_one_each(
    temporal, dev_server, queue, archive, at_rest
) -> None:
    # A flood (spam texts, mail quoting old references) must not fill the managers' inboxes, nor
    # queue ahead of the breach alerts on the staff queue.
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=uuid.uuid4().int % 10000)
    replies = [
        sms_reply(f"SM-flood-{n}", f"+4477009{uuid.uuid4().int % 100000:05d}", "WIN A PRIZE").model_copy(
            update={"received_at": hour + timedelta(minutes=n)}
        )
        for n in range(4)
    ]
    queue.accept([(f"twilio-sms:{r.reply_id}", r, None) for r in replies])
    forwarder = forwarder_for(queue, dev_server, archive, at_rest, notices_per_hour=2, concurrency=1)
    assert await forwarder.forward_due() == 4

    assert len(queue.unmatched()) >= 4  # every one is still listed
    notified = []
    for reply in replies:
        try:
            await notice_of(temporal, f"twilio-sms:{reply.reply_id}")
            notified.append(reply.reply_id)
        except RPCError as exc:
            assert exc.status is RPCStatusCode.NOT_FOUND
    assert len(notified) == 2
    flood = temporal.get_workflow_handle(flood_workflow_id(hour))
    history = await flood.fetch_history()
    [notice] = await temporal.data_converter.decode(
        history.events[0].workflow_execution_started_event_attributes.input.payloads, [AlertRequest]
    )
    assert notice.subject.startswith("More than 2 customer replies reached no open case in the hour from")


async def test_a_reply_an_open_case_takes_raises_no_notice(temporal, dev_server, queue, archive, at_rest) -> None:
    reference = await open_case(temporal)
    queue.accept([("email:<open@mail.example.com>", sms_reply("SM-open"), reference)])
    assert await forwarder_for(queue, dev_server, archive, at_rest).forward_due() == 1
    assert queue.state_of("email:<open@mail.example.com>") == SIGNALLED
    with pytest.raises(RPCError) as raised:
        await temporal.get_workflow_handle(notice_workflow_id("email:<open@mail.example.com>")).describe()
    assert raised.value.status is RPCStatusCode.NOT_FOUND


async def closed_case(client: Client, archive: CaseArchive, *, contact_keys: list[str] | None = None) -> str:
    """A case that has ended, with the record it archived as it closed."""
    reference = await open_case(client, contact_keys=contact_keys)
    await client.get_workflow_handle(reference).terminate(reason="closed for the test")
    archive._store.insert_if_absent(  # the record as the case wrote it when it closed
        {
            "reference": reference,
            "recorded_at": datetime.now(UTC),
            "expires_at": datetime.now(UTC) + timedelta(days=730),
            "record": '{"intake": {}}',
            "purged_at": None,
        }
    )
    return reference


def assert_kept_with_the_closed_case(queue: InboundQueue, archive: CaseArchive, item_id: str, reference: str) -> None:
    """On the unmatched list, and the only item beside the closed case's archived record."""
    assert queue.state_of(item_id) == UNMATCHED
    [(kind, _, _)] = archive.addenda(reference)
    assert kind == "customer_reply"


async def notice_of(client: Client, item_id: str) -> AlertRequest:
    """The notice the forwarder started for an inbound item, as its workflow's input."""
    history = await client.get_workflow_handle(notice_workflow_id(item_id)).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    assert started.workflow_type.name == "CustomerReplyNotice"
    [notice] = await client.data_converter.decode(started.input.payloads, [AlertRequest])
    return notice


async def test_an_event_for_a_closed_case_is_appended_beside_its_archived_record(
    temporal, dev_server, queue, archive, at_rest
) -> None:
    reference = await closed_case(temporal, archive)
    queue.accept([("sendgrid:ev-late", bounce(reference, "ev-late"), reference)])
    assert await forwarder_for(queue, dev_server, archive, at_rest).forward_due() == 1
    assert queue.state_of("sendgrid:ev-late") == ARCHIVED
    [(kind, _, body)] = archive.addenda(reference)
    assert kind == "delivery_event"
    assert DeliveryEvent.model_validate_json(at_rest.open(body)).event_id == "ev-late"
    assert archive._store.fetch({"reference": reference}).record == '{"intake": {}}'  # the record untouched


async def test_a_burst_of_a_thousand_events_is_all_persisted_and_forwarded_in_bounded_batches(
    temporal, dev_server, queue, archive, at_rest, signer, verifiers
) -> None:
    references = [await open_case(temporal) for _ in range(10)]
    events = [
        sendgrid_event(f"flood-{n}", f"{references[n % 10]}/{n:03d}-progress_update-email", "delivered")
        for n in range(1000)
    ]
    body = events_body(*events)
    async with TestClient(TestServer(build_app(queue, verifiers))) as client:
        response = await client.post("/webhooks/sendgrid/events", data=body, headers=signer.headers(body))
        assert (await response.json())["new"] == 1000
    forwarder = forwarder_for(queue, dev_server, archive, at_rest, batch_size=100)
    seen_batches: list[int] = []
    due = queue.due

    def due_recorded(limit: int, now=None):  # noqa: ANN001, ANN202
        batch = due(limit, now)
        seen_batches.append(len(batch))
        return batch

    queue.due = due_recorded
    tracemalloc.start()
    try:
        while await forwarder.forward_due():
            pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert queue.counts() == {SIGNALLED: 1000}
    # Never more than one batch in memory, however many are queued.
    assert max(seen_batches) == 100 and sum(seen_batches) == 1000
    assert peak < 64 * 1024 * 1024
    total = 0
    for reference in references:
        received = await signals(temporal, reference)
        assert len(received) == 100 and {name for name, _ in received} == {"delivery_event"}
        total += len(received)
    assert total == 1000


async def test_events_accepted_while_temporal_is_down_reach_their_case_after_it_is_back(
    tmp_path: Path, queue, archive, at_rest
) -> None:
    folder = tmp_path / "temporal"
    server = start_dev_server(db_file=folder / "temporal.sqlite", log_file=folder / "server.log")
    try:
        client = await connect_to(server)
        reference = await open_case(client)
        server.stop()
        # The vendor's post is accepted while the server is down: it is in the queue.
        queue.accept([("sendgrid:ev-outage", bounce(reference, "ev-outage"), reference)])
        forwarder = forwarder_for(queue, server, archive, at_rest)
        task = asyncio.create_task(forwarder.run())
        try:
            await asyncio.sleep(2)  # the forwarder tries, fails, backs off: nothing is settled
            assert queue.state_of("sendgrid:ev-outage") == "pending"
            server = start_dev_server(
                port=server.port, db_file=folder / "temporal.sqlite", log_file=folder / "server.log"
            )
            await eventually(lambda: _settled(queue, "sendgrid:ev-outage"), timeout=120)
        finally:
            task.cancel()
        client = await connect_to(server)
        [(name, arg)] = await signals(client, reference)
        assert name == "delivery_event" and arg["event_id"] == "ev-outage"
    finally:
        server.stop()


async def _settled(queue: InboundQueue, item_id: str) -> bool:
    return queue.state_of(item_id) == SIGNALLED


async def _visible(client: Client, query: str, count: int) -> bool:
    return len([wf async for wf in client.list_workflows(query)]) == count
