"""AES-256-GCM payload codec: what Temporal stores is ciphertext, never a customer's details.

Wire format (the same as temporalio/samples-python `encryption/`, so the Go and TypeScript codec
servers and tooling interoperate): metadata `encoding: binary/encrypted` and
`encryption-key-id: <id>`; data `nonce (12 bytes) || ciphertext+tag` over the original payload
serialised whole, so its own metadata (json/plain, pydantic type hints) is hidden and restored too.
Unlike the sample, the key id is bound in as associated data, so relabelling a payload with another
id fails authentication instead of decrypting under a key nobody meant.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from codec.keyring import Keyring

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
NONCE_BYTES = 12
_TAG_BYTES = 16


class PayloadDecryptionError(ValueError):
    """A payload marked encrypted could not be decrypted: unknown key id or altered data."""


class EncryptionCodec(PayloadCodec):
    """Encrypts under the keyring's default key; decrypts under whichever key a payload names."""

    def __init__(self, keyring: Keyring) -> None:
        super().__init__()
        self._keyring = keyring
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keyring.items()}

    @property
    def keyring(self) -> Keyring:
        return self._keyring

    def __repr__(self) -> str:
        return f"EncryptionCodec({self._keyring!r})"

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(payload) for payload in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(payload) for payload in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        key_id = self._keyring.default_key_id
        # A random 96-bit nonce per payload; at our volumes the birthday bound (2^32 messages per
        # key, per NIST SP 800-38D) is many rotations away.
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[key_id].encrypt(
            nonce, payload.SerializeToString(), key_id.encode("utf-8")
        )
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID_METADATA: key_id.encode("utf-8")},
            data=nonce + sealed,
        )

    def decrypt(self, payload: Payload) -> Payload:
        # Payloads written before encryption was switched on (or by a client without the codec)
        # must still load, so anything not ours passes through untouched.
        if payload.metadata.get("encoding") != ENCODING:
            return payload
        raw_id = payload.metadata.get(KEY_ID_METADATA)
        if raw_id is None:
            raise PayloadDecryptionError(f"encrypted payload has no {KEY_ID_METADATA!r} metadata")
        key_id = raw_id.decode("utf-8", errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise PayloadDecryptionError(
                f"payload is encrypted under key {key_id!r}, which is not in the keyring"
                f" (ids: {self._keyring.ids_text()}); restore that key to read it"
            )
        data = payload.data
        if len(data) < NONCE_BYTES + _TAG_BYTES:
            raise PayloadDecryptionError(f"encrypted payload under key {key_id!r} is truncated")
        try:
            plaintext = cipher.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], raw_id)
        except InvalidTag:
            raise PayloadDecryptionError(
                f"payload under key {key_id!r} failed authentication: it was altered, or the key"
                f" now under id {key_id!r} is not the one it was encrypted with"
            ) from None
        return Payload.FromString(plaintext)
