"""How times read to people: in the Web UI, in summaries and in the admin script."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

LONDON = "Europe/London"


def local_label(moment: datetime, zone: str = LONDON) -> str:
    """E.g. 'Tue 29 Dec 16:30' in UK local time: what a handler sees on the wall clock."""
    return moment.astimezone(ZoneInfo(zone)).strftime("%a %d %b %H:%M")


def mask_sender(sender: str) -> str:
    """Enough of a number or address for staff to recognise, not enough to copy from a screen."""
    if "@" in sender:
        local, _, domain = sender.rpartition("@")  # a quoted local part may hold an "@" of its own
        return f"{local[:1]}***@{domain}"
    return f"{sender[:3]}{'*' * max(len(sender) - 6, 0)}{sender[-3:]}" if len(sender) > 6 else "***"


def gbp(amount: Decimal) -> str:
    """Pounds as the customer's letter and the handler's screen print them: '£1,234.50'."""
    return f"£{Decimal(amount):,.2f}"
