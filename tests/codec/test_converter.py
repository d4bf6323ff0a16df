from __future__ import annotations

import pytest
from pydantic import BaseModel
from temporalio.api.failure.v1 import Failure
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DefaultFailureConverterWithEncodedAttributes
from temporalio.exceptions import ApplicationError

from codec.converter import data_converter
from codec.encryption import EncryptionCodec
from codec.keyring import CodecSettings

CUSTOMER_NAME = "Siobhan O'Reilly-Okafor"


class ComplaintContact(BaseModel):
    complaint_ref: str
    customer_name: str


async def test_without_keys_payloads_are_plaintext_tagged_with_the_process_that_wrote_them() -> None:
    converter = data_converter(CodecSettings(), sender="starter.py pid 1 on laptop")
    contact = ComplaintContact(complaint_ref="CMP-1", customer_name=CUSTOMER_NAME)

    [payload] = await converter.encode([contact])

    assert converter.payload_converter_class is pydantic_data_converter.payload_converter_class
    assert payload.metadata["complaints-sender"] == b"starter.py pid 1 on laptop"
    assert await converter.decode([payload], [ComplaintContact]) == [contact]


def test_settings_are_read_from_the_environment_when_not_given(monkeypatch: pytest.MonkeyPatch, k1: str) -> None:
    monkeypatch.setenv("COMPLAINTS_CODEC_KEYS", f"k1:{k1}")

    converter = data_converter()

    assert isinstance(converter.payload_codec, EncryptionCodec)
    assert converter.payload_codec.keyring.default_key_id == "k1"


async def test_with_keys_values_round_trip_encrypted(k1: str) -> None:
    converter = data_converter(CodecSettings(keys=f"k1:{k1}"))
    contact = ComplaintContact(complaint_ref="CMP-1", customer_name=CUSTOMER_NAME)

    [payload] = await converter.encode([contact])

    assert converter.payload_converter_class is pydantic_data_converter.payload_converter_class
    assert payload.metadata["encoding"] == b"binary/encrypted"
    assert CUSTOMER_NAME.encode() not in payload.SerializeToString()
    assert await converter.decode([payload], [ComplaintContact]) == [contact]


async def test_failure_messages_are_encrypted_too(k1: str) -> None:
    converter = data_converter(CodecSettings(keys=f"k1:{k1}"))
    failure = Failure()

    await converter.encode_failure(ApplicationError(f"SMS to {CUSTOMER_NAME} bounced", type="SmsBounced"), failure)

    assert converter.failure_converter_class is DefaultFailureConverterWithEncodedAttributes
    assert CUSTOMER_NAME.encode() not in failure.SerializeToString()
    restored = await converter.decode_failure(failure)
    assert CUSTOMER_NAME in str(restored)
