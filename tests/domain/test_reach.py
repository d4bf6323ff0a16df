"""Which channels reach the customer, and the order a failed message falls back along."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.models import CaseState, ChannelKind, Customer, PostalAddress
from domain.reach import (
    SMS_NOTE_CHARS,
    fallback_after,
    note_cut_short,
    phone_then_written,
    reachable_channels,
    update_channels,
    written_channel,
)

ADDRESS = PostalAddress(lines=["1 High Street", "Leeds"], postcode="LS1 1AA")
SMS, EMAIL, LETTER = ChannelKind.SMS, ChannelKind.EMAIL, ChannelKind.LETTER


def customer(**fields: object) -> Customer:
    return Customer.model_validate({"name": "Alan Rees", **fields})


EVERYWHERE = customer(
    email="alan@example.com", phone="+447700900123", phone_is_mobile=True, address=ADDRESS.model_dump()
)
LANDLINE_BY_LETTER = customer(
    phone="+442079460000", phone_is_mobile=False, address=ADDRESS.model_dump(), preferred_written_channel="letter"
)


def test_channels_are_listed_phone_email_letter_and_a_landline_takes_no_text() -> None:
    assert reachable_channels(EVERYWHERE) == [SMS, EMAIL, LETTER]
    assert reachable_channels(LANDLINE_BY_LETTER) == [LETTER]
    assert reachable_channels(customer(email="alan@example.com")) == [EMAIL]


def test_a_failed_text_falls_back_to_email_then_letter_then_nothing() -> None:
    assert fallback_after(EVERYWHERE, SMS, {SMS}) == EMAIL
    assert fallback_after(EVERYWHERE, EMAIL, {SMS, EMAIL}) == LETTER
    assert fallback_after(EVERYWHERE, LETTER, {SMS, EMAIL, LETTER}) is None


def test_past_the_letter_an_untried_earlier_channel_is_the_last_resort() -> None:
    # The letter was the plan (written by letter); it failed: the untried text and email remain.
    assert fallback_after(EVERYWHERE, LETTER, {LETTER}) == SMS
    assert fallback_after(EVERYWHERE, LETTER, {LETTER, SMS}) == EMAIL


def test_writing_goes_by_the_preferred_channel_after_a_text_only_to_a_mobile() -> None:
    assert written_channel(EVERYWHERE) is EMAIL
    assert written_channel(LANDLINE_BY_LETTER) is LETTER
    assert phone_then_written(EVERYWHERE) == [SMS, EMAIL]
    assert phone_then_written(LANDLINE_BY_LETTER) == [LETTER]


def test_updates_go_by_the_agreed_channel_only_while_it_reaches_the_customer() -> None:
    agreed_letter = CaseState(reference="CC-2030-ABCDEFGH", update_channel=LETTER)
    assert update_channels(agreed_letter, EVERYWHERE, agreed_channel_kept=True) == [LETTER]
    # v1/v2 cases never honoured an agreed channel.
    assert update_channels(agreed_letter, EVERYWHERE, agreed_channel_kept=False) == [SMS, EMAIL]
    agreed_text = CaseState(reference="CC-2030-ABCDEFGH", update_channel=SMS)
    assert update_channels(agreed_text, LANDLINE_BY_LETTER, agreed_channel_kept=True) == [LETTER]


def test_once_the_customer_replied_stop_no_fallback_or_update_goes_by_text() -> None:
    # Past the failed letter, the untried email is the last resort, not the text.
    assert fallback_after(EVERYWHERE, LETTER, {LETTER}, texts_stopped=True) == EMAIL
    stopped = CaseState(reference="CC-2030-ABCDEFGH", sms_stopped_at=datetime(2030, 2, 14, 10, tzinfo=UTC))
    assert update_channels(stopped, EVERYWHERE, agreed_channel_kept=True) == [EMAIL]
    agreed_text = stopped.model_copy(update={"update_channel": SMS})
    assert update_channels(agreed_text, EVERYWHERE, agreed_channel_kept=True) == [EMAIL]
    # Not stopped: the agreed text is honoured.
    assert update_channels(
        agreed_text.model_copy(update={"sms_stopped_at": None}), EVERYWHERE, agreed_channel_kept=True
    ) == [SMS]


def test_a_failed_channel_is_never_its_own_fallback() -> None:
    assert fallback_after(EVERYWHERE, SMS, set()) == EMAIL


def test_a_note_is_cut_short_only_by_an_update_going_by_text_alone() -> None:
    long_note, short_note = "x" * (SMS_NOTE_CHARS + 1), "x" * SMS_NOTE_CHARS
    assert note_cut_short([SMS], long_note)
    assert not note_cut_short([SMS], short_note)
    assert not note_cut_short([SMS], None)
    assert not note_cut_short([SMS, EMAIL], long_note)  # the written copy carries all of it
    assert not note_cut_short([EMAIL], long_note)
