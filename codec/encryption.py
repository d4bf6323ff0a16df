"""AES-256-GCM payload codec: what Temporal stores is ciphertext, never a customer's details.

Wire format (the same as temporalio/samples-python `encryption/`, so the Go and TypeScript codec
servers and tooling interoperate): metadata `encoding: binary/encrypted` and
`encryption-key-id: <id>`; data `nonce (12 bytes) || ciphertext+tag` over the original payload
serialised whole, so its own metadata (json/plain, pydantic type hints) is hidden and restored too.
Unlike the sample, the key id is bound in as associated data, so relabelling a payload with another
id fails authentication instead of decrypting under a key nobody meant.
"""

from __future__ import annotations

import copy
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    ActivitySerializationContext,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
    WorkflowSerializationContext,
)

from codec.keyring import Keyring

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
NONCE_BYTES = 12
_TAG_BYTES = 16
# Which process wrote a payload, on payloads our processes write *without* keys. It names the
# culprit when a worker that requires encryption refuses the payload.
SENDER_METADATA = "complaints-sender"


def process_identity() -> str:
    """e.g. `starter.py pid 4242 on intake-01`: enough for on-call to find the process."""
    script = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    return f"{script} pid {os.getpid()} on {socket.gethostname()}"


class PayloadDecryptionError(ValueError):
    """A payload marked encrypted could not be decrypted: unknown key id or altered data."""


class PlaintextPayloadRefused(PayloadDecryptionError):
    """Encryption is required and a payload arrived unencrypted; nothing was decoded from it."""


class SenderTagCodec(PayloadCodec):
    """For processes without keys: payloads stay plaintext but say which process wrote them."""

    def __init__(self, identity: str | None = None) -> None:
        super().__init__()
        self._identity = (identity or process_identity()).encode("utf-8")

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        tagged = []
        for payload in payloads:
            copied = Payload()
            copied.CopyFrom(payload)
            copied.metadata[SENDER_METADATA] = self._identity
            tagged.append(copied)
        return tagged

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return list(payloads)


class EncryptionCodec(PayloadCodec, WithSerializationContext):
    """Encrypts under the keyring's default key; decrypts under whichever key a payload names.

    With `require_encryption`, a payload that is not encrypted is refused (fail closed) unless it
    belongs to a case in `plaintext_allowed`: the SDK gives the codec the workflow id of each
    payload through its serialization context.
    """

    def __init__(
        self,
        keyring: Keyring,
        *,
        require_encryption: bool = False,
        plaintext_allowed: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__()
        self._keyring = keyring
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keyring.items()}
        self._require = require_encryption
        self._plaintext_allowed = plaintext_allowed
        self._workflow_id: str | None = None

    def with_context(self, context: SerializationContext) -> EncryptionCodec:
        # A shallow copy shares the ciphers; only the workflow id differs.
        bound = copy.copy(self)
        workflow_id = None
        if isinstance(context, (WorkflowSerializationContext, ActivitySerializationContext)):
            workflow_id = context.workflow_id
        bound._workflow_id = workflow_id
        return bound

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
        sealed = self._ciphers[key_id].encrypt(nonce, payload.SerializeToString(), key_id.encode("utf-8"))
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID_METADATA: key_id.encode("utf-8")},
            data=nonce + sealed,
        )

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            if self._require and self._workflow_id not in self._plaintext_allowed:
                raise self._refusal(payload)
            # Encryption not required: payloads written before it was switched on still load.
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

    def _refusal(self, payload: Payload) -> PlaintextPayloadRefused:
        sender = payload.metadata.get(SENDER_METADATA)
        who = (
            sender.decode("utf-8", errors="replace")
            if sender
            else "a process outside this pipeline (no complaints-sender tag)"
        )
        case = f"case {self._workflow_id}" if self._workflow_id else "a payload"
        return PlaintextPayloadRefused(
            f"refused an UNENCRYPTED payload for {case}, written by {who}: that process has no"
            " COMPLAINTS_CODEC_KEYS, so the case's data sits in plain text in history. Give it the"
            " keys (and COMPLAINTS_REQUIRE_ENCRYPTION=true); list the case in"
            " COMPLAINTS_PLAINTEXT_ALLOWED_CASES only if its history predates encryption"
        )
