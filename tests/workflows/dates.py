"""The named dates and spans the workflow scenarios run on (each on a time-skipping server of its own).

2030 is far enough ahead that the test server's clock (real time, moved forward) can always reach it.
Easter Sunday 2030 is 21 April; UK clocks go back on Sunday 27 October 2030.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
WEEK = 7 * DAY


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


PLAIN_TUESDAY = utc(2030, 2, 12, 10, 0)  # 10:00 GMT
