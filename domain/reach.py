"""Which channels reach the customer, and in what order the code tries them. Pure.

"Wherever possible contact will be made by phone and followed up by email": a text first when the
customer has a mobile, then their preferred written channel; a failed channel falls back along
FALLBACK_ORDER.
"""

from __future__ import annotations

from domain.models import CaseState, ChannelKind, Customer, WrittenChannel

FALLBACK_ORDER = [ChannelKind.SMS, ChannelKind.EMAIL, ChannelKind.LETTER]


def reachable_channels(customer: Customer, *, texts_stopped: bool = False) -> list[ChannelKind]:
    """The customer's channels in the code's order of preference: phone, email, letter.

    `texts_stopped`: the customer replied STOP (v4): no more texts, the written channels take over."""
    channels = []
    if customer.has_mobile and not texts_stopped:
        channels.append(ChannelKind.SMS)
    if customer.email:
        channels.append(ChannelKind.EMAIL)
    if customer.address:
        channels.append(ChannelKind.LETTER)
    return channels


def fallback_after(
    customer: Customer, failed: ChannelKind, tried: set[ChannelKind], *, texts_stopped: bool = False
) -> ChannelKind | None:
    """Phone -> email -> letter; past the letter, any channel not yet tried is a last resort."""
    reachable = reachable_channels(customer, texts_stopped=texts_stopped)
    later = [c for c in reachable if FALLBACK_ORDER.index(c) > FALLBACK_ORDER.index(failed)]
    earlier = [c for c in reachable if c not in later]
    return next((c for c in later + earlier if c not in tried), None)


def written_channel(customer: Customer) -> ChannelKind:
    if customer.preferred_written_channel is WrittenChannel.LETTER:
        return ChannelKind.LETTER
    return ChannelKind.EMAIL


def phone_then_written(customer: Customer, *, texts_stopped: bool = False) -> list[ChannelKind]:
    written = written_channel(customer)
    return [ChannelKind.SMS, written] if customer.has_mobile and not texts_stopped else [written]


def update_channels(state: CaseState, customer: Customer, *, agreed_channel_kept: bool) -> list[ChannelKind]:
    """The channel the customer agreed for updates, if reachable; else phone, then in writing.

    `agreed_channel_kept` is False for cases begun before v3, which never honoured an agreement.
    """
    agreed = state.update_channel if agreed_channel_kept else None
    stopped = state.sms_stopped_at is not None
    if agreed is not None and agreed in reachable_channels(customer, texts_stopped=stopped):
        return [agreed]
    return phone_then_written(customer, texts_stopped=stopped)


# What a text carries of a progress note: channels/templates/progress_update.sms.j2 clips it there.
SMS_NOTE_CHARS = 140


def note_cut_short(channels: list[ChannelKind], note: str | None) -> bool:
    """Whether an update going by text alone would cut its note for the customer short."""
    return channels == [ChannelKind.SMS] and note is not None and len(note) > SMS_NOTE_CHARS
