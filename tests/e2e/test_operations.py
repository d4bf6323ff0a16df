"""What handlers, managers and on-call engineers do with running cases, through admin.py."""

from __future__ import annotations

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from temporalio.client import Client

from domain.reference import reference_for_intake
from tests.e2e.conftest import ALL_HOURS, Stack
from tests.e2e.test_case_end_to_end import fresh_example

pytestmark = pytest.mark.e2e
TODAY = datetime.now(ZoneInfo("Europe/London")).date().isoformat()


def pending_attempts(stack: Stack, reference: str) -> int:
    async def describe() -> int:
        client = await Client.connect(stack.server.address)
        description = await client.get_workflow_handle(reference).describe()
        return max((p.attempt for p in description.raw_description.pending_activities), default=0)

    return asyncio.run(describe())


def listed(stack: Stack, *flags: str) -> str:
    result = stack.run("admin.py", "list", *flags)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_search_attributes_follow_the_case_through_its_stages(stack: Stack) -> None:
    reference = stack.file(fresh_example(), **ALL_HOURS)
    assert stack.eventually(lambda: reference in listed(stack, "--stage", "investigating"))
    assert reference in listed(stack, "--open", "--owner", stack.status(reference)["owner_id"])
    assert stack.run("admin.py", "not-satisfied", reference, "--reason", "No engineer came").returncode == 0
    assert stack.eventually(lambda: reference in listed(stack, "--escalated"))
    assert stack.run("admin.py", "satisfied", reference, "--how", "phone").returncode == 0
    assert stack.eventually(lambda: reference in listed(stack, "--stage", "closed"))
    assert reference not in listed(stack, "--open")


def test_a_send_that_keeps_failing_needs_attention_until_an_engineer_fixes_it_and_retries(stack: Stack) -> None:
    intake_id = f"retry-{datetime.now().timestamp()}"
    year = datetime.now(ZoneInfo("Europe/London")).year
    reference = reference_for_intake(year, intake_id)
    # Break the outbox for this case: its folder is a file, so every send fails "not a directory".
    blocker = stack.data_dir / "outbox" / reference
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("in the way")

    filed = stack.file(fresh_example(intake_id), COMPLAINTS_POLICY__ATTENTION_AFTER_MINUTES="0.1")
    assert filed == reference
    attention = stack.eventually(lambda: reference in (out := listed(stack, "--attention")) and out, timeout=60)
    assert attention and "keeps failing" in attention
    assert stack.status(reference)["stage"] == "received"

    # Fix it only once the send is deep in backoff (20 s or more to its next attempt), so it is the
    # engineer's retry, not the next scheduled attempt, that gets it through.
    assert stack.eventually(lambda: pending_attempts(stack, reference) >= 3, timeout=60)
    blocker.unlink()  # the fix
    retried = stack.run("admin.py", "retry", reference)
    assert retried.returncode == 0, retried.stderr
    assert "retrying send_message" in retried.stdout and "not writable" in retried.stdout

    # The retry runs at once, long before the send's next backoff (20 s or more by now).
    status = stack.wait_for(reference, lambda d: d["stage"] != "received", timeout=8)
    assert status["stage"] in ("acknowledged", "investigating")
    acks = list((stack.data_dir / "outbox" / reference).glob("*acknowledgement*"))
    assert len(acks) == 1
    assert stack.eventually(lambda: reference not in listed(stack, "--attention"))
    assert stack.run("admin.py", "retry", reference).stdout.strip().endswith("no step was retried")


def test_the_worker_serves_prometheus_metrics_for_cases_and_messages(stack: Stack) -> None:
    import urllib.request

    reference = stack.file(fresh_example())
    stack.wait_for(reference, lambda d: d["stage"] != "received")

    def scrape() -> str | None:
        with urllib.request.urlopen(f"http://127.0.0.1:{stack.metrics_port}/metrics", timeout=5) as r:
            text = r.read().decode()
        return text if "complaints_messages" in text else None

    metrics = stack.eventually(scrape, timeout=20)
    assert metrics, "no pipeline metrics on the worker's endpoint"
    assert "complaints_cases_opened" in metrics
    assert 'channel="email"' in metrics and 'status="sent"' in metrics
    assert "temporal_" in metrics  # the SDK's own runtime metrics, on the same endpoint
    assert "gwen" not in metrics.lower()  # no customer data in labels
