from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from channels.letters import PostRoomChannel
from channels.outbox import OutboxChannel
from channels.registry import build_channels, describe_channels
from channels.sendgrid_email import SendGridEmailChannel
from channels.settings import ChannelSettings
from channels.twilio_sms import TwilioSmsChannel
from domain.models import ChannelKind

SENDGRID_KEY = "SG.secret-sendgrid-key.xyz"
TWILIO_TOKEN = "secret-twilio-token-123"
ACCOUNT_SID = "AC" + "0123456789abcdef" * 2


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    """Each test sees only the COMPLAINTS_ variables it sets."""
    import os

    for name in list(os.environ):
        if name.startswith("COMPLAINTS_"):
            monkeypatch.delenv(name)


def test_with_no_keys_everything_goes_to_the_outbox(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPLAINTS_DATA_DIR", str(tmp_path))
    settings = ChannelSettings()
    assert settings.post_room_dir == tmp_path / "post-room"
    channels = build_channels(settings)
    assert set(channels) == set(ChannelKind)
    for kind, channel in channels.items():
        assert isinstance(channel, OutboxChannel) and channel.kind is kind
        assert channel.outbox_dir == tmp_path / "outbox"


def test_defaults():
    settings = ChannelSettings()
    assert settings.data_dir == Path("data")
    assert settings.letters == "outbox"
    assert settings.provider.name == "Infinity System Solutions Ltd"
    assert settings.provider.postcode == "NP23 8XA"


def test_configured_vendors_are_used(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPLAINTS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COMPLAINTS_SENDGRID_API_KEY", SENDGRID_KEY)
    monkeypatch.setenv("COMPLAINTS_SENDGRID_HOST", "http://127.0.0.1:4010")
    monkeypatch.setenv("COMPLAINTS_EMAIL_FROM", "complaints@iss.example.com")
    monkeypatch.setenv("COMPLAINTS_TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("COMPLAINTS_TWILIO_AUTH_TOKEN", TWILIO_TOKEN)
    monkeypatch.setenv("COMPLAINTS_TWILIO_FROM_NUMBER", "+447700900001")
    monkeypatch.setenv("COMPLAINTS_LETTERS", "post_room")
    monkeypatch.setenv("COMPLAINTS_POST_ROOM_DIR", str(tmp_path / "print"))

    channels = build_channels(ChannelSettings())
    assert isinstance(channels[ChannelKind.EMAIL], SendGridEmailChannel)
    assert channels[ChannelKind.EMAIL].host == "http://127.0.0.1:4010"
    assert isinstance(channels[ChannelKind.SMS], TwilioSmsChannel)
    assert isinstance(channels[ChannelKind.LETTER], PostRoomChannel)
    assert channels[ChannelKind.LETTER].post_room_dir == tmp_path / "print"
    described = str(describe_channels(channels))
    assert SENDGRID_KEY not in described and TWILIO_TOKEN not in described


def test_secrets_come_from_the_secrets_file_and_are_never_shown(tmp_path, monkeypatch):
    secrets = tmp_path / "secrets.env"
    secrets.write_text(
        f"COMPLAINTS_SENDGRID_API_KEY={SENDGRID_KEY}\n"
        f"COMPLAINTS_TWILIO_AUTH_TOKEN={TWILIO_TOKEN}\n"
        "COMPLAINTS_SOMETHING_FOR_ANOTHER_COMPONENT=1\n"
    )
    secrets.chmod(0o600)
    monkeypatch.setenv("COMPLAINTS_SECRETS_FILE", str(secrets))
    monkeypatch.setenv("COMPLAINTS_EMAIL_FROM", "complaints@iss.example.com")
    monkeypatch.setenv("COMPLAINTS_TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("COMPLAINTS_TWILIO_MESSAGING_SERVICE_SID", "MG" + "0" * 32)

    settings = ChannelSettings()
    assert settings.sendgrid_api_key.get_secret_value() == SENDGRID_KEY
    assert settings.twilio_auth_token.get_secret_value() == TWILIO_TOKEN
    for shown in (repr(settings), str(settings), settings.model_dump_json()):
        assert SENDGRID_KEY not in shown and TWILIO_TOKEN not in shown


def test_environment_wins_over_the_secrets_file(tmp_path, monkeypatch):
    secrets = tmp_path / "secrets.env"
    secrets.write_text("COMPLAINTS_EMAIL_FROM=file@iss.example.com\n")
    secrets.chmod(0o600)
    monkeypatch.setenv("COMPLAINTS_SECRETS_FILE", str(secrets))
    monkeypatch.setenv("COMPLAINTS_EMAIL_FROM", "env@iss.example.com")
    assert ChannelSettings().email_from == "env@iss.example.com"


def test_a_secrets_file_other_users_can_read_is_refused(tmp_path, monkeypatch):
    # A warning in a deploy log is read after the fact; the keys have leaked by then.
    secrets = tmp_path / "secrets.env"
    secrets.write_text(f"COMPLAINTS_SENDGRID_API_KEY={SENDGRID_KEY}\n")
    secrets.chmod(0o644)
    monkeypatch.setenv("COMPLAINTS_SECRETS_FILE", str(secrets))
    with pytest.raises(ValueError, match="chmod 600") as refused:
        ChannelSettings()
    assert SENDGRID_KEY not in str(refused.value)


def test_a_missing_secrets_file_fails_at_start(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPLAINTS_SECRETS_FILE", str(tmp_path / "nope.env"))
    with pytest.raises(ValueError, match="not a readable file"):
        ChannelSettings()


@pytest.mark.parametrize(
    ("variables", "complaint"),
    [
        ({"COMPLAINTS_SENDGRID_API_KEY": SENDGRID_KEY}, "COMPLAINTS_EMAIL_FROM is not"),
        ({"COMPLAINTS_TWILIO_ACCOUNT_SID": ACCOUNT_SID}, "both"),
        ({"COMPLAINTS_TWILIO_ACCOUNT_SID": ACCOUNT_SID, "COMPLAINTS_TWILIO_AUTH_TOKEN": TWILIO_TOKEN}, "no sender"),
        ({"COMPLAINTS_TWILIO_FROM_NUMBER": "07700 900001"}, "E.164"),
        ({"COMPLAINTS_TWILIO_ACCOUNT_SID": "AC123"}, "32 hex"),
        ({"COMPLAINTS_EMAIL_FROM": "not-an-address"}, "email_from"),
        ({"COMPLAINTS_LETTERS": "pigeon"}, "letters"),
    ],
)
def test_half_configured_vendors_fail_at_start_without_echoing_secrets(monkeypatch, variables, complaint):
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match=complaint) as caught:
        ChannelSettings()
    assert SENDGRID_KEY not in str(caught.value) and TWILIO_TOKEN not in str(caught.value)


def test_empty_variables_mean_not_set(monkeypatch):
    monkeypatch.setenv("COMPLAINTS_SENDGRID_API_KEY", "")
    monkeypatch.setenv("COMPLAINTS_TWILIO_ACCOUNT_SID", "")
    assert isinstance(build_channels(ChannelSettings())[ChannelKind.EMAIL], OutboxChannel)


def test_provider_address_is_configurable(monkeypatch):
    monkeypatch.setenv("COMPLAINTS_PROVIDER__NAME", "Example Telecom Ltd")
    monkeypatch.setenv("COMPLAINTS_PROVIDER__ADDRESS_LINES", '["1 Main Street", "Cardiff"]')
    monkeypatch.setenv("COMPLAINTS_PROVIDER__POSTCODE", "CF10 1AA")
    settings = ChannelSettings()
    assert settings.provider.name == "Example Telecom Ltd"
    assert settings.provider.address_lines == ["1 Main Street", "Cardiff"]
    assert settings.provider.phone == "0330 9000 009"
    letters = build_channels(settings)[ChannelKind.LETTER]
    assert letters.letters.provider.postcode == "CF10 1AA"


def test_a_twilio_auth_token_alone_turns_on_inbound_checks_while_texts_stay_in_the_outbox(monkeypatch):
    monkeypatch.setenv("COMPLAINTS_TWILIO_AUTH_TOKEN", TWILIO_TOKEN)
    settings = ChannelSettings()
    assert settings.twilio_auth_token.get_secret_value() == TWILIO_TOKEN and not settings.twilio_enabled
    assert isinstance(build_channels(settings)[ChannelKind.SMS], OutboxChannel)


def test_the_public_base_url_reaches_the_twilio_channel(monkeypatch):
    monkeypatch.setenv("COMPLAINTS_TWILIO_ACCOUNT_SID", ACCOUNT_SID)
    monkeypatch.setenv("COMPLAINTS_TWILIO_AUTH_TOKEN", TWILIO_TOKEN)
    monkeypatch.setenv("COMPLAINTS_TWILIO_FROM_NUMBER", "+447700900001")
    monkeypatch.setenv("COMPLAINTS_PUBLIC_BASE_URL", "https://complaints.example.com/")
    sms = build_channels(ChannelSettings())[ChannelKind.SMS]
    assert sms.status_callback("CC-2026-T7MH3PQR/002-introduction-sms") == (
        "https://complaints.example.com/webhooks/twilio/status?key=CC-2026-T7MH3PQR%2F002-introduction-sms"
    )


def test_a_public_base_url_with_a_query_is_refused(monkeypatch):
    monkeypatch.setenv("COMPLAINTS_PUBLIC_BASE_URL", "https://complaints.example.com/?x=1")
    with pytest.raises(ValidationError, match="public_base_url"):
        ChannelSettings()
