"""Since v4 a customer message that needs retrying queues on its vendor's task queue."""

from __future__ import annotations

from datetime import timedelta

from domain.models import ChannelKind, MessageKind
from tests.workflows.dates import PLAIN_TUESDAY
from tests.workflows.harness import RecordingMessaging, queues_retried_on, running_case, server_at


async def test_retried_emails_queue_on_the_email_vendors_queue_and_each_goes_once(tmp_path):
    # The first attempt (local, inside the case's task) fails as a vendor 429 would.
    outbox = RecordingMessaging(failing_attempts={ChannelKind.EMAIL: 1})
    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path, outbox=outbox) as case:
        await case.wait(timedelta(minutes=5))
        case_queue = (await case.handle.describe()).task_queue
        queues = await queues_retried_on(case.handle, "send_message")

    # The acknowledgement and the introduction's written follow-up each retried on it.
    assert queues and set(queues) == {f"{case_queue}-email"}
    assert len(outbox.received(MessageKind.ACKNOWLEDGEMENT)) == 1
    assert all(count == 1 for count in outbox.deliveries.values())
