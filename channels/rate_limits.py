"""Each worker process's share of a vendor's send rate: a token bucket per vendor channel.

The server holds the vendor queues (domain.vendor_queues) to the vendor's rate, but a case's first
attempt runs as a local activity inside its own workflow task, which no task-queue limit reaches:
after a bank-holiday weekend every case wakes at 09:00 and would call the vendor at once. So a first
attempt takes a token from this bucket or fails at once as retryable `RateLimited`, without calling
the vendor, and the case queues the send on the vendor's queue. A regular attempt waits for a token
in the same bucket, so one process never calls a vendor faster than its share, whichever path the
send took. aiolimiter's leaky bucket allows a burst of one second's worth, as the vendors do.
"""

from __future__ import annotations

from aiolimiter import AsyncLimiter

from domain.models import ChannelKind

# Sends are paced at 95 % of the vendor's rate. Tokens are taken when a send is ready, but requests
# leave the worker's threads in bunches and the vendor's bucket counts arrivals: at 100 % a bunch
# overdraws it (measured: 1 in 40 sends refused with 429 in a 20-case rush). At 90 % a 2,000-case
# rush had no 429 in 4,000 sends but drained in 1.20x the ideal; 5 % spare is the balance.
HEADROOM = 0.95


class VendorRateLimits:
    def __init__(self, per_second: dict[ChannelKind, float]) -> None:
        self._buckets = {kind: AsyncLimiter(rate, 1) for kind, rate in per_second.items() if rate > 0}

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
