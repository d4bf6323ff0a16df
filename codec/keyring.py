"""AES-256 keys by id, and the settings that load them.

Keys come from `COMPLAINTS_CODEC_KEYS` ("id1:base64,id2:base64"), the dotenv file named by
`COMPLAINTS_SECRETS_FILE` (like the vendor keys), and/or the file named by
`COMPLAINTS_CODEC_KEYS_FILE` (one `id:base64` per line). Both files must be mode 0600.
`COMPLAINTS_REQUIRE_ENCRYPTION=true` makes keys mandatory: no process starts without them, and a
worker refuses payloads written unencrypted (except for the cases listed in
`COMPLAINTS_PLAINTEXT_ALLOWED_CASES`, whose histories predate encryption). New payloads are encrypted under the
default key (the last one listed unless `COMPLAINTS_CODEC_DEFAULT_KEY` says otherwise); every key
stays in the ring so that histories written before a rotation still decrypt. A case can run for
eight weeks and more, so a key is retired only once no open case's history was written under it.

Operators make a key with `python -m codec.keyring new-key ID`.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import os
import re
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import (
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import SettingsConfigDict

from ops.secrets_file import SecretsFileSettings, check_private

KEY_BYTES = 32
# The id travels in every payload's metadata and in operators' env files, so keep it to characters
# that survive both without quoting and cannot be confused with the separators.
_KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_REDACTED = "'**********'"


class Keyring(Mapping[str, bytes]):
    """Immutable map of key id to 32-byte AES key, with the id new payloads are encrypted under."""

    __slots__ = ("_keys", "_default_key_id")

    def __init__(self, keys: Mapping[str, bytes], default_key_id: str | None = None) -> None:
        if not keys:
            raise ValueError("a keyring needs at least one key")
        for key_id, key in keys.items():
            _check_key_id(key_id)
            if len(key) != KEY_BYTES:
                raise ValueError(f"key {key_id!r} is {len(key)} bytes; AES-256 needs {KEY_BYTES}")
        self._keys: dict[str, bytes] = dict(keys)
        if default_key_id is None:
            default_key_id = list(self._keys)[-1]
        if default_key_id not in self._keys:
            raise ValueError(f"default key {default_key_id!r} is not in the keyring (ids: {self.ids_text()})")
        self._default_key_id = default_key_id

    @property
    def default_key_id(self) -> str:
        return self._default_key_id

    @property
    def default_key(self) -> bytes:
        return self._keys[self._default_key_id]

    def ids_text(self) -> str:
        return ", ".join(self._keys)

    def __getitem__(self, key_id: str) -> bytes:
        return self._keys[key_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Keyring):
            return NotImplemented
        return self._keys == other._keys and self._default_key_id == other._default_key_id

    # Unhashable, as a mutable-looking mapping with __eq__ should be; typeshed declares __hash__ a
    # method, so the checker objects to the standard way of saying so.
    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        # Ids only: a repr ends up in logs, tracebacks and debugger windows.
        return f"Keyring(ids=[{self.ids_text()}], default={self._default_key_id!r})"

    __str__ = __repr__


def generate_key() -> str:
    """A fresh random AES-256 key, urlsafe base64 (no '+' or '/', so it is safe in env files)."""
    return base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode("ascii")


def decode_key(key_id: str, text: str) -> bytes:
    """Decode a key written in urlsafe or standard base64, padded or not."""
    cleaned = text.strip()
    if not cleaned:
        raise ValueError(f"key {key_id!r} is empty")
    # Map the urlsafe alphabet onto the standard one so both spellings decode with validation on.
    normalised = cleaned.replace("-", "+").replace("_", "/").rstrip("=")
    normalised += "=" * (-len(normalised) % 4)
    try:
        key = base64.b64decode(normalised, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"key {key_id!r} is not valid base64") from None
    if len(key) != KEY_BYTES:
        raise ValueError(
            f"key {key_id!r} decodes to {len(key)} bytes; AES-256 needs {KEY_BYTES}"
            " (make one with `python -m codec.keyring new-key ID`)"
        )
    return key


def parse_keys(entries: list[str], where: str) -> dict[str, bytes]:
    """Parse `id:base64` entries; `where` names each entry's origin in error messages."""
    keys: dict[str, bytes] = {}
    for position, entry in enumerate(entries, start=1):
        if ":" not in entry:
            raise ValueError(f"{where} entry {position} is not of the form id:base64key")
        key_id, _, encoded = entry.partition(":")
        key_id = key_id.strip()
        if not _KEY_ID.fullmatch(key_id):
            # Never echo it: an entry written key:id (or with a stray ':') puts the key here.
            raise ValueError(
                f"{where} entry {position}: the id before ':' must be 1-64 of letters, digits, '.',"
                " '_', '-' starting with a letter or digit (is the entry written key:id?)"
            )
        if key_id in keys:
            raise ValueError(f"key id {key_id!r} appears more than once in {where}")
        try:
            keys[key_id] = decode_key(key_id, encoded)
        except ValueError as exc:
            # An unpadded key written before ':' passes as an id: name the entry by position only.
            raise ValueError(
                f"{where} entry {position}: {str(exc).replace(repr(key_id), 'of this entry')}"
                " (is the entry written key:id?)"
            ) from None
    return keys


def _check_key_id(key_id: str, where: str = "key id") -> None:
    if not _KEY_ID.fullmatch(key_id):
        raise ValueError(
            f"{where}: id {key_id!r} must be 1-64 of letters, digits, '.', '_', '-' and start with a letter or digit"
        )


def _env_entries(text: str) -> list[str]:
    return [entry.strip() for entry in text.split(",") if entry.strip()]


