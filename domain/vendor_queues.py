"""Which task queue a customer message's retries run on (workflow v4, "closed-loop").

A vendor's rate limit is per account, not per worker: Twilio queues a UK sender at about 10 texts a
second and SendGrid answers 429 above its rate. So since v4 the regular (retrying) `send_message`
activity for a vendor channel runs on a queue of its own, `<case queue>-sms` / `<case queue>-email`,
whose pollers set `max_task_queue_activities_per_second` to the vendor's rate: the Temporal server
then holds every worker, however many, to that rate. Letters have no vendor rate and stay on the
case's queue. Pure: the workflow calls it with its own task queue.

Staff notices share the e-mail account: since v4 a retried `raise_internal_alert` runs on
`<case queue>-staff`, held to the staff notices' small share of the e-mail rate
(`channels.rate_limits.STAFF_SHARE`), so a rush's reminders queue behind the customers' e-mails.
"""

from __future__ import annotations

from domain.models import ChannelKind

VENDOR_CHANNELS = (ChannelKind.SMS, ChannelKind.EMAIL)


def vendor_queue(case_queue: str, channel: ChannelKind) -> str | None:
    """The queue for `channel`'s retried sends, or None: the case's own queue."""
    return f"{case_queue}-{channel.value}" if channel in VENDOR_CHANNELS else None


def vendor_queues(case_queue: str) -> dict[ChannelKind, str]:
    """Every vendor queue a worker for `case_queue` must poll, or cases wait on them for ever."""
    return {channel: f"{case_queue}-{channel.value}" for channel in VENDOR_CHANNELS}


def staff_queue(case_queue: str) -> str:
    """The queue for retried staff alerts; every worker for `case_queue` must poll it too."""
    return f"{case_queue}-staff"
