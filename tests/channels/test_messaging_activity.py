from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.messaging import MessagingActivities
from channels.base import PermanentDeliveryError, ProviderDetails, RenderedMessage, TransientDeliveryError
from channels.outbox import OutboxChannel
from channels.sent_log import SentLog
from domain.models import (
    CaseReceipt,
    ChannelKind,
    DeliveryReceipt,
    MessageKind,
    QuietHours,
    SendRequest,
    TextHours,
)

from .conftest import REFERENCE

NOW = datetime(2026, 12, 29, 16, 30, tzinfo=UTC)


class FakeChannel:
    """Counts sends; raises `error` instead when given one."""

    def __init__(self, kind: ChannelKind, error: Exception | None = None) -> None:
        self.kind = kind
        self.error = error
        self.sent: list[tuple[SendRequest, RenderedMessage]] = []

    def send(self, request: SendRequest, message: RenderedMessage) -> DeliveryReceipt:
        if self.error is not None:
            raise self.error
        self.sent.append((request, message))
        return DeliveryReceipt(key=request.key, channel=self.kind, provider_id=f"fake-{len(self.sent)}", sent_at=NOW)


@pytest.fixture
def sent_log(tmp_path: Path) -> SentLog:
    return SentLog.in_data_dir(tmp_path)


def activities(sent_log: SentLog, channel: FakeChannel | OutboxChannel, **kwargs) -> MessagingActivities:
    return MessagingActivities({channel.kind: channel}, sent_log, **kwargs)


async def test_the_same_key_twice_sends_once(sent_log, make_request):
    channel = FakeChannel(ChannelKind.EMAIL)
    acts = activities(sent_log, channel)
    request = make_request(MessageKind.ACKNOWLEDGEMENT)
    env = ActivityEnvironment()

    first = await env.run(acts.send_message, request)
    second = await env.run(acts.send_message, request)

    assert len(channel.sent) == 1
    assert (first.duplicate, second.duplicate) == (False, True)
    assert first.provider_id == second.provider_id == "fake-1"
    assert sent_log.get(request.key) == first


async def test_a_v6_case_gets_the_vendors_id_alone_and_the_ledger_keeps_the_whole_receipt(sent_log, make_request):
    channel = FakeChannel(ChannelKind.EMAIL)
    acts = activities(sent_log, channel)
    request = make_request(MessageKind.ACKNOWLEDGEMENT).model_copy(update={"case_receipt": True})
    env = ActivityEnvironment()

    first = await env.run(acts.send_message, request)
    again = await env.run(acts.send_message, request)

    # What goes into the case's history: the one thing it did not know before sending.
    assert first == again == CaseReceipt(provider_id="fake-1")
    assert len(channel.sent) == 1
    assert sent_log.get(request.key) == DeliveryReceipt(
        key=request.key, channel=ChannelKind.EMAIL, provider_id="fake-1", sent_at=NOW
    )


def test_a_send_for_a_case_begun_before_v6_reads_as_it_did_to_an_earlier_worker(make_request):
    from temporalio.contrib.pydantic import pydantic_data_converter

    converter = pydantic_data_converter.payload_converter
    request = make_request(MessageKind.ACKNOWLEDGEMENT)
    [before_v6, v6] = converter.to_payloads([request, request.model_copy(update={"case_receipt": True})])
    # An earlier release's models refuse unknown fields: the flag is only there when a v6 case set it.
    assert b"case_receipt" not in before_v6.data and b'"case_receipt":true' in v6.data
    # And a whole receipt, from a worker that answers every case that way, reads as its vendor id.
    whole = converter.to_payloads([DeliveryReceipt(key="k", channel=ChannelKind.SMS, provider_id="SM1", sent_at=NOW)])
    assert converter.from_payloads(whole, [CaseReceipt]) == [CaseReceipt(provider_id="SM1")]


