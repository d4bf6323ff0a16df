"""The one data converter every client, worker, test environment and script uses."""

from __future__ import annotations

import dataclasses

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes

from codec.encryption import EncryptionCodec
from codec.keyring import CodecSettings


def data_converter(settings: CodecSettings | None = None) -> DataConverter:
    """Pydantic conversion, plus AES-256-GCM encryption when `COMPLAINTS_CODEC_KEYS*` is set.

    Settings are read here rather than at import, because the workflow sandbox re-imports modules
    and refuses environment access.
    """
    keyring = (settings if settings is not None else CodecSettings()).keyring()
    if keyring is None:
        return pydantic_data_converter
    return dataclasses.replace(
        pydantic_data_converter,
        payload_codec=EncryptionCodec(keyring),
        # Failure messages and stack traces are stored outside payloads, and an activity error
        # can quote a customer's details; this moves them into an encoded (so encrypted) payload.
        failure_converter_class=DefaultFailureConverterWithEncodedAttributes,
    )
