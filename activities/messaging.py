"""The `send_message` activity: every customer-facing message of a case goes out through here.

Channels are injected (see `channels.registry.build_channels`), so tests pass fakes or local peers.
The message key is the idempotency key: a key already in the sent log is answered from there with
`duplicate=True` and nothing is sent (see `channels.sent_log` for the one remaining gap).

Failures reach the workflow as `ApplicationError`s with a stable `type`:
- `PermanentDeliveryError`, non-retryable: the workflow falls back to another channel;
- `TransientDeliveryError`, retryable, `next_retry_delay` = the vendor's `Retry-After` if it gave one;
- `MessageRenderError` / `ChannelNotConfigured`, non-retryable: a bug or a deploy problem, not a
  vendor problem; retrying the same input cannot help;
- `RateLimited`, retryable: a first attempt (local activity) found this worker's share of the
  vendor's rate used up and called nothing; the case retries on the vendor's queue
  (`channels.rate_limits`, `domain.vendor_queues`).
Logs carry the case reference, message key, kind and channel only: no names, addresses or numbers.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

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
from domain.models import CaseReceipt, ChannelKind, DeliveryReceipt, SendRequest


class MessagingActivities:
    def __init__(
        self,
        channels: dict[ChannelKind, MessageChannel],
        sent_log: SentLog,
        *,
        provider: ProviderDetails = DEFAULT_PROVIDER,
        rate_limits: VendorRateLimits | None = None,
    ) -> None:
        self._channels = dict(channels)
        self._sent_log = sent_log
        self._provider = provider
        self._rate_limits = rate_limits or VendorRateLimits({})

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


def _answer(request: SendRequest, receipt: DeliveryReceipt) -> DeliveryReceipt | CaseReceipt:
    """The receipt in the form the case asked for: a v6 case records only what it did not know."""
    return receipt.for_case() if request.case_receipt else receipt
