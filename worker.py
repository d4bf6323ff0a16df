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
from activities.billing import BillingActivities
from activities.case_setup import CaseAssignmentActivities, compute_case_deadlines
from activities.messaging import MessagingActivities
from activities.archive import CaseArchive
from channels.registry import build_channels, describe_channels
from channels.sent_log import SentLog
from channels.settings import ChannelSettings
from connection import connect
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
    alerts = AlertActivities(settings.data_dir / "alerts")
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


def _runtime(settings: PipelineSettings) -> Runtime | None:
    if not settings.metrics_port:
        return None
    return Runtime(
        telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=f"0.0.0.0:{settings.metrics_port}"))
    )


async def main() -> None:
    settings = PipelineSettings()
    configure_logging(settings.log_format)
    client = await connect(settings, runtime=_runtime(settings))
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
