"""Each worker process's share of a vendor's send rate: a token bucket per vendor channel.

The server holds the vendor queues (domain.vendor_queues) to the vendor's rate, but a case's first
attempt runs as a local activity inside its own workflow task, which no task-queue limit reaches:
after a bank-holiday weekend every case wakes at 09:00 and would call the vendor at once. So a first
attempt takes a token from this bucket or fails at once as retryable `RateLimited`, without calling
the vendor, and the case queues the send on the vendor's queue. A regular attempt waits for a token
in the same bucket, so one process never calls a vendor faster than its share, whichever path the
send took. aiolimiter's leaky bucket allows a burst of one second's worth, as the vendors do.

Staff notices e-mailed through the same SendGrid account (`activities.alerts`) have a bucket of
their own, STAFF_SHARE of the e-mail rate, taken out of the customers' e-mail bucket: the two
together stay under the vendor's rate, and in the 09:00 rush the owners' reminders cannot crowd out
the customers' updates.
"""

from __future__ import annotations

from aiolimiter import AsyncLimiter

from domain.models import ChannelKind

# Sends are paced at 95 % of the vendor's rate. Tokens are taken when a send is ready, but requests
# leave the worker's threads in bunches and the vendor's bucket counts arrivals: at 100 % a bunch
# overdraws it (measured: 1 in 40 sends refused with 429 in a 20-case rush). At 90 % a 2,000-case
# rush had no 429 in 4,000 sends but drained in 1.20x the ideal; 5 % spare is the balance.
HEADROOM = 0.95

# Staff notices' share of the e-mail rate, the customers' e-mail bucket and queue keeping the rest.
# Small: an owner's reminder for an update a week ahead can wait minutes, a customer's update has an
# hour. Unpaced, 2,000 reminders took half the account's rate in a 2,000-case rush and brought 4,092
# 429s (docs/performance.md, "The merged main").
STAFF_SHARE = 0.10


def _bucket(per_second: float) -> AsyncLimiter:
    """A second's burst at `per_second`, but room for one token at least: aiolimiter refuses to
    acquire more than its capacity, and a staff share (10 % of 5 e-mails a second) can be under one."""
    burst = max(1.0, per_second)
    return AsyncLimiter(burst, burst / per_second)


class VendorRateLimits:
    def __init__(self, per_second: dict[ChannelKind, float], *, staff_notices_per_second: float = 0.0) -> None:
        self._buckets = {kind: _bucket(rate) for kind, rate in per_second.items() if rate > 0}
        # Staff notices' own bucket (STAFF_SHARE), only when they go through the e-mail vendor.
        self._staff = _bucket(staff_notices_per_second) if staff_notices_per_second > 0 else None

    def limits(self, channel: ChannelKind) -> bool:
        return channel in self._buckets

    async def try_take(self, channel: ChannelKind) -> bool:
        """A token now, or False (never waits): for a first attempt, which must not hold its task."""
        bucket = self._buckets[channel]
        if not bucket.has_capacity():
            return False
        await bucket.acquire()  # capacity was just there and nothing ran since: returns at once
        return True

    async def take(self, channel: ChannelKind) -> None:
        """Wait for a token: for a regular attempt, already paced by the server."""
        await self._buckets[channel].acquire()

    @property
    def limits_staff_notices(self) -> bool:
        return self._staff is not None

    async def try_take_staff_notices(self, recipients: int) -> bool:
        """A token per recipient now, or False and none taken (never waits): for a first attempt."""
        assert self._staff is not None
        # More recipients than a second's burst never fit at once: the regular attempt takes them
        # one at a time.
        if recipients > self._staff.max_rate or not self._staff.has_capacity(recipients):
            return False
        await self._staff.acquire(recipients)  # capacity was just there: returns at once
        return True

    async def take_staff_notice(self) -> None:
        """Wait for one recipient's token: for a regular attempt, already paced by the server."""
        assert self._staff is not None
        await self._staff.acquire()
