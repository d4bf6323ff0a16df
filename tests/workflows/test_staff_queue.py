"""Since v4 a staff alert that needs retrying queues on the staff task queue, held by the server to
the staff notices' share of the e-mail rate, not on the case's own queue."""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.alerts import AlertActivities
from domain.models import AlertRequest
from settings import load_roster
from tests.workflows.dates import PLAIN_TUESDAY
from tests.workflows.harness import queues_retried_on, running_case, server_at


class StaffRateUsedUp(AlertActivities):
    """Every first attempt finds this worker's staff-notice tokens gone, as in the 09:00 rush."""

    @activity.defn(name="raise_internal_alert")
    async def raise_internal_alert(self, alert: AlertRequest) -> str:
        if activity.info().is_local:
            raise ApplicationError("rate limited: staff notices' share used up", type="RateLimited")
        return await super().raise_internal_alert(alert)


async def test_a_rate_limited_owner_notice_is_retried_on_the_staff_queue_and_delivered(tmp_path):
    alerts = StaffRateUsedUp(tmp_path / "alerts", staff_outbox=tmp_path / "outbox" / "staff", roster=load_roster())
    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path, alerts=alerts) as case:
        await case.wait(timedelta(minutes=5))
        case_queue = (await case.handle.describe()).task_queue
        queues = await queues_retried_on(case.handle, "raise_internal_alert")

    # The new owner's notice, at least, was retried there, and reached the staff mailbox.
    assert queues and set(queues) == {f"{case_queue}-staff"}
    assert list((tmp_path / "outbox" / "staff").rglob("*.eml"))
