"""Encryption fails closed: no keys, no start; plaintext payloads are refused by a worker that
requires encryption; keys come from the secrets file; key files must be private."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel
from temporalio.converter import ActivitySerializationContext, WorkflowSerializationContext

from codec.converter import EncryptionRequiredError, data_converter
from codec.encryption import EncryptionCodec, PlaintextPayloadRefused
from codec.keyring import CodecSettings

CUSTOMER_NAME = "Gwen Pritchard"


class CaseInputLike(BaseModel):
    reference: str
    customer_name: str


def _case_context(workflow_id: str) -> WorkflowSerializationContext:
    return WorkflowSerializationContext(namespace="default", workflow_id=workflow_id)


def test_a_process_without_keys_refuses_to_start_when_encryption_is_required(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COMPLAINTS_REQUIRE_ENCRYPTION", "true")
    with pytest.raises(EncryptionRequiredError, match="refusing to start"):
        data_converter()


async def test_a_worker_that_requires_encryption_refuses_a_plaintext_payload_naming_its_sender(k1: str) -> None:
    keyless_starter = data_converter(CodecSettings(), sender="starter.py pid 4242 on intake-01")
    [plaintext] = await keyless_starter.encode(
        [CaseInputLike(reference="CC-2026-T7MH3PQR", customer_name=CUSTOMER_NAME)]
    )
    assert CUSTOMER_NAME.encode() in plaintext.data  # what a keyless process writes into history

    worker = data_converter(CodecSettings(keys=f"k1:{k1}", require_encryption=True))
    with pytest.raises(PlaintextPayloadRefused) as refused:
        await worker.with_context(_case_context("CC-2026-T7MH3PQR")).decode([plaintext], [CaseInputLike])

    message = str(refused.value)
    assert "starter.py pid 4242 on intake-01" in message
    assert "CC-2026-T7MH3PQR" in message and "UNENCRYPTED" in message
    assert CUSTOMER_NAME not in message


async def test_a_payload_from_outside_the_pipeline_is_refused_too(k1: str) -> None:
    from temporalio.contrib.pydantic import pydantic_data_converter

    [plaintext] = await pydantic_data_converter.encode([CaseInputLike(reference="CC-1", customer_name=CUSTOMER_NAME)])
    codec = EncryptionCodec(CodecSettings(keys=f"k1:{k1}").keyring(), require_encryption=True)
    with pytest.raises(PlaintextPayloadRefused, match="outside this pipeline"):
        await codec.decode([plaintext])


async def test_the_allow_list_admits_only_histories_from_before_encryption(k1: str) -> None:
    keyless = data_converter(CodecSettings())
    [plaintext] = await keyless.encode([CaseInputLike(reference="CC-2026-OLDCASE", customer_name="x")])
    worker = data_converter(
        CodecSettings(keys=f"k1:{k1}", require_encryption=True, plaintext_allowed_cases="CC-2026-OLD1,CC-2026-OLD2")
    )

    [decoded] = await worker.with_context(_case_context("CC-2026-OLD2")).decode([plaintext], [CaseInputLike])
    assert decoded.reference == "CC-2026-OLDCASE"
    # An activity result of an allowed case carries the case's id in an activity context.
    activity = ActivitySerializationContext(
        namespace="default",
        activity_id="1",
        activity_type="send_message",
        activity_task_queue="q",
        workflow_id="CC-2026-OLD1",
        workflow_type="ComplaintCase",
        is_local=False,
    )
    assert await worker.with_context(activity).decode([plaintext], [CaseInputLike])
    with pytest.raises(PlaintextPayloadRefused):
        await worker.with_context(_case_context("CC-2026-NEW1")).decode([plaintext], [CaseInputLike])


async def test_encrypted_payloads_still_decode_when_encryption_is_required(k1: str) -> None:
    worker = data_converter(CodecSettings(keys=f"k1:{k1}", require_encryption=True))
    value = CaseInputLike(reference="CC-2026-T7MH3PQR", customer_name=CUSTOMER_NAME)
    payloads = await worker.encode([value])
    assert await worker.with_context(_case_context("CC-2026-T7MH3PQR")).decode(payloads, [CaseInputLike]) == [value]


def test_codec_keys_load_from_the_secrets_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, k1: str) -> None:
    secrets = tmp_path / "secrets.env"
    secrets.write_text(f"COMPLAINTS_SENDGRID_API_KEY=SG.x\nCOMPLAINTS_CODEC_KEYS=k1:{k1}\n")
    secrets.chmod(0o600)
    monkeypatch.setenv("COMPLAINTS_SECRETS_FILE", str(secrets))

    ring = CodecSettings().keyring()

    assert ring is not None and list(ring) == ["k1"]


def test_a_keys_file_other_users_can_read_is_refused(tmp_path: Path, k1: str) -> None:
    keys_file = tmp_path / "codec.keys"
    keys_file.write_text(f"k1:{k1}\n")
    keys_file.chmod(0o644)

    with pytest.raises(ValueError, match="chmod 600") as refused:
        CodecSettings(keys_file=keys_file)
    assert k1 not in str(refused.value)


@pytest.mark.parametrize("padded", [True, False])
def test_a_key_entry_with_id_and_key_swapped_never_prints_the_key(k1: str, padded: bool) -> None:
    key = k1 if padded else k1.rstrip("=")  # unpadded, the key is a valid-looking id
    with pytest.raises(ValueError) as refused:
        CodecSettings(keys=f"{key}:k1")
    shown = str(refused.value)
    assert "entry 1" in shown
    assert key[:12] not in shown
