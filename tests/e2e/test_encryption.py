"""Customer data is encrypted in Temporal's history, and survives a key rotation mid-case."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from temporalio.client import Client

from codec.converter import data_converter
from codec.keyring import CodecSettings, generate_key
from tests.e2e.conftest import running_stack
from tests.e2e.test_case_end_to_end import fresh_example

pytestmark = pytest.mark.e2e

CUSTOMER_SECRETS = [
    "Gwen Pritchard",
    "gwen.pritchard@example.com",
    "+447911123456",
    "Bethcar Street",
    "NP23 6HH",
    "dental practice",  # from the complaint text
]


async def raw_history(address: str, reference: str) -> bytes:
    """The history's events as the server stores them (payload bytes included), fetched without keys."""
    client = await Client.connect(address)
    history = await client.get_workflow_handle(reference).fetch_history()
    return b"".join(event.SerializeToString() for event in history.events)


async def test_without_keys_history_is_readable_which_is_what_encryption_prevents(dev_server, tmp_path) -> None:
    with running_stack(dev_server, tmp_path) as stack:
        reference = stack.file(fresh_example())
        stack.wait_for(reference, lambda d: d["stage"] != "received")
    raw = await raw_history(dev_server.address, reference)
    assert b"Gwen Pritchard" in raw and b"dental practice" in raw


async def test_customer_data_is_encrypted_in_history_and_survives_key_rotation(dev_server, tmp_path) -> None:
    key_1 = generate_key()
    queue = f"encrypted-{uuid.uuid4().hex[:8]}"
    with running_stack(dev_server, tmp_path, COMPLAINTS_CODEC_KEYS=f"k1:{key_1}", COMPLAINTS_TASK_QUEUE=queue) as stack:
        reference = stack.file(fresh_example())
        stack.wait_for(reference, lambda d: d["stage"] != "received")
        assert stack.run("admin.py", "note", reference, "Visit booked at the dental practice").returncode == 0

    raw = await raw_history(dev_server.address, reference)
    for secret in CUSTOMER_SECRETS:
        assert secret.encode() not in raw, f"{secret!r} is readable in history"
    assert b"binary/encrypted" in raw and b"k1" in raw
    assert reference.encode() in raw  # the reference is metadata and stays searchable

    # Key 2 becomes the default; the case started under key 1 carries on and closes.
    key_2 = generate_key()
    rotated = f"k1:{key_1},k2:{key_2}"
    with running_stack(dev_server, tmp_path, COMPLAINTS_CODEC_KEYS=rotated, COMPLAINTS_TASK_QUEUE=queue) as stack:
        status = stack.status(reference)  # decodes payloads written under k1
        assert status["owner"]
        assert stack.run("admin.py", "satisfied", reference, "--how", "phone").returncode == 0
        closed = stack.wait_for(reference, lambda d: d["stage"] == "closed")
        assert closed["stage"] == "closed"
        evidence = json.loads(stack.run("admin.py", "evidence", reference).stdout)
        assert evidence["customer"] == "Gwen Pritchard"  # decrypted for someone holding the keys

    raw = await raw_history(dev_server.address, reference)
    for secret in CUSTOMER_SECRETS:
        assert secret.encode() not in raw
    assert b"k2" in raw  # payloads written after the rotation carry the new key's id


async def _workflow_task_failures(client: Client, reference: str) -> list[str]:
    """The (decrypted) messages of the case's failed workflow tasks."""
    history = await client.get_workflow_handle(reference).fetch_history()
    messages = []
    for event in history.events:
        if event.HasField("workflow_task_failed_event_attributes"):
            failure = await client.data_converter.decode_failure(event.workflow_task_failed_event_attributes.failure)
            messages.append(str(failure))
    return messages


async def test_a_case_filed_without_keys_is_refused_by_a_worker_that_requires_encryption(dev_server, tmp_path) -> None:
    key = generate_key()
    queue = f"fail-closed-{uuid.uuid4().hex[:8]}"
    with running_stack(
        dev_server,
        tmp_path,
        COMPLAINTS_TASK_QUEUE=queue,
        COMPLAINTS_CODEC_KEYS=f"k1:{key}",
        COMPLAINTS_REQUIRE_ENCRYPTION="true",
    ) as stack:
        # An intake process someone forgot to give the keys (and the require flag) to.
        reference = stack.file(fresh_example(), COMPLAINTS_CODEC_KEYS="", COMPLAINTS_REQUIRE_ENCRYPTION="")
        client = await Client.connect(
            dev_server.address, data_converter=data_converter(CodecSettings(keys=f"k1:{key}"))
        )
        failures: list[str] = []
        for _ in range(100):  # the worker picks the task up within a second or two
            failures = await _workflow_task_failures(client, reference)
            if failures:
                break
            await asyncio.sleep(0.3)
        await asyncio.sleep(2)  # time enough for anything the worker would (wrongly) do next

    assert failures, "the worker should have failed the case's workflow task"
    assert "UNENCRYPTED" in failures[0] and "starter.py pid" in failures[0], failures[0]
    history = await client.get_workflow_handle(reference).fetch_history()
    done = [event.WhichOneof("attributes") for event in history.events]
    # Nothing ran: no activity, no local activity (marker), no timer, no completed workflow task.
    for kind in (
        "activity_task_scheduled_event_attributes",
        "marker_recorded_event_attributes",
        "timer_started_event_attributes",
        "workflow_task_completed_event_attributes",
    ):
        assert kind not in done, f"{kind} in history: the worker processed a plaintext case"
    outbox = stack.data_dir / "outbox"
    assert not outbox.exists() or not any(outbox.rglob("*")), "a message was sent"
    await client.get_workflow_handle(reference).terminate("test clean-up")


def test_a_starter_without_keys_refuses_to_start_a_case_when_encryption_is_required(stack) -> None:
    filed = stack.run(
        "starter.py",
        "-",
        stdin=fresh_example(),
        env={"COMPLAINTS_CODEC_KEYS": "", "COMPLAINTS_REQUIRE_ENCRYPTION": "true"},
    )
    assert filed.returncode == 3
    assert "refusing to start" in filed.stderr
    assert filed.stdout == ""


async def test_with_encryption_required_every_process_keyed_a_case_runs_to_closure(dev_server, tmp_path) -> None:
    # Fail closed must not mean fail always: nothing our own processes write may be plaintext.
    key = generate_key()
    with running_stack(
        dev_server,
        tmp_path,
        COMPLAINTS_TASK_QUEUE=f"required-{uuid.uuid4().hex[:8]}",
        COMPLAINTS_CODEC_KEYS=f"k1:{key}",
        COMPLAINTS_REQUIRE_ENCRYPTION="true",
    ) as stack:
        reference = stack.file(fresh_example())
        stack.wait_for(reference, lambda d: d["stage"] != "received")
        assert stack.run("admin.py", "note", reference, "Engineer booked").returncode == 0
        assert stack.run("admin.py", "satisfied", reference, "--how", "phone").returncode == 0
        closed = stack.wait_for(reference, lambda d: d["stage"] == "closed")
        assert closed["stage"] == "closed"
        evidence = stack.run("admin.py", "evidence", reference)
        assert evidence.returncode == 0, evidence.stderr

    client = await Client.connect(dev_server.address, data_converter=data_converter(CodecSettings(keys=f"k1:{key}")))
    assert await _workflow_task_failures(client, reference) == []
