"""Since v4 a customer message that needs retrying queues on its vendor's task queue."""

from __future__ import annotations

from datetime import timedelta

from temporalio.api.enums.v1 import EventType

from domain.models import ChannelKind, MessageKind
from tests.workflows.dates import PLAIN_TUESDAY
from tests.workflows.harness import RecordingMessaging, running_case, server_at


async def test_retried_emails_queue_on_the_email_vendors_queue_and_each_goes_once(tmp_path):
    # The first attempt (local, inside the case's task) fails as a vendor 429 would.
    outbox = RecordingMessaging(failing_attempts={ChannelKind.EMAIL: 1})
    async with server_at(PLAIN_TUESDAY) as env, running_case(env, tmp_path, outbox=outbox) as case:
        await case.wait(timedelta(minutes=5))
        case_queue = (await case.handle.describe()).task_queue
        queues = [
            e.activity_task_scheduled_event_attributes.task_queue.name
            async for e in case.handle.fetch_history_events()
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
            and e.activity_task_scheduled_event_attributes.activity_type.name == "send_message"
        ]

    # The acknowledgement and the introduction's written follow-up each retried on it.
    assert queues and set(queues) == {f"{case_queue}-email"}
    assert len(outbox.received(MessageKind.ACKNOWLEDGEMENT)) == 1
    assert all(count == 1 for count in outbox.deliveries.values())
