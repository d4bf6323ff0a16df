from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter

from codec.encryption import EncryptionCodec, PayloadDecryptionError
from codec.keyring import CodecSettings, Keyring

CUSTOMER_NAME = "Siobhan O'Reilly-Okafor"


class ComplaintContact(BaseModel):
    complaint_ref: str
    customer_name: str
    phone: str


def _contact_payloads() -> list[Payload]:
    contact = ComplaintContact(complaint_ref="CMP-2025-000123", customer_name=CUSTOMER_NAME, phone="+447911123456")
    return pydantic_data_converter.payload_converter.to_payloads([contact])


async def test_round_trip_restores_the_original_payload(ring_k1: Keyring) -> None:
    codec = EncryptionCodec(ring_k1)
    originals = _contact_payloads()

    decoded = await codec.decode(await codec.encode(originals))

    assert decoded == originals
    [contact] = pydantic_data_converter.payload_converter.from_payloads(decoded, [ComplaintContact])
    assert contact.customer_name == CUSTOMER_NAME


async def test_ciphertext_holds_no_customer_details(ring_k1: Keyring) -> None:
    codec = EncryptionCodec(ring_k1)

    [encoded] = await codec.encode(_contact_payloads())

    stored = encoded.SerializeToString()
    assert CUSTOMER_NAME.encode() not in stored
    assert b"+447911123456" not in stored
    # The original's own metadata is sealed too, so not even the type of data is visible.
    assert b"json/plain" not in stored
    assert dict(encoded.metadata) == {
        "encoding": b"binary/encrypted",
        "encryption-key-id": b"k1",
    }


async def test_each_encryption_uses_a_fresh_nonce(ring_k1: Keyring) -> None:
    codec = EncryptionCodec(ring_k1)

    [first] = await codec.encode(_contact_payloads())
    [second] = await codec.encode(_contact_payloads())

    assert first.data[:12] != second.data[:12]
    assert first.data != second.data


async def test_old_payloads_decrypt_after_rotation(ring_k1: Keyring, ring_k1_k2: Keyring) -> None:
    written_before_rotation = await EncryptionCodec(ring_k1).encode(_contact_payloads())
    rotated = EncryptionCodec(ring_k1_k2)

    assert await rotated.decode(written_before_rotation) == _contact_payloads()
    [written_after] = await rotated.encode(_contact_payloads())
    assert written_after.metadata["encryption-key-id"] == b"k2"
    assert await rotated.decode([written_after]) == _contact_payloads()


@pytest.mark.parametrize("position", [0, 11, 12, 30, -1], ids=["nonce", "nonce-end", "body-start", "body", "tag"])
async def test_tampered_ciphertext_is_refused(ring_k1: Keyring, position: int) -> None:
    codec = EncryptionCodec(ring_k1)
    [encoded] = await codec.encode(_contact_payloads())
    data = bytearray(encoded.data)
    data[position] ^= 0x01
    tampered = Payload(metadata=encoded.metadata, data=bytes(data))

    with pytest.raises(PayloadDecryptionError, match="failed authentication"):
        await codec.decode([tampered])


async def test_relabelled_key_id_is_refused_even_with_the_same_key(k1: str) -> None:
    # Same key bytes under two ids: only binding the id as associated data catches the relabel.
    ring = CodecSettings(keys=f"k1:{k1},k1-copy:{k1}", default_key="k1").keyring()
    assert ring is not None
    codec = EncryptionCodec(ring)
    [encoded] = await codec.encode(_contact_payloads())
    relabelled = Payload(metadata={**encoded.metadata, "encryption-key-id": b"k1-copy"}, data=encoded.data)

    with pytest.raises(PayloadDecryptionError, match="failed authentication"):
        await codec.decode([relabelled])


async def test_unknown_key_id_is_refused_by_name(ring_k1: Keyring, k2: str) -> None:
    only_k2 = CodecSettings(keys=f"k2:{k2}").keyring()
    assert only_k2 is not None
    encoded = await EncryptionCodec(only_k2).encode(_contact_payloads())

    with pytest.raises(PayloadDecryptionError, match="key 'k2', which is not in the keyring"):
        await EncryptionCodec(ring_k1).decode(encoded)


async def test_truncated_and_unlabelled_payloads_are_refused(ring_k1: Keyring) -> None:
    codec = EncryptionCodec(ring_k1)
    [encoded] = await codec.encode(_contact_payloads())

    with pytest.raises(PayloadDecryptionError, match="truncated"):
        await codec.decode([Payload(metadata=encoded.metadata, data=encoded.data[:20])])
    with pytest.raises(PayloadDecryptionError, match="no 'encryption-key-id'"):
        await codec.decode([Payload(metadata={"encoding": b"binary/encrypted"}, data=encoded.data)])


async def test_unencrypted_payloads_pass_through(ring_k1: Keyring) -> None:
    # Histories written before encryption was switched on must still load.
    plain = _contact_payloads()

    assert await EncryptionCodec(ring_k1).decode(plain) == plain


@given(
    data=st.binary(max_size=2048),
    metadata=st.dictionaries(st.text(min_size=1, max_size=20), st.binary(max_size=40), max_size=4),
)
async def test_any_payload_round_trips(data: bytes, metadata: dict[str, bytes]) -> None:
    ring = Keyring({"k1": base64.b64decode("A" * 43 + "=")})
    codec = EncryptionCodec(ring)
    original = Payload(metadata=metadata, data=data)

    assert await codec.decode(await codec.encode([original])) == [original]
