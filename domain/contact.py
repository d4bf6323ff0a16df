"""When a customer may be phoned or texted, whatever a deadline says. Pure: workflow code imports it.

The code's clocks sometimes fall at night (48 hours from a complaint filed at 02:00 on a Thursday is
02:00 on a Saturday). Waiting for working hours may miss such a clock; texting at 02:00 is never
acceptable. So a phone contact has a floor of its own, the policy's quiet hours (08:00-20:00 UK time
by default, never on Christmas Day): the written channel can meet a clock at any hour, a text waits
for the first moment the quiet hours allow.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from domain.models import QuietHours


def _no_contact(day: date, quiet: QuietHours) -> bool:
    return f"{day.month:02d}-{day.day:02d}" in quiet.no_contact_days


def phone_allowed(moment: datetime, quiet: QuietHours, timezone_name: str) -> bool:
    """True if a call or text may reach the customer at `moment`."""
    local = moment.astimezone(ZoneInfo(timezone_name))
    return not _no_contact(local.date(), quiet) and quiet.start <= local.time().replace(tzinfo=None) < quiet.end


def next_phone_moment(moment: datetime, quiet: QuietHours, timezone_name: str) -> datetime:
    """`moment` itself if a call or text is allowed then, else the next moment one is (UTC)."""
    if phone_allowed(moment, quiet, timezone_name):
        return moment.astimezone(UTC)
    zone = ZoneInfo(timezone_name)
    day = moment.astimezone(zone).date()
    # At most a few days of no-contact dates in a row; a year bounds the search in any case.
    for _ in range(366):
        start = datetime.combine(day, quiet.start, tzinfo=zone).astimezone(UTC)
        if start >= moment and not _no_contact(day, quiet):
            return start
        day += timedelta(days=1)
    raise ValueError("quiet hours leave no moment to phone in a year")


# The `type` of the send's refusal of a text outside the quiet hours: retryable, and not a failure.
QUIET_HOURS_REFUSAL = "QuietHours"


def text_wait(moment: datetime, quiet: QuietHours, timezone_name: str) -> timedelta:
    """How long a text ready at `moment` waits for the quiet hours: zero while they allow it."""
    return next_phone_moment(moment, quiet, timezone_name) - moment


def local_date(moment: datetime, timezone_name: str) -> date:
    """The calendar date at `moment` on the wall clocks of `timezone_name`."""
    return moment.astimezone(ZoneInfo(timezone_name)).date()


def local_moment(day: date, at: time, timezone_name: str) -> datetime:
    """`at` on `day`, on the wall clocks of `timezone_name`, as UTC."""
    return datetime.combine(day, at, tzinfo=ZoneInfo(timezone_name)).astimezone(UTC)
