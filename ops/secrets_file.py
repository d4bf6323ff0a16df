"""The one rule for files that hold secrets (COMPLAINTS_SECRETS_FILE, the codec keys file).

A file that other users can read leaks every key in it, so it is refused, not warned about: a
warning in a deploy log is read after the fact, if at all.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic_settings import BaseSettings, DotEnvSettingsSource, PydanticBaseSettingsSource

SECRETS_FILE_VARIABLE = "COMPLAINTS_SECRETS_FILE"


class SecretsFileError(ValueError):
    """A secrets file is missing, unreadable or readable by other users."""


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
