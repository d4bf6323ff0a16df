"""The forwarder: pending rows of the inbound queue, to their cases in Temporal.

It runs beside the web routes in the same process, in batches (bounded memory whatever the flood),
a few signals at a time. While Temporal is unreachable nothing is marked: the batch is tried again
with a doubling back-off, so events accepted during an outage reach their cases after it.

Where each item goes:
- a delivery event: its case (the reference is the message key's first part); if the case has
  closed, the case archive's addenda; if neither knows the reference, it is kept as "orphaned".
- an e-mail reply: the case its plus-address or subject names; a sender's address hash if it names
  none; an SMS reply: the one open case whose `CustomerContactKeys` holds the sender's number hash
  (with none open, the one closed case that holds it).
  No open case, or several: the unmatched list, for staff. A closed case: its archive addenda, and
  the unmatched list too, since nobody is watching a closed case. Either way a `CustomerReplyNotice`
  workflow tells the Customer Service Managers (`workflows/reply_notice.py`): the list alone is read
  only when someone thinks to.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

from temporalio.client import Client
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.archive import CaseArchive
from domain import search_attributes as sa
from domain.models import ChannelKind, CustomerReply, DeliveryEvent
from domain.reply_notices import (
    flood_notice,
    flood_workflow_id,
    notice_hour,
    notice_workflow_id,
    unmatched_reply_notice,
)
from inbound.queue import (
    ARCHIVED,
    CUSTOMER_REPLY,
    ORPHANED,
    SIGNALLED,
    UNMATCHED,
    InboundQueue,
    QueuedItem,
)
from ops.contact_keys import email_key, phone_key

log = logging.getLogger("complaints.inbound")

# The workflow's names for these (workflows/complaint_case.py): part of the contract.
DELIVERY_EVENT_SIGNAL = "delivery_event"
CUSTOMER_REPLY_SIGNAL = "customer_reply"
# workflows/reply_notice.py, run by the workers of the cases' task queue.
REPLY_NOTICE_WORKFLOW = "CustomerReplyNotice"

# Statuses that mean "the server cannot be reached now": retry the whole batch later.
_OUTAGE = (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED)


class TemporalUnavailable(Exception):
    """Temporal did not answer: nothing was settled, the batch is retried after a back-off."""


@contextmanager
def _outage_is_unavailable() -> Iterator[None]:
    """A call to the server that could not reach it raises `TemporalUnavailable`; others pass through."""
    try:
        yield
    except RPCError as exc:
        if exc.status in _OUTAGE:
            raise TemporalUnavailable(exc.message) from None
        raise
    except RuntimeError as exc:  # the SDK's "failed client connect" and the like
        raise TemporalUnavailable(str(exc)) from None


class Forwarder:
    def __init__(
        self,
        queue: InboundQueue,
        connect: Callable[[], Awaitable[Client]],
        *,
        archive: CaseArchive | None,
        sealed: Callable[[str], str],
        contact_key_secret: str | None,
        notice_queue: str | None,
        notices_per_hour: int = 30,
        batch_size: int = 200,
        concurrency: int = 32,
        retry_first: float = 0.5,
        retry_max: float = 30.0,
    ) -> None:
        self._queue = queue
        self._connect = connect
        self._client: Client | None = None
        self._archive = archive
        self._seal = sealed
        self._secret = contact_key_secret
        # The workers' task queue, where the notice of an unmatched reply runs; None: no notice.
        self._notice_queue = notice_queue
        # Past this many unmatched replies received in one hour, one notice for the rest of it.
        self._notices_per_hour = notices_per_hour
        self._batch_size = batch_size
        self._concurrency = concurrency
        self._retry_first = retry_first
        self._retry_max = retry_max
        # Set by the web routes when something new is persisted: the loop wakes at once.
        self.wake = asyncio.Event()
        self._settled: list[tuple[str, str, str, str | None]] = []

    async def run(self) -> None:
        """Forward until cancelled."""
        delay = self._retry_first
        while True:
            try:
                forwarded = await self.forward_due()
                delay = self._retry_first
                if forwarded:
                    continue  # more may be waiting: drain before sleeping
                timeout = 1.0  # rows whose per-item back-off ends are picked up within a second
            except TemporalUnavailable as exc:
                log.warning("Temporal unavailable, retrying in %.1fs: %s", delay, exc)
                timeout, delay = delay, min(delay * 2, self._retry_max)
            self.wake.clear()
            try:
                await asyncio.wait_for(self.wake.wait(), timeout)
            except TimeoutError:
                pass

    async def client(self) -> Client:
        if self._client is None:
            try:
                self._client = await self._connect()
            except Exception as exc:  # noqa: BLE001 - any failure to connect is an outage here
                raise TemporalUnavailable(f"cannot connect: {exc}") from None
        return self._client

    async def forward_due(self) -> int:
        """One batch of due rows; returns how many were settled."""
        items = await asyncio.to_thread(self._queue.due, self._batch_size)
        if not items:
            return 0
        client = await self.client()
        limit = asyncio.Semaphore(self._concurrency)
        outage: list[Exception] = []
        # Marked in one transaction after the batch: a crash before it re-sends some signals, which
        # the case ignores (it keeps the ids of the events it applied); it never loses one.
        self._settled = []

        async def one(item: QueuedItem) -> bool:
            async with limit:
                if outage:
                    return False
                try:
                    await self._forward(client, item)
                    return True
                except TemporalUnavailable as exc:
                    outage.append(exc)
                except Exception as exc:  # noqa: BLE001 - one bad row must not stop the others
                    # Never dropped: retried with its own back-off, and the reason kept on the row.
                    attempts = item.attempts + 1
                    backoff = min(self._retry_first * 2**attempts, self._retry_max * 10)
                    log.warning("item %s not forwarded (attempt %d): %s", item.item_id, attempts, exc)
                    await asyncio.to_thread(
                        self._queue.retry_later, item.item_id, attempts, timedelta(seconds=backoff), str(exc)
                    )
                return False

        settled = sum(await asyncio.gather(*(one(item) for item in items)))
        if self._settled:
            await asyncio.to_thread(self._queue.settle, self._settled)
        if outage and not settled:
            raise TemporalUnavailable(str(outage[0]))
        return settled

    async def _forward(self, client: Client, item: QueuedItem) -> None:
        if isinstance(item.item, DeliveryEvent):
            await self._forward_event(client, item, item.item)
        else:
            await self._forward_reply(client, item, item.item)

    async def _signal(self, client: Client, reference: str, name: str, arg: object) -> bool:
        """True if the case took the signal; False if it is not open (closed, or never existed)."""
        with _outage_is_unavailable():
            try:
                await client.get_workflow_handle(reference).signal(name, arg)
                return True
            except RPCError as exc:
                if exc.status is RPCStatusCode.NOT_FOUND:
                    return False
                raise

    async def _forward_event(self, client: Client, item: QueuedItem, event: DeliveryEvent) -> None:
        reference = event.message_key.split("/", 1)[0]
        if await self._signal(client, reference, DELIVERY_EVENT_SIGNAL, event):
            await self._settle(item, SIGNALLED, f"signalled {reference}", reference)
        elif await self._append_to_archive(reference, item):
            await self._settle(item, ARCHIVED, f"{reference} is closed: appended to its archive record", reference)
        else:
            await self._settle(item, ORPHANED, f"no case {reference} in Temporal or the archive", reference)

    async def _forward_reply(self, client: Client, item: QueuedItem, reply: CustomerReply) -> None:
        reference, why_not, closed = item.reference, "", False
        named = reference is not None
        if reference is None:
            reference, why_not = await self._case_of_sender(client, reply)
        if reference is not None:
            if await self._signal(client, reference, CUSTOMER_REPLY_SIGNAL, reply):
                await self._settle(item, SIGNALLED, f"signalled {reference}", reference)
                return
            closed = await self._append_to_archive(reference, item)
            if closed:
                why_not = f"case {reference} is closed (the reply is kept in its archive record)"
            elif named:
                why_not = f"it names {reference}, which is not an open case"
            else:
                why_not = f"the sender's contact details are those of case {reference}, which is not open"
        await asyncio.to_thread(self._queue.add_unmatched, reply, why_not)
        await self._tell_the_managers(client, item, reply, closed_case=reference if closed else None, why=why_not)
        await self._settle(item, UNMATCHED, why_not, reference)

    async def _tell_the_managers(
        self, client: Client, item: QueuedItem, reply: CustomerReply, *, closed_case: str | None, why: str
    ) -> None:
        """Start the reply's notice; once per item, however often a crash makes us settle it again.
        Past the hour's cap, the hour's one flood notice instead (started once)."""
        if self._notice_queue is None:
            return
        notice = unmatched_reply_notice(item.item_id, reply, closed_case=closed_case, why=why)
        workflow_id = notice_workflow_id(item.item_id)
        start, end = notice_hour(reply.received_at)
        if await asyncio.to_thread(self._queue.unmatched_between, start, end) > self._notices_per_hour:
            notice, workflow_id = flood_notice(start, self._notices_per_hour), flood_workflow_id(start)
            closed_case = None  # the hour's notice is about no one case
        try:
            with _outage_is_unavailable():
                await client.start_workflow(
                    REPLY_NOTICE_WORKFLOW,
                    notice,
                    id=workflow_id,
                    task_queue=self._notice_queue,
                    id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                    id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                    static_summary=notice.subject,
                    # Searching a closed case's reference in the Web UI finds the reply beside the case.
                    search_attributes=TypedSearchAttributes(
                        [SearchAttributePair(sa.CASE_REFERENCE, closed_case)] if closed_case else []
                    ),
                )
        except WorkflowAlreadyStartedError:
            pass  # started before a crash kept this item from being marked: the notice is on its way

    async def _case_of_sender(self, client: Client, reply: CustomerReply) -> tuple[str | None, str]:
        """The one open case whose contact keys hold the sender's; with none open, the one closed
        case that holds them (its reply goes beside its record, and its notice names it); else
        (None, why not)."""
        if self._secret is None:
            return None, "no case reference in it, and no COMPLAINTS_CONTACT_KEY_SECRET to look the sender up"
        key = (
            phone_key(self._secret, reply.sender)
            if reply.channel is ChannelKind.SMS
            else email_key(self._secret, reply.sender)
        )
        if key is None:
            return None, "the sender is not a phone number"
        holds = f"WorkflowType = 'ComplaintCase' AND {sa.CUSTOMER_CONTACT_KEYS.name} = '{key}'"
        with _outage_is_unavailable():
            found = [wf.id async for wf in client.list_workflows(f"{holds} AND ExecutionStatus = 'Running'", limit=3)]
            if len(found) > 1:
                return None, f"{len(found)} open cases have this sender's contact details: {', '.join(sorted(found))}"
            if found:
                return found[0], ""
            # A re-opened case has a run per period: one case, however many runs.
            ended = {wf.id async for wf in client.list_workflows(f"{holds} AND ExecutionStatus != 'Running'", limit=20)}
        if len(ended) == 1:
            return ended.pop(), ""
        if ended:
            return None, f"no open case has this sender's contact details; closed cases {', '.join(sorted(ended))} do"
        return None, "no open case has this sender's contact details"

    async def _append_to_archive(self, reference: str, item: QueuedItem) -> bool:
        if self._archive is None or not await asyncio.to_thread(self._archive.holds, reference):
            return False
        body = self._seal(item.item.model_dump_json())
        await asyncio.to_thread(self._archive.append, reference, item.item_id, item.kind, body)
        return True

    async def _settle(self, item: QueuedItem, state: str, outcome: str, reference: str | None) -> None:
        self._settled.append((item.item_id, state, outcome, reference))
        log.info("%s %s: %s", "reply" if item.kind == CUSTOMER_REPLY else "event", item.item_id, outcome)
