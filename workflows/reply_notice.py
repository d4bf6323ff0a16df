"""A customer's reply that no open case took, put in front of the complaints team.

The inbound service starts one of these per such reply (`inbound.forwarder`), because it has no
staff mail of its own: the worker's `raise_internal_alert` writes the alert and emails the Customer
Service Managers. The notice is built before the start (`domain.reply_notices`) and carried in the
input, so this workflow is one activity and its history never depends on the wording.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.alerts import AlertActivities
    from domain.models import AlertRequest
    from domain.vendor_queues import staff_queue

# Retried until it is written and mailed (a SendGrid outage, a roster being fixed): a reply must
# not be lost. At most every 10 minutes apart.
NOTICE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=10))


@workflow.defn(name="CustomerReplyNotice")
class CustomerReplyNotice:
    @workflow.run
    async def run(self, notice: AlertRequest) -> str:
        """The alert file's name, once the Customer Service Managers have been told."""
        return await workflow.execute_activity_method(
            AlertActivities.raise_internal_alert,
            notice,
            # The staff queue: held to the staff notices' share of the e-mail rate, as a case's are.
            task_queue=staff_queue(workflow.info().task_queue),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=NOTICE_RETRY,
            summary="Tell the Customer Service Managers about the reply",
        )
