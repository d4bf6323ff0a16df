"""A reply no open case took reaches the Customer Service Managers, through the workers' staff mail,
and a notice whose mail fails is retried until it goes: a customer's reply is never left unread."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from email import message_from_bytes
from pathlib import Path

from temporalio import activity
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.alerts import AlertActivities
from channels.base import TransientDeliveryError
from domain.models import AlertRequest, CaseRole, ChannelKind, CustomerReply
from domain.reply_notices import unmatched_reply_notice
from domain.vendor_queues import staff_queue
from settings import load_roster
from tests.workflows.dates import PLAIN_TUESDAY
from tests.workflows.harness import HISTORIES, RECORD_HISTORIES, server_at
from workflows.reply_notice import CustomerReplyNotice
from workflows.sandbox import workflow_runner

REFERENCE = "CC-2026-T7MH3PQR"
REPLY = CustomerReply(
    reply_id="<reply-1@mail.example.com>",
    channel=ChannelKind.EMAIL,
    received_at=datetime(2030, 2, 12, 9, 30, tzinfo=UTC),
    sender="gwen.pritchard@example.com",
    text="It is broken again since Friday. I am not happy.",
    signature_verified=True,
)


class MailDownTwice(AlertActivities):
    """SendGrid is down for the notice's first two attempts."""

    attempts = 0

    @activity.defn(name="raise_internal_alert")
    async def raise_internal_alert(self, alert: AlertRequest) -> str:
        MailDownTwice.attempts += 1
        if MailDownTwice.attempts <= 2:
            raise TransientDeliveryError("503 from SendGrid")
        return await super().raise_internal_alert(alert)


@asynccontextmanager
async def notice_workers(env: WorkflowEnvironment, alerts: AlertActivities) -> AsyncIterator[str]:
    """The workers' case queue (the notice workflow) and staff queue (its alert), as worker.py runs them."""
    queue = f"cases-{uuid.uuid4().hex[:8]}"
    async with (
        Worker(env.client, task_queue=queue, workflows=[CustomerReplyNotice], workflow_runner=workflow_runner()),
        Worker(env.client, task_queue=staff_queue(queue), activities=[alerts.raise_internal_alert]),
    ):
        yield queue


async def start_notice(env: WorkflowEnvironment, queue: str, notice: AlertRequest) -> WorkflowHandle:
    return await env.client.start_workflow(
        CustomerReplyNotice.run, notice, id=f"reply-notice-{uuid.uuid4().hex[:8]}", task_queue=queue
    )


async def record(handle: WorkflowHandle) -> None:
    """Kept for the replay test (make histories), beside the cases' histories of the same release."""
    if os.environ.get(RECORD_HISTORIES):
        test = os.environ["PYTEST_CURRENT_TEST"].split("::")[-1].split(" ")[0]
        folder = HISTORIES / "reply-notice" / os.environ[RECORD_HISTORIES]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{test.removeprefix('test_')}.json").write_text((await handle.fetch_history()).to_json())


def staff_mail(outbox: Path) -> dict[str, list[str]]:
    """The subjects of the notices in the staff mailbox, by recipient."""
    mail: dict[str, list[str]] = {}
    for path in sorted(outbox.rglob("*.eml")):
        message = message_from_bytes(path.read_bytes())
        mail.setdefault(str(message["To"]), []).append(str(message["Subject"]))
    return mail


async def test_a_reply_to_a_closed_case_reaches_every_customer_service_manager(tmp_path: Path) -> None:
    roster = load_roster()
    alerts = AlertActivities(tmp_path / "alerts", staff_outbox=tmp_path / "staff", roster=roster)
    notice = unmatched_reply_notice("email:<reply-1@mail.example.com>", REPLY, closed_case=REFERENCE, why="closed")
    async with server_at(PLAIN_TUESDAY) as env, notice_workers(env, alerts) as queue:
        handle = await start_notice(env, queue, notice)
        assert await handle.result() == f"{notice.key.replace('/', '_')}.json"
        await record(handle)

    managers = sorted(h.email for h in roster if h.role is CaseRole.CUSTOMER_SERVICE_MANAGER)
    assert managers
    mail = staff_mail(tmp_path / "staff")
    assert sorted(mail) == managers  # the managers, and nobody else
    assert all(subjects == [f"{REFERENCE}: a reply after the case closed"] for subjects in mail.values())
    [written] = (tmp_path / "alerts").glob("*.json")
    assert "It is broken again since Friday." in written.read_text()


async def test_a_notice_whose_mail_fails_is_retried_until_it_is_sent(tmp_path: Path) -> None:
    MailDownTwice.attempts = 0
    alerts = MailDownTwice(tmp_path / "alerts", staff_outbox=tmp_path / "staff", roster=load_roster())
    notice = unmatched_reply_notice("twilio-sms:SM1", REPLY, closed_case=None, why="no open case has this sender")
    async with server_at(PLAIN_TUESDAY) as env, notice_workers(env, alerts) as queue:
        handle = await start_notice(env, queue, notice)
        await handle.result()
        await record(handle)

    assert MailDownTwice.attempts == 3
    assert all(
        subjects == ["A customer's reply matched no open case"] for subjects in staff_mail(tmp_path / "staff").values()
    )
