"""The one rule for files that hold secrets (COMPLAINTS_SECRETS_FILE, the codec keys file).

A file that other users can read leaks every key in it, so it is refused, not warned about: a
warning in a deploy log is read after the fact, if at all.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic_settings import BaseSettings, DotEnvSettingsSource, PydanticBaseSettingsSource

SECRETS_FILE_VARIABLE = "COMPLAINTS_SECRETS_FILE"

# The shortest shared secret a process accepts (the codec server's bearer token, the Inbound Parse
# password, the contact keys' HMAC key). Each is compared or used offline by whoever holds a
# request or a hash: a short one is guessed. 16 random characters are about 96 bits.
MIN_SECRET_CHARACTERS = 16
MAKE_A_SECRET = 'python3 -c "import secrets; print(secrets.token_urlsafe(32))"'


class SecretsFileError(ValueError):
    """A secrets file is missing, unreadable or readable by other users."""


class WeakSecretError(ValueError):
    """A shared secret is too short to be one."""


def check_strength(secret: str, variable: str) -> None:
    """Refuse a secret shorter than MIN_SECRET_CHARACTERS, naming its variable (never its value)."""
    if len(secret) < MIN_SECRET_CHARACTERS:
        raise WeakSecretError(
            f"{variable} must be at least {MIN_SECRET_CHARACTERS} characters; make one with `{MAKE_A_SECRET}`"
        )


def check_private(path: Path, what: str) -> None:
    """Refuse a secrets file that group or other users can read or write."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise SecretsFileError(f"{what} {path} cannot be read: {exc.strerror}") from None
    if mode & 0o077:
        raise SecretsFileError(
            f"{what} {path} is open to other users (mode {mode & 0o777:04o}); run `chmod 600 {path}`"
        )


def secrets_file_source(settings_cls: type[BaseSettings]) -> PydanticBaseSettingsSource | None:
    """A dotenv source for COMPLAINTS_SECRETS_FILE, read when the settings are built (never at import)."""
    named = os.environ.get(SECRETS_FILE_VARIABLE)
    if not named:
        return None
    path = Path(named)
    if not path.is_file():
        raise SecretsFileError(f"{SECRETS_FILE_VARIABLE} names {path}, which is not a readable file")
    check_private(path, SECRETS_FILE_VARIABLE)
    return DotEnvSettingsSource(settings_cls, env_file=path)


class SecretsFileSettings(BaseSettings):
    """Settings read from the constructor, then the environment, then COMPLAINTS_SECRETS_FILE (the
    environment wins over the file). Every settings class with a secret in it derives from this."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        secrets = secrets_file_source(settings_cls)
        return (init_settings, env_settings) if secrets is None else (init_settings, env_settings, secrets)
