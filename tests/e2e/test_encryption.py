"""Customer data is encrypted in Temporal's history, and survives a key rotation mid-case."""

from __future__ import annotations

import json
import uuid

import pytest
from temporalio.client import Client

from codec.keyring import generate_key
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