def test_a_closure_of_a_case_begun_before_v7_reads_as_it_did_to_an_earlier_worker(make_request):
    from temporalio.contrib.pydantic import pydantic_data_converter

    converter = pydantic_data_converter.payload_converter
    request = make_request(MessageKind.CLOSURE)
    v7 = request.model_copy(update={"context": request.context.model_copy(update={"reopen_by": NOW})})
    [before_v7, after] = converter.to_payloads([request, v7])
    # An earlier release's models refuse unknown fields: the date is only there when a v7 case set it.
    assert b"reopen_by" not in before_v7.data and b'"reopen_by":' in after.data
    assert converter.from_payloads([after], [SendRequest]) == [v7]


async def test_the_same_key_twice_writes_one_outbox_file(tmp_path, sent_log, make_request):
    outbox = OutboxChannel(ChannelKind.SMS, tmp_path / "outbox")
    acts = activities(sent_log, outbox)
    request = make_request(MessageKind.CLOSURE, ChannelKind.SMS)
    env = ActivityEnvironment()

    first = await env.run(acts.send_message, request)
    Path(first.provider_id).unlink()  # if it were sent again, it would reappear
    second = await env.run(acts.send_message, request)

    assert second.duplicate and second.provider_id == first.provider_id
    assert list((tmp_path / "outbox").rglob("*.sms.json")) == []


async def test_different_keys_are_different_messages(sent_log, make_request):
    channel = FakeChannel(ChannelKind.EMAIL)
    acts = activities(sent_log, channel)
    env = ActivityEnvironment()
    await env.run(acts.send_message, make_request(key="k1"))
    await env.run(acts.send_message, make_request(key="k2"))
    assert [r.key for r, _ in channel.sent] == ["k1", "k2"]


async def test_the_channel_gets_the_rendered_message(sent_log, make_request):
    channel = FakeChannel(ChannelKind.EMAIL)
    provider = ProviderDetails(phone="0800 000 000")
    await ActivityEnvironment().run(activities(sent_log, channel, provider=provider).send_message, make_request())
    [(_, message)] = channel.sent
    assert REFERENCE in message.subject and "0800 000 000" in message.text


async def test_a_permanent_failure_is_non_retryable(sent_log, make_request):
    channel = FakeChannel(ChannelKind.EMAIL, PermanentDeliveryError("SendGrid answered 400: bad request"))
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(activities(sent_log, channel).send_message, make_request())
    error = caught.value
    assert error.type == "PermanentDeliveryError"
    assert error.non_retryable is True
    assert error.message == "SendGrid answered 400: bad request"
    assert error.__cause__ is None
    assert sent_log.get(make_request().key) is None


async def test_a_transient_failure_retries_after_the_vendors_delay(sent_log, make_request):
    channel = FakeChannel(ChannelKind.SMS, TransientDeliveryError("Twilio answered 429", retry_after=2.5))
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(
            activities(sent_log, channel).send_message, make_request(channel=ChannelKind.SMS)
        )
    error = caught.value
    assert error.type == "TransientDeliveryError"
    assert error.non_retryable is False
    assert error.next_retry_delay == timedelta(seconds=2.5)


async def test_a_transient_failure_without_delay_leaves_it_to_the_retry_policy(sent_log, make_request):
    channel = FakeChannel(ChannelKind.EMAIL, TransientDeliveryError("SendGrid timed out after 30s"))
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(activities(sent_log, channel).send_message, make_request())
    assert caught.value.type == "TransientDeliveryError"
    assert caught.value.next_retry_delay is None
    assert caught.value.non_retryable is False


async def test_a_message_that_cannot_be_written_is_non_retryable(sent_log, make_request):
    channel = FakeChannel(ChannelKind.EMAIL)
    request = make_request(MessageKind.INTRODUCTION, handler=None)
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(activities(sent_log, channel).send_message, request)
    assert caught.value.type == "MessageRenderError" and caught.value.non_retryable
    assert channel.sent == []


