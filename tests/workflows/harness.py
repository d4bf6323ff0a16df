"""A complaint case under test: a worker on its own task queue, with sends recorded.

Sends go to `RecordingMessaging`, an activity registered under the real name `send_message`, so a
test can make a channel refuse or fail for a while and then count what the customer received.
Every other activity is the real one, and every message is rendered with the real templates.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

from temporalio import activity
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.alerts import AlertActivities
from activities.archive import CaseArchive
from activities.billing import BillingActivities
from activities.case_setup import CaseAssignmentActivities, compute_case_deadlines
from activities.messaging import quiet_hours_refusal
from channels.rendering import render
from domain.models import (
    CaseInput,
    CaseReceipt,
    CaseState,
    CaseSummary,
    ChannelKind,
    ComplaintIntake,
    ComplaintPolicy,
    CreditReceipt,
    DeliveryReceipt,
    InvoiceCredit,
    MessageKind,
    SendRequest,
)
from domain.reference import new_reference
from domain.vendor_queues import staff_queue, vendor_queues
from settings import load_policy, load_roster
from starter import final_state
from tests.workflows.case_handle import CaseHandle
from workflows.complaint_case import ComplaintCase
from workflows.sandbox import workflow_runner


@dataclass
class RecordingMessaging:
    """The customer's inbox, phone and letterbox, as seen by the test.

    Texts keep the quiet hours as the real `send_message` does (`quiet_hours_refusal`), on the test
    server's clock (`running_case` sets `clock`): a text refused at night waits on the server."""

    rejected: set[ChannelKind] = field(default_factory=set)
    # channel -> how many attempts of each message fail before it goes through
    failing_attempts: dict[ChannelKind, int] = field(default_factory=dict)
    # channel -> the provider is down (every attempt fails) until this moment
    down_until: dict[ChannelKind, datetime] = field(default_factory=dict)
    delivered: dict[str, SendRequest] = field(default_factory=dict)
    deliveries: Counter[str] = field(default_factory=Counter)
    # The server's clock; every text refused for the quiet hours, and when
    clock: Callable[[], Awaitable[datetime]] | None = None
    held: list[tuple[str, datetime]] = field(default_factory=list)

    @activity.defn(name="send_message")
    async def send_message(self, request: SendRequest) -> DeliveryReceipt | CaseReceipt:
        # The real templates render every message, so a context the workflow builds wrong fails here.
        render(request)
        if request.text_hours is not None and self.clock is not None:
            now = await self.clock()
            held = quiet_hours_refusal(request.text_hours, now)
            if held is not None:
                self.held.append((request.key, now))
                raise held
        if request.channel in self.rejected:
            raise ApplicationError(
                f"{request.channel.value} recipient rejected", type="PermanentDeliveryError", non_retryable=True
            )
        down = self.down_until.get(request.channel)
        if down is not None and activity.info().current_attempt_scheduled_time < down:
            raise ApplicationError(f"{request.channel.value} provider down", type="TransientDeliveryError")
        if activity.info().attempt <= self.failing_attempts.get(request.channel, 0):
            raise ApplicationError(f"{request.channel.value} provider unavailable", type="TransientDeliveryError")
        self.deliveries[request.key] += 1
        self.delivered[request.key] = request
        receipt = DeliveryReceipt(
            key=request.key,
            channel=request.channel,
            provider_id=f"fake-{len(self.delivered)}",
            sent_at=datetime.now(UTC),
        )
        return receipt.for_case() if request.case_receipt else receipt  # as the real activity answers

    def received(self, kind: MessageKind, channel: ChannelKind | None = None) -> list[SendRequest]:
        return [r for r in self.delivered.values() if r.kind is kind and (channel is None or r.channel is channel)]


@dataclass
class FlakyBilling:
    """The billing system, down until a moment of the test server's clock, then the real ledger."""

    ledger: BillingActivities
    down_until: datetime | None = None
    attempts: int = 0

    @activity.defn(name="credit_invoice")
    async def credit_invoice(self, credit: InvoiceCredit) -> CreditReceipt:
        self.attempts += 1
        if self.down_until is not None and activity.info().current_attempt_scheduled_time < self.down_until:
            raise ApplicationError("billing system unavailable", type="BillingUnavailable")
        return await self.ledger.credit_invoice(credit)


@asynccontextmanager
async def server_at(moment: datetime) -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping server of the test's own, its clock moved to `moment` (which must be later
    than now): a scenario runs on the dates it names, whatever day the suite runs."""
    from temporalio.contrib.pydantic import pydantic_data_converter

    from tests.conftest import register_search_attributes, venv_binary

    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=venv_binary("temporal-test-server"),
        data_converter=pydantic_data_converter,
    )
    try:
        await register_search_attributes(env)
        now = await env.get_current_time()
        if moment <= now:
            raise ValueError(f"{moment.isoformat()} is not after the server's clock {now.isoformat()}")
        await env.sleep(moment - now)
        yield env
    finally:
        await env.shutdown()


@dataclass
class Case:
    env: WorkflowEnvironment
    handle: CaseHandle
    outbox: RecordingMessaging
    data_dir: Path

    async def state(self) -> CaseState:
        return await self.handle.query(ComplaintCase.case_state)

    async def wait(self, duration: timedelta) -> CaseState:
        await self.env.sleep(duration)
        return await self.state()

    async def closed(self) -> tuple[CaseSummary, CaseState]:
        """The case's result and its final state; since v4 the state is the archive record the
        case wrote as it closed (the result no longer carries it)."""
        summary: CaseSummary = await self.handle.result()
        archive = CaseArchive(self.data_dir / "archive.sqlite3")
        return summary, await final_state(self.env.client, summary, archive=archive)


def intake_at(received_at: datetime, **customer: object) -> ComplaintIntake:
    person = {
        "name": "Gwen Pritchard",
        "email": "gwen.pritchard@example.com",
        "phone": "07911 123456",
        "address": {"lines": ["14 Bethcar Street", "Ebbw Vale"], "postcode": "NP23 6HH"},
        "preferred_written_channel": "email",
    } | customer
    return ComplaintIntake.from_intake(
        {
            "customer": person,
            "account_number": "ISS-204871",
            "source": "web",
            "received_at": received_at,
            "complaint": "Broadband drops every afternoon; two engineer visits missed.",
        },
        now=received_at,
    )


RECORD_HISTORIES = "COMPLAINTS_RECORD_HISTORIES"
HISTORIES = Path(__file__).parent.parent / "histories"


async def record_history(handle: WorkflowHandle) -> None:
    """Keep this scenario's history for the replay test (make histories)."""
    test = os.environ["PYTEST_CURRENT_TEST"].split("::")[-1].split(" ")[0]
    folder = HISTORIES / os.environ[RECORD_HISTORIES]
    folder.mkdir(parents=True, exist_ok=True)
    history = await handle.fetch_history()
    (folder / f"{test.removeprefix('test_')}.json").write_text(history.to_json())


