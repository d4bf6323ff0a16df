"""Which queue a retried send or staff alert runs on: the names the workers poll must be the names
the workflow schedules on, or a retried message waits for ever."""

from __future__ import annotations

from domain.models import ChannelKind
from domain.vendor_queues import staff_queue, vendor_queue, vendor_queues


def test_a_vendors_retried_sends_run_on_that_vendors_queue_and_letters_on_the_cases() -> None:
    assert vendor_queue("complaints", ChannelKind.SMS) == "complaints-sms"
    assert vendor_queue("complaints", ChannelKind.EMAIL) == "complaints-email"
    assert vendor_queue("complaints", ChannelKind.LETTER) is None


def test_the_worker_polls_every_queue_the_workflow_schedules_on() -> None:
    polled = vendor_queues("complaints")
    assert polled == {ChannelKind.SMS: "complaints-sms", ChannelKind.EMAIL: "complaints-email"}
    for channel in ChannelKind:
        scheduled = vendor_queue("complaints", channel)
        assert scheduled is None or polled[channel] == scheduled
    assert staff_queue("complaints") == "complaints-staff"
    assert staff_queue("complaints") not in polled.values()  # the staff share is a queue of its own
