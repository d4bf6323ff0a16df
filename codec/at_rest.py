"""Sealing text the pipeline keeps outside Temporal (a customer's reply waiting in the inbound
queue, an unmatched reply, an addendum to an archived case) under the same keys as every payload.

With codec keys configured the text is AES-256-GCM encrypted exactly as a payload is (the
`EncryptionCodec` wire format, wrapped in a serialised `Payload`), so key rotation and the keyring's
rules apply unchanged; without keys (a laptop) it is kept as it came, marked so, and a process that
gets keys later still reads it.
"""

from __future__ import annotations

import base64

from temporalio.api.common.v1 import Payload

from codec.encryption import EncryptionCodec
from codec.keyring import Keyring

_SEALED = "sealed:"
_PLAIN = "plain:"


class AtRest:
    def __init__(self, keyring: Keyring | None) -> None:
        self._codec = EncryptionCodec(keyring) if keyring is not None else None

    @property
    def encrypted(self) -> bool:
        return self._codec is not None

    def seal(self, text: str) -> str:
        if self._codec is None:
            return _PLAIN + text
        payload = self._codec.encrypt(Payload(metadata={"encoding": b"json/plain"}, data=text.encode("utf-8")))
        return _SEALED + base64.b64encode(payload.SerializeToString()).decode("ascii")

    def open(self, stored: str) -> str:
        if stored.startswith(_PLAIN):
            return stored.removeprefix(_PLAIN)
        if not stored.startswith(_SEALED):
            raise ValueError("stored text is neither sealed nor marked plain")
        if self._codec is None:
            raise ValueError("stored text is encrypted and this process has no codec keys (COMPLAINTS_CODEC_KEYS)")
        payload = Payload.FromString(base64.b64decode(stored.removeprefix(_SEALED)))
        return self._codec.decrypt(payload).data.decode("utf-8")
