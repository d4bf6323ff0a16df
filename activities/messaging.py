"""The `send_message` activity: every customer-facing message of a case goes out through here.

Channels are injected (see `channels.registry.build_channels`), so tests pass fakes or local peers.
The message key is the idempotency key: a key already in the sent log is answered from there with
`duplicate=True` and nothing is sent (see `channels.sent_log` for the one remaining gap).

Failures reach the workflow as `ApplicationError`s with a stable `type`:
- `PermanentDeliveryError`, non-retryable: the workflow falls back to another channel;
- `TransientDeliveryError`, retryable, `next_retry_delay` = the vendor's `Retry-After` if it gave one;
- `MessageRenderError` / `ChannelNotConfigured`, non-retryable: a bug or a deploy problem, not a
  vendor problem; retrying the same input cannot help;
- `QuietHours`, retryable and benign: a text outside the policy's quiet hours (08:00-20:00 UK time)
  is not sent, whichever path brought it here (a fallback, a retry that ran into the evening);
  `next_retry_delay` = the time until the quiet hours allow it, so the server holds it until then.
  Nothing is recorded in the sent log: the text has not gone;
- `RateLimited`, retryable: a first attempt (local activity) found this worker's share of the
  vendor's rate used up and called nothing; the case retries on the vendor's queue
  (`channels.rate_limits`, `domain.vendor_queues`).
Logs carry the case reference, message key, kind and channel only: no names, addresses or numbers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError, ApplicationErrorCategory

from channels.base import (
    MessageChannel,
    PermanentDeliveryError,
    ProviderDetails,
    RenderedMessage,
    TransientDeliveryError,
)
from channels.rate_limits import VendorRateLimits
from channels.rendering import DEFAULT_PROVIDER, FORMS_BY_CHANNEL, RenderError, render
from channels.sent_log import SentLog
from domain.contact import QUIET_HOURS_REFUSAL, next_phone_moment
from domain.formatting import local_label
from domain.models import CaseReceipt, ChannelKind, DeliveryReceipt, SendRequest, TextHours


class MessagingActivities:
    def __init__(
        self,
        channels: dict[ChannelKind, MessageChannel],
        sent_log: SentLog,
        *,
        provider: ProviderDetails = DEFAULT_PROVIDER,
        rate_limits: VendorRateLimits | None = None,
        clock: Callable[[], Awaitable[datetime]] | None = None,
    ) -> None:
        self._channels = dict(channels)
        self._sent_log = sent_log
        self._provider = provider
        self._rate_limits = rate_limits or VendorRateLimits({})
        # The quiet hours are the customer's wall clock's. A time-skipping server's clock runs
        # ahead of it, so tests and the bench on one pass the server's (`env.get_current_time`).
        self._clock = clock or _wall_clock

    @activity.defn(name="send_message")
    async def send_message(self, request: SendRequest) -> DeliveryReceipt | CaseReceipt:
        log_extra = {
            "case_reference": request.context.reference,
            "message_key": request.key,
            "message_kind": request.kind.value,
            "channel": request.channel.value,
        }
        where = f"case {request.context.reference} message {request.key}"

        # Two hand-offs to a worker thread per send, not three: the ledger look-up with the rendering,
        # then the vendor call with the ledger record. A hand-off costs thread wake-ups and, often, the
        # other core's cold caches: 0.04-0.11 ms of CPU per send here (issue #15, bench.message_cpu_cuts).
        # The order is unchanged: look up, render, (rate share), send, record.
        previous, rendered = await asyncio.to_thread(self._look_up_and_render, request)
        if previous is not None:
            activity.logger.info("%s already sent; not sending again", where, extra=log_extra)
            return _answer(request, previous.model_copy(update={"duplicate": True}))

        channel = self._channels.get(request.channel)
        if channel is None:
            raise ApplicationError(
                f"no {request.channel.value} channel is configured on this worker",
                type="ChannelNotConfigured",
                non_retryable=True,
            )
        if isinstance(rendered, RenderError):
            activity.logger.error("%s cannot be rendered: %s", where, rendered, extra=log_extra)
            raise ApplicationError(str(rendered), type="MessageRenderError", non_retryable=True) from None
        assert rendered is not None  # rendered whenever the channel is configured

        if request.text_hours is not None:
            # Before the vendor and the rate share: a text held for the quiet hours costs neither.
            held = quiet_hours_refusal(request.text_hours, await self._clock())
            if held is not None:
                activity.logger.info("%s held for the quiet hours: %s", where, held, extra=log_extra)
                raise held
        if self._rate_limits.limits(request.channel):
            if not activity.info().is_local:
                await self._rate_limits.take(request.channel)
            elif not await self._rate_limits.try_take(request.channel):
                raise ApplicationError(
                    f"rate limited: this worker's share of the {request.channel.value} vendor's rate is used up; "
                    "queued on the vendor's task queue",
                    type="RateLimited",
                )
        try:
            recorded = await asyncio.to_thread(self._send_and_record, channel, request, rendered)
        except PermanentDeliveryError as exc:
            activity.logger.warning("%s refused permanently: %s", where, exc.reason, extra=log_extra)
            # `from None`: the vendor exception may quote the recipient, and causes are recorded
            # in workflow history.
            raise ApplicationError(exc.reason, type="PermanentDeliveryError", non_retryable=True) from None
        except TransientDeliveryError as exc:
            activity.logger.warning(
                "%s failed, will retry%s: %s",
                where,
                f" after {exc.retry_after:g}s" if exc.retry_after is not None else "",
                exc.reason,
                extra=log_extra,
            )
            raise ApplicationError(
                exc.reason,
                type="TransientDeliveryError",
                next_retry_delay=timedelta(seconds=exc.retry_after) if exc.retry_after is not None else None,
            ) from None

        activity.logger.info("%s sent via %s", where, type(channel).__name__, extra=log_extra)
        return _answer(request, recorded)

    def _look_up_and_render(
        self, request: SendRequest
    ) -> tuple[DeliveryReceipt | None, RenderedMessage | RenderError | None]:
        """The receipt already recorded for the key, else the message in the forms its channel sends
        (or why it cannot be written); nothing rendered for a channel this worker lacks."""
        previous = self._sent_log.get(request.key)
        if previous is not None or request.channel not in self._channels:
            return previous, None
        try:
            return None, render(request, self._provider, FORMS_BY_CHANNEL[request.channel])
        except RenderError as exc:
            return None, exc

    def _send_and_record(
        self, channel: MessageChannel, request: SendRequest, message: RenderedMessage
    ) -> DeliveryReceipt:
        receipt = channel.send(request, message)
        # If this write fails the activity fails and is retried: that resend is the documented
        # at-least-once gap, preferred to reporting a message as unsent that was sent.
        return self._sent_log.record(receipt)


async def _wall_clock() -> datetime:
    return datetime.now(UTC)


def quiet_hours_refusal(hours: TextHours, now: datetime) -> ApplicationError | None:
    """The send's answer to a text outside the quiet hours (None while they allow it).

    Retryable, with `next_retry_delay` up to the first moment they allow it, so the server holds
    the text and sends it then; benign, so the SDK does not log or count it as a failure."""
    allowed_at = next_phone_moment(now, hours.quiet_hours, hours.timezone)
    if allowed_at <= now:
        return None
    return ApplicationError(
        f"quiet hours: this text waits until {local_label(allowed_at, hours.timezone)} UK time",
        type=QUIET_HOURS_REFUSAL,
        next_retry_delay=allowed_at - now,
        category=ApplicationErrorCategory.BENIGN,
    )


def _answer(request: SendRequest, receipt: DeliveryReceipt) -> DeliveryReceipt | CaseReceipt:
    """The receipt in the form the case asked for: a v6 case records only what it did not know."""
    return receipt.for_case() if request.case_receipt else receipt
