"""Channel settings: which vendor accounts to use, where files go, who the letters come from.

Read from the environment (prefix `COMPLAINTS_`, nested with `__`) and, when
`COMPLAINTS_SECRETS_FILE` names one, from that dotenv-style file (environment variables win).
Build it in `worker.py` at start-up, never at import: the workflow sandbox must not read the
environment. Validation happens then, so a half-configured vendor fails the start, not a case.

With no vendor keys at all, every channel is the outbox (`<data_dir>/outbox`).

| variable | meaning |
|---|---|
| COMPLAINTS_DATA_DIR | data folder (default `./data`): outbox, and the stores unless COMPLAINTS_DATABASE_URL |
| COMPLAINTS_OUTBOX_DIR | outbox folder (default `<data_dir>/outbox`) |
| COMPLAINTS_POST_ROOM_DIR | post-room folder (default `<data_dir>/post-room`) |
| COMPLAINTS_LETTERS | `outbox` (default) or `post_room` |
| COMPLAINTS_SENDGRID_API_KEY | secret; set it to send email through SendGrid |
| COMPLAINTS_SENDGRID_HOST | API base URL (default `https://api.sendgrid.com`; a peer in tests) |
| COMPLAINTS_EMAIL_FROM / _EMAIL_FROM_NAME / _EMAIL_REPLY_TO | sender, its name, reply-to |
| COMPLAINTS_TWILIO_ACCOUNT_SID / COMPLAINTS_TWILIO_AUTH_TOKEN | set both to send SMS via Twilio; the token alone only turns on the inbound service's signature checks (SMS stays in the outbox) |
| COMPLAINTS_TWILIO_FROM_NUMBER or COMPLAINTS_TWILIO_MESSAGING_SERVICE_SID | the SMS sender |
| COMPLAINTS_TWILIO_BASE_URL | peer URL replacing every Twilio host (tests only) |
| COMPLAINTS_PUBLIC_BASE_URL | where the vendors reach the inbound service (https://...): each SMS asks Twilio for status callbacks there |
| COMPLAINTS_SEND_TIMEOUT_SECONDS | per-request vendor timeout (default 30) |
| COMPLAINTS_SMS_PER_SECOND / COMPLAINTS_EMAIL_PER_SECOND | the vendor account's send rate (default 10 / 50): the server holds the vendor queues to 95 % of it |
| COMPLAINTS_SEND_WORKERS | worker processes sharing those rates (default 1): each process's first attempts take rate / this |
| COMPLAINTS_PROVIDER__NAME, __ADDRESS_LINES (JSON list), __POSTCODE, __PHONE, __PHONE_HOURS | letterhead |
| COMPLAINTS_SECRETS_FILE | optional dotenv file holding the secrets above (and the codec keys); must be mode 0600 |
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from channels.base import ProviderDetails
from channels.rate_limits import HEADROOM, STAFF_SHARE
from domain.models import ChannelKind
from ops.secrets_file import SecretsFileSettings

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
_SERVICE_SID = re.compile(r"^MG[0-9a-fA-F]{32}$")


class ChannelSettings(SecretsFileSettings):
    model_config = SettingsConfigDict(
        env_prefix="COMPLAINTS_",
        env_nested_delimiter="__",
        env_ignore_empty=True,  # `FOO=` in a compose file means "not set"
        extra="ignore",  # the secrets file may hold other components' settings too
        hide_input_in_errors=True,  # a rejected value may be a secret: never echo it
    )

    data_dir: Path = Path("data")
    # The outbox stands in for the customer's inbox: workers on several hosts (each its own data
    # folder) point it at one shared folder, as they would share one SendGrid account.
    outbox_dir: Path | None = None
    post_room_dir: Path | None = None
    letters: Literal["outbox", "post_room"] = "outbox"

    sendgrid_api_key: SecretStr | None = None
    sendgrid_host: str | None = None
    email_from: str | None = None
    email_from_name: str = "Infinity System Solutions Complaints"
    email_reply_to: str | None = None

    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from_number: str | None = None
    twilio_messaging_service_sid: str | None = None
    twilio_base_url: str | None = None
    # The inbound service's public URL (docs/customer-loop.md): unset, no status callbacks are asked for.
    public_base_url: str | None = None

    send_timeout_seconds: float = Field(default=30.0, gt=0, le=300)
    # Twilio queues a UK long-code sender at about 10 texts a second; SendGrid's mail/send limit is
    # per account and far higher, so e-mail is set from the account's own figure.
    sms_per_second: float = Field(default=10.0, gt=0, le=10_000)
    email_per_second: float = Field(default=50.0, gt=0, le=10_000)
    send_workers: int = Field(default=1, ge=1, le=1000)
    provider: ProviderDetails = Field(default_factory=ProviderDetails)

    @field_validator("email_from", "email_reply_to")
    @classmethod
    def _valid_email(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from email_validator import EmailNotValidError, validate_email

        try:
            return validate_email(value, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("public_base_url")
    @classmethod
    def _public_base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.fullmatch(r"https?://[^/?#\s]+(/[^?#\s]*)?", value):
            raise ValueError("must look like https://complaints.example.com (no query, no fragment)")
        return value.rstrip("/")

    @field_validator("twilio_from_number")
    @classmethod
    def _e164(cls, value: str | None) -> str | None:
        if value is not None and not _E164.fullmatch(value):
            raise ValueError("must be an E.164 number such as +447700900123")
        return value

    @field_validator("twilio_account_sid")
    @classmethod
    def _account_sid(cls, value: str | None) -> str | None:
        if value is not None and not _ACCOUNT_SID.fullmatch(value):
            raise ValueError("must look like AC followed by 32 hex digits")
        return value

    @field_validator("twilio_messaging_service_sid")
    @classmethod
    def _service_sid(cls, value: str | None) -> str | None:
        if value is not None and not _SERVICE_SID.fullmatch(value):
            raise ValueError("must look like MG followed by 32 hex digits")
        return value

    @model_validator(mode="after")
    def _complete(self) -> ChannelSettings:
        if self.post_room_dir is None:
            self.post_room_dir = self.data_dir / "post-room"
        if self.outbox_dir is None:
            self.outbox_dir = self.data_dir / "outbox"
        if self.sendgrid_api_key is not None and not self.email_from:
            raise ValueError("COMPLAINTS_SENDGRID_API_KEY is set but COMPLAINTS_EMAIL_FROM is not")
        # The token alone is fine: the inbound service checks Twilio's signatures with it, while
        # texts go to the outbox (the whole loop on a laptop). A SID without its token is not.
        if self.twilio_account_sid is not None and self.twilio_auth_token is None:
            raise ValueError("COMPLAINTS_TWILIO_ACCOUNT_SID is set: set COMPLAINTS_TWILIO_AUTH_TOKEN with it (both)")
        if self.twilio_enabled and not (self.twilio_from_number or self.twilio_messaging_service_sid):
            raise ValueError(
                "Twilio is configured but has no sender: set COMPLAINTS_TWILIO_FROM_NUMBER "
                "or COMPLAINTS_TWILIO_MESSAGING_SERVICE_SID"
            )
        return self

    def vendor_rates(self) -> dict[ChannelKind, float]:
        """The account-wide pace per vendor channel, under its rate by HEADROOM (for the vendor
        queues' server-side limit); the customers' e-mail less the staff notices' share."""
        return {
            ChannelKind.SMS: self.sms_per_second * HEADROOM,
            ChannelKind.EMAIL: self.email_per_second * HEADROOM * (1 - STAFF_SHARE),
        }

    def staff_notice_rate(self) -> float:
        """The account-wide pace of staff notices (for the staff queue's server-side limit)."""
        return self.email_per_second * HEADROOM * STAFF_SHARE

    def rate_share(self) -> dict[ChannelKind, float]:
        """This process's share, for the first attempts no queue limit reaches; only for channels
        served by a vendor (the outbox has no rate to keep)."""
        rates = {ChannelKind.SMS: self.sms_per_second if self.twilio_enabled else 0.0}
        rates[ChannelKind.EMAIL] = self.email_per_second * (1 - STAFF_SHARE) if self.sendgrid_enabled else 0.0
        return {kind: rate * HEADROOM / self.send_workers for kind, rate in rates.items() if rate}

    def staff_notice_share(self) -> float:
        """This process's share of the staff notices' rate; 0 (not limited) without SendGrid."""
        return self.staff_notice_rate() / self.send_workers if self.sendgrid_enabled else 0.0

    @property
    def sendgrid_enabled(self) -> bool:
        return self.sendgrid_api_key is not None

    @property
    def twilio_enabled(self) -> bool:
        return self.twilio_account_sid is not None and self.twilio_auth_token is not None