@asynccontextmanager
async def running_case(
    env: WorkflowEnvironment,
    tmp_path: Path,
    *,
    outbox: RecordingMessaging | None = None,
    policy: ComplaintPolicy | None = None,
    received_ago: timedelta = timedelta(0),
    roster: Path | None = None,
    max_cached_workflows: int = 1000,
    billing: FlakyBilling | None = None,
    before_worker: Callable[[CaseHandle], Awaitable[None]] | None = None,
    record: bool = True,
    alerts: AlertActivities | None = None,
    memo: dict[str, object] | None = None,
    **customer: object,
) -> AsyncIterator[Case]:
    """`before_worker` runs once the case is started and before any worker has seen it: signals and
    updates it sends arrive together with the start, in the case's first workflow task."""
    outbox = outbox or RecordingMessaging()
    outbox.clock = outbox.clock or env.get_current_time
    alerts = alerts or staff_alerts(tmp_path, roster)
    billing = billing or FlakyBilling(BillingActivities(tmp_path / "billing.sqlite3"))
    task_queue = f"complaints-{uuid.uuid4()}"
    now = await env.get_current_time()
    # Whole minutes: a server moved to 10:00 reads 10:00:00.004 a moment later (10:00:01 and more on
    # a loaded CI machine: the test server's clock runs in real time between skips), and a scenario
    # pinned to 10:00 means a complaint received at 10:00.
    intake = intake_at((now - received_ago).replace(second=0, microsecond=0), **customer)
    reference = new_reference(now.year)
    started = await env.client.start_workflow(
        ComplaintCase.run,
        CaseInput(reference=reference, intake=intake, policy=policy or load_policy()),
        id=reference,
        task_queue=task_queue,
        memo=memo,
    )
    handle = cast(CaseHandle, started)
    if before_worker is not None:
        await before_worker(handle)
    async with AsyncExitStack() as workers:
        # Since v4 a retried send runs on its vendor's queue: the same recorded outbox answers it.
        for queue in vendor_queues(task_queue).values():
            await workers.enter_async_context(Worker(env.client, task_queue=queue, activities=[outbox.send_message]))
        # And a retried staff alert on the staff queue: the same alerts folder and staff mailbox.
        await workers.enter_async_context(
            Worker(env.client, task_queue=staff_queue(task_queue), activities=[alerts.raise_internal_alert])
        )
        await workers.enter_async_context(
            case_worker(env, task_queue, outbox, billing, tmp_path, roster, max_cached_workflows, alerts)
        )
        try:
            yield Case(env=env, handle=handle, outbox=outbox, data_dir=tmp_path)
        finally:
            if record and os.environ.get(RECORD_HISTORIES):
                await record_history(handle)
            # The test server skips time for every workflow at once: a case left running would
            # keep firing timers into the next test.
            try:
                await handle.terminate("test finished")
            except RPCError:
                pass  # the case had already closed


async def queues_retried_on(handle: WorkflowHandle, activity: str) -> list[str]:
    """The task queue of each regular (retried) attempt of `activity` the case scheduled."""
    return [
        e.activity_task_scheduled_event_attributes.task_queue.name
        async for e in handle.fetch_history_events()
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == activity
    ]


def staff_alerts(tmp_path: Path, roster: Path | None) -> AlertActivities:
    """The alerts folder and the staff mailbox in the outbox (no SendGrid: not rate limited)."""
    return AlertActivities(
        tmp_path / "alerts", staff_outbox=tmp_path / "outbox" / "staff", roster=roster or load_roster()
    )


def case_worker(
    env: WorkflowEnvironment,
    task_queue: str,
    outbox: RecordingMessaging,
    billing: FlakyBilling,
    tmp_path: Path,
    roster: Path | None,
    max_cached_workflows: int,
    alerts: AlertActivities,
) -> Worker:
    return Worker(
        env.client,
        task_queue=task_queue,
        workflows=[ComplaintCase],
        workflow_runner=workflow_runner(),
        max_cached_workflows=max_cached_workflows,
        activities=[
            compute_case_deadlines,
            CaseAssignmentActivities(env.client, roster or load_roster()).assign_case_handler,
            outbox.send_message,
            alerts.raise_internal_alert,
            billing.credit_invoice,
            CaseArchive(tmp_path / "archive.sqlite3").archive_case,
        ],
    )
