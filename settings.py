"""Deployment settings, read once at process start and validated with field-level errors.

Workflow code never imports this module: what a case needs (policy, calendar) is copied into its
input or returned by an activity, so history records it.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, TypeAdapter, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from domain.calendar import WorkingCalendar
from domain.models import INTAKE, ComplaintPolicy, Handler

REPO = Path(__file__).resolve().parent
CONFIG = REPO / "config"


class PipelineSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="COMPLAINTS_", extra="ignore")

    temporal_address: str = Field(
        default="localhost:7233",
        validation_alias=AliasChoices("TEMPORAL_ADDRESS", "COMPLAINTS_TEMPORAL_ADDRESS"),
    )
    temporal_namespace: str = Field(
        default="default",
        validation_alias=AliasChoices("TEMPORAL_NAMESPACE", "COMPLAINTS_TEMPORAL_NAMESPACE"),
    )
    task_queue: str = "complaints"
    data_dir: Path = REPO / "data"
    # Where the sent-message ledger, the billing ledger and the case archive live (ops.stores):
    # unset, SQLite files in data_dir (one host); `postgresql://user@host/db`, one database every
    # worker and admin process shares (several hosts). The password may be left out of the URL and
    # read from database_password_file (a compose secret) instead.
    database_url: str | None = None
    database_password_file: Path | None = None
    policy_file: Path = CONFIG / "policy.toml"
    roster_file: Path = CONFIG / "roster.toml"
    # 0 turns the Prometheus endpoint off.
    metrics_port: int = Field(default=0, ge=0, le=65535)
    # Loopback by default: the endpoint has no authentication. A container sets 0.0.0.0 so the
    # scraper reaches it on the compose network (the port is never published to the host).
    metrics_host: str = "127.0.0.1"
    # Compliance records are kept this long, then the customer's personal data is deleted:
    # the regulator's 12 months plus the customer's 12-month ADR referral window.
    archive_retention_days: int = Field(default=730, ge=1)
    # "json" (one object a line, for log search) or "text" (for a person at a terminal).
    log_format: Literal["json", "text"] = "json"
    # A deploy waits this long for running activities before the worker stops.
    graceful_shutdown_seconds: float = Field(default=20, ge=0)
    # Cases kept in the worker's memory between workflow tasks; the rest are replayed from history
    # when their next timer or signal comes (docs/performance.md has memory per cached case).
    max_cached_workflows: int = Field(default=1000, ge=0)
    # "shared_modules": the sandbox imports the workflow's modules once per worker, and still refuses
    # clocks, randomness and I/O in workflow code. "isolated": it re-imports them for every case, so
    # no module-level state can leak between cases, at about 20 ms of CPU per case (python -m
    # bench.replay_cost) and a copy of the modules per cached case. The code keeps no module-level
    # state; the replay test runs every history under both.
    workflow_sandbox: Literal["shared_modules", "isolated"] = "shared_modules"


class _PolicyFromFileAndEnv(ComplaintPolicy, BaseSettings):
    """The policy file, with COMPLAINTS_POLICY__FIELD[__SUBFIELD] environment overrides on top."""

    model_config = SettingsConfigDict(env_prefix="COMPLAINTS_POLICY__", env_nested_delimiter="__", extra="forbid")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return env_settings, init_settings


class ConfigError(Exception):
    """A configuration file or variable is wrong; the message names the file and field."""


def load_policy(path: Path | None = None) -> ComplaintPolicy:
    path = path or PipelineSettings().policy_file
    try:
        data = tomllib.loads(path.read_text()) if path.exists() else {}
        loaded = _PolicyFromFileAndEnv(**data)
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        raise ConfigError(f"policy {path}: {exc}") from None
    policy = ComplaintPolicy.model_validate(loaded.model_dump())
    try:
        # The calendar's own checks (a working day with no working time, an empty week, an unknown
        # zone) run here, before any case starts: inside a case they would fail its first step forever.
        WorkingCalendar.from_spec(policy.calendar, [])
    except ValueError as exc:
        raise ConfigError(f"policy {path}: calendar: {exc}") from None
    return policy


def load_roster(path: Path | None = None) -> list[Handler]:
    path = path or PipelineSettings().roster_file
    try:
        data = tomllib.loads(path.read_text())
        roster = TypeAdapter(list[Handler]).validate_python(data.get("handler", []), context=INTAKE)
    except (OSError, tomllib.TOMLDecodeError, ValidationError) as exc:
        raise ConfigError(f"roster {path}: {exc}") from None
    ids = [h.id for h in roster]
    if len(ids) != len(set(ids)):
        raise ConfigError(f"roster {path}: handler ids must be unique")
    if not roster:
        raise ConfigError(f"roster {path}: no [[handler]] entries")
    return roster
