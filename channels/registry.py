"""Which channel serves each kind: the vendor where its keys are configured, else the outbox."""

from __future__ import annotations

from channels.base import MessageChannel
from channels.letters import LetterRenderer, PostRoomChannel
from channels.outbox import OutboxChannel
from channels.sendgrid_email import SendGridEmailChannel
from channels.settings import ChannelSettings
from channels.twilio_sms import TwilioSmsChannel
from domain.models import ChannelKind


def build_channels(settings: ChannelSettings) -> dict[ChannelKind, MessageChannel]:
    letters = LetterRenderer(settings.provider)

    def outbox(kind: ChannelKind) -> OutboxChannel:
        assert settings.outbox_dir is not None  # filled in by the settings validator
        return OutboxChannel(
            kind,
            settings.outbox_dir,
            email_from=settings.email_from,
            email_from_name=settings.email_from_name,
            email_reply_to=settings.email_reply_to,
            sms_from=settings.twilio_from_number or settings.twilio_messaging_service_sid or "outbox",
            letters=letters,
        )

    channels: dict[ChannelKind, MessageChannel] = {}

    if settings.sendgrid_api_key is not None and settings.email_from:
        channels[ChannelKind.EMAIL] = SendGridEmailChannel(
            settings.sendgrid_api_key.get_secret_value(),
            email_from=settings.email_from,
            email_from_name=settings.email_from_name,
            email_reply_to=settings.email_reply_to,
            host=settings.sendgrid_host,
            timeout=settings.send_timeout_seconds,
        )
    else:
        channels[ChannelKind.EMAIL] = outbox(ChannelKind.EMAIL)

    if settings.twilio_account_sid and settings.twilio_auth_token is not None:
        channels[ChannelKind.SMS] = TwilioSmsChannel(
            settings.twilio_account_sid,
            settings.twilio_auth_token.get_secret_value(),
            from_number=settings.twilio_from_number,
            messaging_service_sid=settings.twilio_messaging_service_sid,
            base_url=settings.twilio_base_url,
            timeout=settings.send_timeout_seconds,
            public_base_url=settings.public_base_url,
        )
    else:
        channels[ChannelKind.SMS] = outbox(ChannelKind.SMS)

    if settings.letters == "post_room":
        assert settings.post_room_dir is not None  # filled in by the settings validator
        channels[ChannelKind.LETTER] = PostRoomChannel(settings.post_room_dir, letters)
    else:
        channels[ChannelKind.LETTER] = outbox(ChannelKind.LETTER)

    return channels


def describe_channels(channels: dict[ChannelKind, MessageChannel]) -> dict[str, str]:
    """For the worker's start-up log line: which implementation serves each kind (no secrets)."""
    return {kind.value: repr(channel) for kind, channel in channels.items()}
