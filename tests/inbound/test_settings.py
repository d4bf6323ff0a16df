"""The inbound service's settings: secrets from the environment or the secrets file, bad ones refused."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from inbound.settings import InboundSettings
from tests.inbound.signing import SendGridSigner


def test_defaults_listen_on_loopback_8090(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("COMPLAINTS_INBOUND_HOST", "COMPLAINTS_INBOUND_PORT", "COMPLAINTS_SECRETS_FILE"):
        monkeypatch.delenv(name, raising=False)
    settings = InboundSettings()
    assert (settings.inbound_host, settings.inbound_port, settings.webhook_tolerance_seconds) == (
        "127.0.0.1",
        8090,
        300,
    )


def test_secrets_come_from_the_secrets_file(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = SendGridSigner().public_key
    secrets = tmp_path / "secrets.env"
    secrets.write_text(
        f"COMPLAINTS_SENDGRID_WEBHOOK_PUBLIC_KEY={key}\nCOMPLAINTS_TWILIO_AUTH_TOKEN=tok\n"
        "COMPLAINTS_CONTACT_KEY_SECRET=hmac-secret-for-tests\nCOMPLAINTS_SENDGRID_INBOUND_SECRET=parse-secret-for-tests\n"
    )
    secrets.chmod(0o600)
    monkeypatch.setenv("COMPLAINTS_SECRETS_FILE", str(secrets))
    settings = InboundSettings()
    assert settings.sendgrid_webhook_public_key.get_secret_value() == key
    assert settings.twilio_auth_token.get_secret_value() == "tok"
    assert settings.contact_key_secret.get_secret_value() == "hmac-secret-for-tests"
    assert settings.sendgrid_inbound_secret.get_secret_value() == "parse-secret-for-tests"


def test_a_key_that_is_not_a_sendgrid_verification_key_is_refused_without_echoing_it(monkeypatch) -> None:
    monkeypatch.setenv("COMPLAINTS_SENDGRID_WEBHOOK_PUBLIC_KEY", "bm90LWEta2V5")
    with pytest.raises(ValidationError, match="sendgrid_webhook_public_key") as refused:
        InboundSettings()
    assert "bm90LWEta2V5" not in str(refused.value)


def test_a_public_url_with_a_query_is_refused(monkeypatch) -> None:
    monkeypatch.setenv("COMPLAINTS_PUBLIC_BASE_URL", "https://complaints.example.com/?a=1")
    with pytest.raises(ValidationError, match="public_base_url"):
        InboundSettings()


def test_the_managers_get_up_to_30_reply_notices_an_hour_unless_set(monkeypatch) -> None:
    assert InboundSettings().reply_notices_per_hour == 30
    monkeypatch.setenv("COMPLAINTS_REPLY_NOTICES_PER_HOUR", "5")
    assert InboundSettings().reply_notices_per_hour == 5
    # Zero would silence every reply behind one hourly notice: refused, by name.
    monkeypatch.setenv("COMPLAINTS_REPLY_NOTICES_PER_HOUR", "0")
    with pytest.raises(ValidationError, match="reply_notices_per_hour"):
        InboundSettings()


def test_behind_a_proxy_a_twilio_token_without_the_public_url_is_refused_at_start(monkeypatch) -> None:
    # Listening beyond loopback (compose: Caddy in front), the URL the service sees is never the one
    # Twilio signed: without the public URL every text would be refused with 403.
    monkeypatch.setenv("COMPLAINTS_INBOUND_HOST", "0.0.0.0")
    monkeypatch.setenv("COMPLAINTS_TWILIO_AUTH_TOKEN", "12345678901234567890123456789012")
    monkeypatch.setenv("COMPLAINTS_PUBLIC_BASE_URL", "")  # as compose passes it when unset
    with pytest.raises(ValidationError, match="twilio_auth_token") as refused:
        InboundSettings()
    assert "COMPLAINTS_PUBLIC_BASE_URL" in str(refused.value)
    assert "1234567890" not in str(refused.value)  # the token is never echoed

    monkeypatch.setenv("COMPLAINTS_PUBLIC_BASE_URL", "https://complaints.example.com")
    assert InboundSettings().public_base_url == "https://complaints.example.com"


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_on_loopback_a_twilio_token_alone_checks_against_the_url_of_the_request(monkeypatch, host: str) -> None:
    # `make run` and the tests post signed requests straight to the service: the URL is the signed one.
    monkeypatch.setenv("COMPLAINTS_INBOUND_HOST", host)
    monkeypatch.setenv("COMPLAINTS_TWILIO_AUTH_TOKEN", "12345678901234567890123456789012")
    assert InboundSettings().public_base_url is None


def test_behind_a_proxy_without_twilio_the_public_url_is_not_needed(monkeypatch) -> None:
    monkeypatch.setenv("COMPLAINTS_INBOUND_HOST", "0.0.0.0")
    assert InboundSettings().twilio_auth_token is None


@pytest.mark.parametrize("variable", ["COMPLAINTS_SENDGRID_INBOUND_SECRET", "COMPLAINTS_CONTACT_KEY_SECRET"])
def test_a_secret_shorter_than_16_characters_is_refused_by_name(monkeypatch, variable: str) -> None:
    monkeypatch.setenv(variable, "x" * 15)
    with pytest.raises(ValidationError, match=f"{variable} must be at least 16 characters") as refused:
        InboundSettings()
    assert "x" * 15 not in str(refused.value)
    monkeypatch.setenv(variable, "x" * 16)
    assert InboundSettings()