def _file_entries(text: str) -> list[str]:
    # '#' never occurs in base64, so a comment may also follow a key on the same line.
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [line for line in lines if line]


class CodecSettings(SecretsFileSettings):
    """Payload encryption settings; nothing is read until an instance is made."""

    model_config = SettingsConfigDict(
        env_prefix="COMPLAINTS_CODEC_",
        env_ignore_empty=True,
        extra="ignore",
        # Pydantic echoes the offending input in its errors by default; here that input is a key.
        hide_input_in_errors=True,
        # require_encryption and plaintext_allowed_cases are read from their documented names,
        # outside the COMPLAINTS_CODEC_ prefix; callers may still pass them by field name.
        populate_by_name=True,
    )

    # Field order matters: each validator sees the fields declared above it in `info.data`.
    keys: str | None = None
    keys_file: Path | None = None
    default_key: str | None = None
    server_token: str | None = None
    cors_origins: str = "http://localhost:8233"
    # Host names the codec server answers to (the Host header, port ignored): a page on another
    # name that resolves to 127.0.0.1 (DNS rebinding) is refused.
    allowed_hosts: str = "localhost,127.0.0.1,[::1]"
    # Production sets this: no process starts without keys, and workers refuse plaintext payloads.
    require_encryption: bool = Field(default=False, validation_alias="COMPLAINTS_REQUIRE_ENCRYPTION")
    # References (workflow ids) whose histories were written before encryption was turned on.
    plaintext_allowed_cases: str = Field(
        default="",
        validation_alias="COMPLAINTS_PLAINTEXT_ALLOWED_CASES",
    )

    _keyring: Keyring | None = PrivateAttr(default=None)

    @field_validator("keys")
    @classmethod
    def _keys_parse(cls, value: str | None) -> str | None:
        if value is not None:
            parse_keys(_env_entries(value), "keys")
        return value

    @field_validator("keys_file")
    @classmethod
    def _keys_file_parse(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None:
            return value
        try:
            text = value.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"cannot read keys file {str(value)!r}: {exc.strerror}") from None
        check_private(value, "keys file")
        from_file = parse_keys(_file_entries(text), "keys file")
        if not from_file:
            raise ValueError(f"keys file {str(value)!r} holds no keys")
        from_env = _keys_in(info.data)
        for key_id in from_file:
            if key_id in from_env:
                raise ValueError(f"key id {key_id!r} is in both keys and keys file")
        return value

    @field_validator("default_key")
    @classmethod
    def _default_key_known(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return value
        if "keys" not in info.data or "keys_file" not in info.data:
            # The keys themselves failed validation; that error is the one worth reading.
            return value
        ids = list(_keys_in(info.data)) + list(_file_keys_in(info.data))
        if not ids:
            raise ValueError(f"default key {value!r} is set but no keys are configured")
        if value not in ids:
            raise ValueError(f"default key {value!r} is not in the keyring (ids: {', '.join(ids)})")
        return value

    @field_validator("cors_origins")
    @classmethod
    def _cors_origins_explicit(cls, value: str) -> str:
        origins = _env_entries(value)
        for origin in origins:
            # The codec server answers with credentials allowed, which browsers refuse with '*'.
            if origin == "*":
                raise ValueError("list the Web UI origins explicitly; '*' is not accepted")
            if not origin.startswith(("http://", "https://")) or origin.endswith("/"):
                raise ValueError(f"origin {origin!r} must look like http(s)://host[:port] with no trailing slash")
        return value

    @property
    def origins(self) -> list[str]:
        return _env_entries(self.cors_origins)

    @property
    def hosts(self) -> frozenset[str]:
        return frozenset(host.lower() for host in _env_entries(self.allowed_hosts))

    @property
    def plaintext_allowed(self) -> frozenset[str]:
        return frozenset(_env_entries(self.plaintext_allowed_cases))

    @model_validator(mode="after")
    def _build_keyring(self) -> CodecSettings:
        # Built once, so a keys file edited later cannot change a running process's keys.
        keys = {**_keys_in(self.__dict__), **_file_keys_in(self.__dict__)}
        self._keyring = Keyring(keys, self.default_key) if keys else None
        return self

    def keyring(self) -> Keyring | None:
        """The configured keyring, or None when encryption is not configured."""
        return self._keyring

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            if name in {"keys", "server_token"} and value is not None:
                yield name, _Redacted()
            else:
                yield name, value


class _Redacted:
    def __repr__(self) -> str:
        return _REDACTED


def _keys_in(data: Mapping[str, Any]) -> dict[str, bytes]:
    text = data.get("keys")
    return parse_keys(_env_entries(text), "keys") if text else {}


def _file_keys_in(data: Mapping[str, Any]) -> dict[str, bytes]:
    path = data.get("keys_file")
    if not path:
        return {}
    return parse_keys(_file_entries(Path(path).read_text(encoding="utf-8")), "keys file")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m codec.keyring", description="Payload encryption keys for operators."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    new_key = commands.add_parser("new-key", help="print a fresh key as ID:base64")
    new_key.add_argument("key_id", metavar="ID")
    commands.add_parser("check", help="validate COMPLAINTS_CODEC_* and print key ids (never key material)")
    args = parser.parse_args(argv)

    if args.command == "new-key":
        try:
            _check_key_id(args.key_id)
        except ValueError as exc:
            parser.error(str(exc))
        print(f"{args.key_id}:{generate_key()}")
        return 0

    try:
        settings = CodecSettings()
    except ValidationError as exc:
        print(f"codec settings are invalid:\n{exc}", file=sys.stderr)
        return 2
    ring = settings.keyring()
    if ring is None:
        print("no keys configured: payloads are stored unencrypted")
    else:
        print(f"keys: {ring.ids_text()}; new payloads use {ring.default_key_id!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
