"""How times read to people: in the Web UI, in summaries and in the admin script."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

LONDON = "Europe/London"


def local_label(moment: datetime, zone: str = LONDON) -> str:
    """E.g. 'Tue 29 Dec 16:30' in UK local time: what a handler sees on the wall clock."""
    return moment.astimezone(ZoneInfo(zone)).strftime("%a %d %b %H:%M")