async def test_a_channel_missing_on_this_worker_is_non_retryable(sent_log, make_request):
    acts = activities(sent_log, FakeChannel(ChannelKind.EMAIL))
    with pytest.raises(ApplicationError) as caught:
        await ActivityEnvironment().run(acts.send_message, make_request(channel=ChannelKind.LETTER))
    assert caught.value.type == "ChannelNotConfigured" and caught.value.non_retryable


async def test_logs_carry_reference_and_key_but_no_customer_details(sent_log, make_request, caplog):
    channel = FakeChannel(ChannelKind.EMAIL)
    failing = FakeChannel(ChannelKind.SMS, TransientDeliveryError("Twilio answered 503", retry_after=1))
    acts = MessagingActivities({ChannelKind.EMAIL: channel, ChannelKind.SMS: failing}, sent_log)
    env = ActivityEnvironment()
    request = make_request(MessageKind.PROGRESS_UPDATE)
    with caplog.at_level(logging.DEBUG):
        await env.run(acts.send_message, request)
        await env.run(acts.send_message, request)
        with pytest.raises(ApplicationError):
            await env.run(acts.send_message, make_request(channel=ChannelKind.SMS))

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert REFERENCE in logged and request.key in logged
    for private in (
        "Jane",
        "O'Brien",
        "jane.obrien@example.com",
        "7700 900123",
        "+447700900123",
        "Bethcar",
        "NP23 6HN",
        "exchange",
    ):
        assert private not in logged, private
    assert {getattr(r, "message_key", None) for r in caplog.records if r.name.startswith("temporalio")} >= {request.key}


async def test_a_first_attempt_over_the_workers_rate_share_calls_no_vendor_and_is_retryable(sent_log, make_request):
    import dataclasses

    from channels.rate_limits import VendorRateLimits

    channel = FakeChannel(ChannelKind.SMS)
    acts = activities(sent_log, channel, rate_limits=VendorRateLimits({ChannelKind.SMS: 2}))
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, is_local=True)

    for n in range(2):  # a second's burst
        await env.run(acts.send_message, make_request(MessageKind.PROGRESS_UPDATE, ChannelKind.SMS, key=f"k{n}"))
    with pytest.raises(ApplicationError) as refused:
        await env.run(acts.send_message, make_request(MessageKind.PROGRESS_UPDATE, ChannelKind.SMS, key="k2"))

    assert refused.value.type == "RateLimited" and not refused.value.non_retryable
    assert [r.key for r, _ in channel.sent] == ["k0", "k1"]
    assert sent_log.get("k2") is None


async def test_a_regular_attempt_waits_for_the_workers_rate_share_instead_of_failing(sent_log, make_request):
    from channels.rate_limits import VendorRateLimits

    channel = FakeChannel(ChannelKind.SMS)
    acts = activities(sent_log, channel, rate_limits=VendorRateLimits({ChannelKind.SMS: 50}))
    env = ActivityEnvironment()  # not local: a retry the server already paced

    for n in range(51):  # one more than the burst: it waits about 20 ms, then goes
        await env.run(acts.send_message, make_request(MessageKind.PROGRESS_UPDATE, ChannelKind.SMS, key=f"k{n}"))

    assert len(channel.sent) == 51


class LedgerWatchingChannel(FakeChannel):
    """Notes what the ledger held for the key at the moment the vendor was called."""

    def __init__(self, kind: ChannelKind, sent_log: SentLog, error: Exception | None = None) -> None:
        super().__init__(kind, error)
        self.sent_log = sent_log
        self.ledger_at_send: list[DeliveryReceipt | None] = []

    def send(self, request: SendRequest, message: RenderedMessage) -> DeliveryReceipt:
        self.ledger_at_send.append(self.sent_log.get(request.key))
        return super().send(request, message)


