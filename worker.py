"""Runs the complaint workflows and their activities for one task queue.

    python worker.py            # TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, COMPLAINTS_TASK_QUEUE

Stateless: run as many as the load needs. SIGTERM (a deploy) and Ctrl-C both drain running
activities before exiting, so no send is cut in half.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from datetime import timedelta

from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Worker, WorkflowRunner

from activities.alerts import AlertActivities
from activities.archive import CaseArchive
from activities.billing import BillingActivities
from activities.case_setup import CaseAssignmentActivities, compute_case_deadlines
from activities.messaging import MessagingActivities
from channels.registry import build_channels, describe_channels
from channels.sendgrid_email import SendGridEmailChannel
from channels.sent_log import SentLog
from channels.settings import ChannelSettings
from codec.converter import EncryptionRequiredError
from connection import connect
from domain.models import ChannelKind
from ops import stores
from ops.logs import configure_logging
from settings import PipelineSettings
from workflows.complaint_case import ComplaintCase
from workflows.sandbox import workflow_runner

log = logging.getLogger("worker")


def workflow_runner_for(settings: PipelineSettings) -> WorkflowRunner:
    return workflow_runner(isolated=settings.workflow_sandbox == "isolated")


def build_worker(client: Client, settings: PipelineSettings) -> Worker:
    """The worker with every activity wired to its real dependencies (tests use this too)."""
    channel_settings = ChannelSettings(data_dir=settings.data_dir)
    channels = build_channels(channel_settings)
    log.info("channels: %s", describe_channels(channels))
    # The stores: SQLite files in the data folder, or one PostgreSQL database (COMPLAINTS_DATABASE_URL).
    sent_log = SentLog(stores.locate(settings, stores.SENT_MESSAGES))
    messaging = MessagingActivities(channels, sent_log, provider=channel_settings.provider)
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
    )
    billing = BillingActivities(stores.locate(settings, stores.BILLING))
    archive = CaseArchive(
        stores.locate(settings, stores.CASE_ARCHIVE),
        retention=timedelta(days=settings.archive_retention_days),
    )
    return Worker(
        client,
        task_queue=settings.task_queue,
        workflows=[ComplaintCase],
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
