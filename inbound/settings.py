"""The inbound service's settings, read once at start and validated with field-level errors.

| variable | meaning |
|---|---|
| COMPLAINTS_INBOUND_HOST / COMPLAINTS_INBOUND_PORT | where it listens (default 127.0.0.1:8090) |
| COMPLAINTS_PUBLIC_BASE_URL | the https URL the vendors reach it at (e.g. `https://complaints.example.com`); Twilio signatures are checked against it, and the worker puts it in SMS status callbacks. Unset: the URL each request was made to; refused with COMPLAINTS_TWILIO_AUTH_TOKEN when the service listens beyond loopback (behind a proxy, as in compose), where that is never the URL Twilio signed |
| COMPLAINTS_SENDGRID_WEBHOOK_PUBLIC_KEY | the Event Webhook's verification key (base64 DER, from SendGrid's Mail Settings) |
| COMPLAINTS_SENDGRID_INBOUND_SECRET | the password in the Inbound Parse URL's basic auth (`https://inbound:SECRET@host/webhooks/sendgrid/inbound`); at least 16 characters |
| COMPLAINTS_TWILIO_AUTH_TOKEN | the Twilio account's auth token: checks `X-Twilio-Signature` |
| COMPLAINTS_CONTACT_KEY_SECRET | the HMAC secret of `CustomerContactKeys` (the starter's, the admin script's); at least 16 characters |
| COMPLAINTS_WEBHOOK_TOLERANCE_SECONDS | how old a signed SendGrid event batch may be (default 300) |
| COMPLAINTS_REPLY_NOTICES_PER_HOUR | replies no open case took that are emailed to the managers one by one per hour (default 30); past it, one notice for the rest of the hour |
| COMPLAINTS_SECRETS_FILE | optional dotenv file holding the secrets above (mode 0600); the environment wins |

A route whose secret is not configured answers 503 to everything: never "accept unverified".
"""

from __future__ import annotations

from ipaddress import ip_address
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import SettingsConfigDict

from ops.secrets_file import SecretsFileSettings, check_strength


class InboundSettings(SecretsFileSettings):
    model_config = SettingsConfigDict(
        env_prefix="COMPLAINTS_",
        env_ignore_empty=True,
        extra="ignore",
        hide_input_in_errors=True,  # a rejected value may be a secret: never echo it
    )

    inbound_host: str = "127.0.0.1"
    inbound_port: int = Field(default=8090, ge=0, le=65535)
    public_base_url: str | None = None
    sendgrid_webhook_public_key: SecretStr | None = None
    sendgrid_inbound_secret: SecretStr | None = None
    twilio_auth_token: SecretStr | None = None
    contact_key_secret: SecretStr | None = None
    # SendGrid signs the timestamp with the batch: an older batch is a replay, or held too long.
    webhook_tolerance_seconds: float = Field(default=300, gt=0, le=3600)
    # The forwarder's back-off while Temporal is unreachable: doubling from the first to the cap.
    forward_retry_first_seconds: float = Field(default=0.5, gt=0)
    forward_retry_max_seconds: float = Field(default=30, gt=0)
    forward_batch_size: int = Field(default=200, ge=1, le=5000)
    # The managers are emailed each reply no open case took, up to this many received in one hour;
    # past it, one notice for the rest of that hour (a flood must not bury the breach alerts).
    reply_notices_per_hour: int = Field(default=30, ge=1, le=10000)

    @field_validator("public_base_url")
    @classmethod
    def _base_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError("must look like https://complaints.example.com (no query, no fragment)")
        return value.rstrip("/")

    @field_validator("sendgrid_inbound_secret", "contact_key_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is not None:
            check_strength(value.get_secret_value(), f"COMPLAINTS_{str(info.field_name).upper()}")
        return value

    @field_validator("twilio_auth_token")
    @classmethod
    def _twilio_knows_the_signed_url(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        # Twilio signs the URL it called. Listening beyond loopback, the service is reached through
        # a proxy or a load balancer (compose: Caddy), so the URL it sees is never that one and
        # every text and status callback would be refused with 403. Under `make run` (loopback) the
        # URL of the request is the signed one, unless a tunnel is used: then set it there too.
        if value is None or "public_base_url" not in info.data or info.data["public_base_url"]:
            return value
        host = info.data.get("inbound_host", "127.0.0.1")
        if not _loopback(host):
            raise ValueError(
                f"is set, but COMPLAINTS_PUBLIC_BASE_URL is not and the service listens on {host}: Twilio signs "
                "the URL it called (e.g. https://complaints.example.com/webhooks/twilio/sms), which behind a "
                "proxy is not the URL the service sees, so every text would be refused with 403. "
                "Set COMPLAINTS_PUBLIC_BASE_URL to the https URL the vendors reach"
            )
        return value

    @field_validator("sendgrid_webhook_public_key")
    @classmethod
    def _public_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        from sendgrid.helpers.eventwebhook import EventWebhook

        try:
            EventWebhook(value.get_secret_value())
        except (ValueError, TypeError):
            raise ValueError("not a SendGrid verification key (base64 DER, as the console shows it)") from None
        return value


def _loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: whatever it resolves to, it is not only this machine