async def test_the_ledger_records_a_send_after_the_vendor_accepted_it_and_only_then(sent_log, make_request):
    """The vendor call and the ledger record share one hand-off to a worker thread (issue #15): the
    record still follows an accepted send, and a refused one leaves nothing to answer a retry from."""
    request = make_request(channel=ChannelKind.SMS)
    refusing = LedgerWatchingChannel(ChannelKind.SMS, sent_log, TransientDeliveryError("Twilio answered 503"))
    with pytest.raises(ApplicationError):
        await ActivityEnvironment().run(activities(sent_log, refusing).send_message, request)
    assert refusing.ledger_at_send == [None] and sent_log.get(request.key) is None

    accepting = LedgerWatchingChannel(ChannelKind.SMS, sent_log)
    receipt = await ActivityEnvironment().run(activities(sent_log, accepting).send_message, request)
    assert accepting.ledger_at_send == [None]
    assert receipt == sent_log.get(request.key) and receipt.provider_id == "fake-1" and not receipt.duplicate
    [(_, message)] = accepting.sent
    assert message.sms and message.subject == message.html == ""  # a text renders its own form only


# --- texts and the quiet hours (08:00-20:00 UK time) ---------------------------------------------


def _at(hour: int, minute: int = 0) -> Callable[[], Awaitable[datetime]]:
    """A clock stopped at `hour`:`minute` on a Tuesday (GMT, so UTC is UK time)."""

    async def clock() -> datetime:
        return datetime(2026, 12, 29, hour, minute, tzinfo=UTC)

    return clock


def _text(make_request, key: str = "k-text") -> SendRequest:
    hours = TextHours(quiet_hours=QuietHours(), timezone="Europe/London")
    return make_request(MessageKind.ASK_TO_CLOSE, ChannelKind.SMS, key=key).model_copy(update={"text_hours": hours})


async def test_a_text_at_night_is_not_sent_and_waits_until_eight(sent_log, make_request):
    channel = FakeChannel(ChannelKind.SMS)
    acts = activities(sent_log, channel, clock=_at(21, 32))
    request = _text(make_request)

    with pytest.raises(ApplicationError) as held:
        await ActivityEnvironment().run(acts.send_message, request)

    assert held.value.type == "QuietHours" and not held.value.non_retryable
    assert held.value.next_retry_delay == timedelta(hours=10, minutes=28)  # 21:32 to 08:00
    assert held.value.message == "quiet hours: this text waits until Wed 30 Dec 08:00 UK time"
    assert channel.sent == [] and sent_log.get(request.key) is None  # the ledger says nothing went


async def test_a_text_by_day_is_sent(sent_log, make_request):
    channel = FakeChannel(ChannelKind.SMS)
    request = _text(make_request)
    receipt = await ActivityEnvironment().run(activities(sent_log, channel, clock=_at(8, 0)).send_message, request)
    assert [r.key for r, _ in channel.sent] == [request.key] and sent_log.get(request.key) == receipt


async def test_a_text_already_sent_is_answered_from_the_ledger_at_night_and_not_sent_again(sent_log, make_request):
    channel = FakeChannel(ChannelKind.SMS)
    request = _text(make_request)
    first = await ActivityEnvironment().run(activities(sent_log, channel, clock=_at(19, 59)).send_message, request)
    again = await ActivityEnvironment().run(activities(sent_log, channel, clock=_at(20, 1)).send_message, request)
    assert again.duplicate and again.provider_id == first.provider_id and len(channel.sent) == 1


async def test_emails_and_letters_carry_no_quiet_hours_and_go_at_any_hour(sent_log, make_request):
    from temporalio.contrib.pydantic import pydantic_data_converter

    channel = FakeChannel(ChannelKind.EMAIL)
    request = make_request(MessageKind.ACKNOWLEDGEMENT)
    # Left out of the payload: a worker of the previous release still decodes every email and letter.
    [payload] = pydantic_data_converter.payload_converter.to_payloads([request])
    assert b"text_hours" not in payload.data
    await ActivityEnvironment().run(activities(sent_log, channel, clock=_at(23, 30)).send_message, request)
    assert len(channel.sent) == 1
