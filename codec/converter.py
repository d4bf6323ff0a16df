"""The one data converter every client, worker, test environment and script uses."""

from __future__ import annotations

import dataclasses

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes

from codec.encryption import EncryptionCodec, SenderTagCodec
from codec.keyring import CodecSettings


class EncryptionRequiredError(Exception):
    """COMPLAINTS_REQUIRE_ENCRYPTION is on and this process has no keys: it must not start.

    Not a RuntimeError: callers report those as "cannot reach Temporal", and this is not that.
    """


def data_converter(settings: CodecSettings | None = None, *, sender: str | None = None) -> DataConverter:
    """Pydantic conversion, plus AES-256-GCM encryption when `COMPLAINTS_CODEC_KEYS*` is set.

    Settings are read here rather than at import, because the workflow sandbox re-imports modules
    and refuses environment access. Every process builds its converter here, so this is where a
    process without keys refuses to start when encryption is required. Without keys (a laptop),
    payloads are plaintext tagged with the writing process (`sender`, default: this process), so
    a worker that requires encryption can name who sent one.
    """
    settings = settings if settings is not None else CodecSettings()
    keyring = settings.keyring()
    if keyring is None:
        if settings.require_encryption:
            raise EncryptionRequiredError(
                "COMPLAINTS_REQUIRE_ENCRYPTION is on but no codec keys are configured: set"
                " COMPLAINTS_CODEC_KEYS (or put it in COMPLAINTS_SECRETS_FILE, or use"
                " COMPLAINTS_CODEC_KEYS_FILE); refusing to start"
            )
        return dataclasses.replace(pydantic_data_converter, payload_codec=SenderTagCodec(sender))
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(
            keyring,
            require_encryption=settings.require_encryption,
            plaintext_allowed=settings.plaintext_allowed,
        ),
        # Failure messages and stack traces are stored outside payloads, and an activity error
        # can quote a customer's details; this moves them into an encoded (so encrypted) payload.
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
