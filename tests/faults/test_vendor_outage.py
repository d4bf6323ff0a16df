"""SendGrid and Twilio are down (503) when a batch of complaints arrives, then come back.

The worker sends through the real SendGrid and Twilio channels to Prism (serving the vendors' own
OpenAPI specs) behind a proxy that plays the outage. Every case still gets every message once the
vendor is back, and the vendor accepts each message exactly once.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.faults.conftest import FaultStack, Scenarios
from tests.faults.harness import (
    EXPECTED_SENDS,
    ledger_keys,
    problems_after_closure,
    problems_before_closure,
)
from tests.faults.vendor_proxy import PRISM, OutageProxy, sendgrid_message_key, twilio_recipient, vendor_env
from tests.peers.peers import SENDGRID_SPEC, TWILIO_SPEC

BATCH = 6
# The workflow retries a send after 5 s, then 10 s more: a 10 s outage costs a message two refused
# attempts and puts it through on the third, about 15 s after the first. SendGrid is down from the
# moment the batch is filed; Twilio (first used for the introduction, once the acknowledgement is
# out) from its first request, so both outages meet the cases.
OUTAGE_SECONDS = 10.0

pytestmark = pytest.mark.e2e


async def vendors_down_when_complaints_arrive(stack: FaultStack) -> None:
    intakes = stack.intakes(BATCH)
    references = [stack.reference(i) for i in intakes]
    phone_of = {stack.reference(i): i.customer.phone for i in intakes}

    sendgrid_url, twilio_url = await asyncio.gather(
        asyncio.to_thread(PRISM.url, SENDGRID_SPEC, stack.processes.logs),
        asyncio.to_thread(PRISM.url, TWILIO_SPEC, stack.processes.logs),
    )
    with (
        OutageProxy(sendgrid_url, sendgrid_message_key) as sendgrid,
        OutageProxy(twilio_url, twilio_recipient) as twilio,
    ):
        stack.worker_env = vendor_env(sendgrid, twilio)
        worker = await stack.start_worker("worker-vendors")
        assert "SendGridEmailChannel" in worker.log_text() and "TwilioSmsChannel" in worker.log_text()

        sendgrid.outage(OUTAGE_SECONDS)
        twilio.outage(OUTAGE_SECONDS, from_first_request=True)
        assert await asyncio.gather(*(stack.file(i) for i in intakes)) == references

        states = await stack.wait_for_states(
            references, lambda s: not problems_before_closure(s), timeout=120, what="every case introduced"
        )
        assert [p for s in states.values() for p in problems_before_closure(s)] == []
        final = await stack.close_all(references, through_admin=1)

    problems = [p for r in references for p in problems_after_closure(final[r])]
    assert problems == []
    emails = {m.key for r in references for m in final[r].messages if m.channel.value == "email"}
    assert len(emails) == BATCH * sum(1 for _, channel in EXPECTED_SENDS if channel == "email")

    # Every case met both outages: its first email and its SMS were each refused at least once.
    refused = sendgrid.refused()
    acknowledgements = [m.key for r in references for m in final[r].messages if m.kind.value == "acknowledgement"]
    assert all(refused[key] >= 1 for key in acknowledgements), refused
    assert all(twilio.refused()[phone_of[r]] >= 1 for r in references), twilio.refused()
    # Once back, the vendors accepted each message exactly once, and Prism found every request
    # valid against the vendor's spec.
    assert sendgrid.upstream_errors() == [] and twilio.upstream_errors() == []
    assert sendgrid.accepted() == {key: 1 for key in emails}
    assert twilio.accepted() == {phone_of[r]: 1 for r in references}
    sms = [m for r in references for m in final[r].messages if m.channel.value == "sms"]
    assert all(m.provider_id and m.provider_id.startswith("SM") for m in sms)
    # The ledger agrees, and nothing fell back to the outbox.
    assert set(ledger_keys(stack.data_dir)) == emails | {m.key for m in sms}
    assert not (stack.outbox).exists() or not any(stack.outbox.rglob("*.eml"))


@pytest.mark.fault_scenario.with_args(vendors_down_when_complaints_arrive)
async def test_complaints_filed_during_a_vendor_outage_get_every_message_once_it_is_back(
    scenarios: Scenarios, request: pytest.FixtureRequest
) -> None:
    await scenarios.outcome(request.node)
