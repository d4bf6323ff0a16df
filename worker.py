"""Runs the complaint workflows and their activities for one task queue.

    python worker.py            # TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, COMPLAINTS_TASK_QUEUE

Stateless: run as many as the load needs. SIGTERM (a deploy) and Ctrl-C both drain running
activities before exiting, so no send is cut in half.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import datetime, timedelta
from types import TracebackType

from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Worker, WorkflowRunner

from activities.alerts import AlertActivities
from activities.archive import CaseArchive
from activities.billing import BillingActivities
from activities.case_setup import CaseAssignmentActivities, compute_case_deadlines
from activities.messaging import MessagingActivities
from channels.rate_limits import VendorRateLimits
from channels.registry import build_channels, describe_channels
from channels.sendgrid_email import SendGridEmailChannel
from channels.sent_log import SentLog
from channels.settings import ChannelSettings
from codec.converter import EncryptionRequiredError
from connection import connect
from domain.models import ChannelKind
from domain.vendor_queues import staff_queue, vendor_queues
from ops import stores
from ops.logs import configure_logging
from settings import PipelineSettings
from workflows.complaint_case import ComplaintCase
from workflows.reply_notice import CustomerReplyNotice
from workflows.sandbox import workflow_runner

log = logging.getLogger("worker")


def workflow_runner_for(settings: PipelineSettings) -> WorkflowRunner:
    return workflow_runner(isolated=settings.workflow_sandbox == "isolated")


class CaseWorkers:
    """The case queue's worker and the vendor and staff queues' workers (domain.vendor_queues), run together.

    Used like one `Worker`: `async with`, `run()`, `shutdown()`. Every process that runs cases runs
    all of them: a v4 case whose send is retrying waits on its vendor's queue until one polls it.
    """

    def __init__(self, case_worker: Worker, vendor_workers: list[Worker]) -> None:
        self.case_worker = case_worker
        self.workers = [case_worker, *vendor_workers]
        self._stack: AsyncExitStack | None = None

    @property
    def task_queue(self) -> str:
        return self.case_worker.task_queue

    async def __aenter__(self) -> CaseWorkers:
        async with AsyncExitStack() as stack:
            for worker in self.workers:
                await stack.enter_async_context(worker)
            self._stack = stack.pop_all()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._stack is not None:
            stack, self._stack = self._stack, None
            await stack.__aexit__(exc_type, exc, tb)

    async def run(self) -> None:
        await asyncio.gather(*(worker.run() for worker in self.workers))

    async def shutdown(self) -> None:
        await asyncio.gather(*(worker.shutdown() for worker in self.workers))


def build_worker(
    client: Client, settings: PipelineSettings, *, clock: Callable[[], Awaitable[datetime]] | None = None
) -> CaseWorkers:
    """The workers with every activity wired to its real dependencies (tests use this too).

    `clock`: what a text is judged by against the quiet hours; the wall clock unless given. On a
    time-skipping server pass its own (`env.get_current_time`), or texts follow the real night."""
    channel_settings = ChannelSettings(data_dir=settings.data_dir)
    channels = build_channels(channel_settings)
    log.info("channels: %s", describe_channels(channels))
    # The stores: SQLite files in the data folder, or one PostgreSQL database (COMPLAINTS_DATABASE_URL).
    sent_log = SentLog(stores.locate(settings, stores.SENT_MESSAGES))
    # One set of buckets per process: the customers' sends and the staff notices share the e-mail rate.
    rate_limits = VendorRateLimits(
        channel_settings.rate_share(), staff_notices_per_second=channel_settings.staff_notice_share()
    )
    messaging = MessagingActivities(
        channels,
        sent_log,
        provider=channel_settings.provider,
        rate_limits=rate_limits,
        clock=clock,
    )
    assignment = CaseAssignmentActivities(client, settings.roster_file)
    # Staff notices go to the staff mailbox in the outbox (and the alerts folder, as JSON).
    email = channels.get(ChannelKind.EMAIL)
    assert channel_settings.outbox_dir is not None  # filled in by the settings validator
    alerts = AlertActivities(
        settings.data_dir / "alerts",
        staff_outbox=channel_settings.outbox_dir / "staff",
        roster=settings.roster_file,
        # With SendGrid configured, staff notices are emailed through it; else the staff mailbox.
        email=email if isinstance(email, SendGridEmailChannel) else None,
        rate_limits=rate_limits,
    )
    billing = BillingActivities(stores.locate(settings, stores.BILLING))
    archive = CaseArchive(
        stores.locate(settings, stores.CASE_ARCHIVE),
        retention=timedelta(days=settings.archive_retention_days),
    )
    case_worker = Worker(
        client,
        task_queue=settings.task_queue,
        # The cases, and the notice the inbound service starts for a reply no open case took.
        workflows=[ComplaintCase, CustomerReplyNotice],
        workflow_runner=workflow_runner_for(settings),
        max_cached_workflows=settings.max_cached_workflows,
        activities=[
            compute_case_deadlines,
            assignment.assign_case_handler,
            messaging.send_message,
            alerts.raise_internal_alert,
            billing.credit_invoice,
            archive.archive_case,
        ],
        graceful_shutdown_timeout=timedelta(seconds=settings.graceful_shutdown_seconds),
    )
    rates = channel_settings.vendor_rates()
    vendor_workers = [
        Worker(
            client,
            task_queue=queue,
            activities=[messaging.send_message],
            # The server enforces this across every worker polling the queue (the vendor's account
            # rate); the last poller's setting wins, so every worker sets the same one.
            max_task_queue_activities_per_second=rates[channel],
            graceful_shutdown_timeout=timedelta(seconds=settings.graceful_shutdown_seconds),
        )
        for channel, queue in vendor_queues(settings.task_queue).items()
    ]
    staff_worker = Worker(
        client,
        task_queue=staff_queue(settings.task_queue),
        activities=[alerts.raise_internal_alert],
        # Staff notices' share of the e-mail rate, across every worker (as the vendor queues above).
        max_task_queue_activities_per_second=channel_settings.staff_notice_rate(),
        graceful_shutdown_timeout=timedelta(seconds=settings.graceful_shutdown_seconds),
    )
    return CaseWorkers(case_worker, [*vendor_workers, staff_worker])


def metrics_bind_address(settings: PipelineSettings) -> str | None:
    """Where the Prometheus endpoint listens, or None when it is off."""
    if not settings.metrics_port:
        return None
    host = settings.metrics_host
    return f"[{host}]:{settings.metrics_port}" if ":" in host else f"{host}:{settings.metrics_port}"


def _runtime(settings: PipelineSettings) -> Runtime | None:
    address = metrics_bind_address(settings)
    if address is None:
        return None
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=address)))


async def main() -> None:
    settings = PipelineSettings()
    configure_logging(settings.log_format)
    try:
        client = await connect(settings, runtime=_runtime(settings))
    except EncryptionRequiredError as exc:
        log.error("%s", exc)
        raise SystemExit(2) from None
    worker = build_worker(client, settings)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    log.info(
        "worker polling task queue %r on %s (namespace %s)",
        settings.task_queue,
        settings.temporal_address,
        settings.temporal_namespace,
    )
    async with worker:
        await stop.wait()
        log.info("stopping: draining running activities")
    log.info("worker stopped")


if __name__ == "__main__":
    asyncio.run(main())
