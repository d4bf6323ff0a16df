"""The keyed hashes in the `CustomerContactKeys` search attribute.

Visibility is not encrypted, so it never holds a phone number or an e-mail address: an SMS reply
finds its case by HMAC-SHA256 (hex) of the sender's E.164 number under a secret only our processes
hold (`COMPLAINTS_CONTACT_KEY_SECRET`). The starter, the admin script (a contact correction) and the
inbound service all hash here, so the three always agree on the normal form.
"""

from __future__ import annotations

import hashlib
import hmac

import phonenumbers
from pydantic import SecretStr, ValidationError, field_validator
from pydantic_settings import SettingsConfigDict

from ops.secrets_file import SecretsFileSettings, WeakSecretError, check_strength

CONTACT_KEY_SECRET_VARIABLE = "COMPLAINTS_CONTACT_KEY_SECRET"


def normal_phone(number: str) -> str | None:
    """E.164 as phonenumbers formats it (UK numbers may come without +44), or None if not a number."""
    try:
        parsed = phonenumbers.parse(number, "GB")
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def normal_email(address: str) -> str:
    return address.strip().lower()


def _hmac(secret: str, kind: str, value: str) -> str:
    # The kind is bound in, so a number and an address can never hash alike.
    return hmac.new(secret.encode("utf-8"), f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def phone_key(secret: str, number: str) -> str | None:
    normal = normal_phone(number)
    return _hmac(secret, "phone", normal) if normal else None


def email_key(secret: str, address: str) -> str:
    return _hmac(secret, "email", normal_email(address))


def contact_keys(secret: str, *, phone: str | None = None, email: str | None = None) -> list[str]:
    """The keys for a customer's number and address (either may be missing)."""
    keys = [phone_key(secret, phone) if phone else None, email_key(secret, email) if email else None]
    return [key for key in keys if key]


class _ContactKeySettings(SecretsFileSettings):
    model_config = SettingsConfigDict(
        env_prefix="COMPLAINTS_", env_ignore_empty=True, extra="ignore", hide_input_in_errors=True
    )

    contact_key_secret: SecretStr | None = None

    @field_validator("contact_key_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            check_strength(value.get_secret_value(), CONTACT_KEY_SECRET_VARIABLE)
        return value


def configured_secret() -> str | None:
    """COMPLAINTS_CONTACT_KEY_SECRET from the environment or the secrets file; None: not configured
    (no contact keys are set, and SMS replies cannot be matched to a case by number).

    Raises WeakSecretError, naming the variable, when it is shorter than 16 characters."""
    try:
        secret = _ContactKeySettings().contact_key_secret
    except ValidationError as exc:
        raise WeakSecretError(exc.errors()[0]["msg"].removeprefix("Value error, ")) from None
    return secret.get_secret_value() if secret is not None else None
