"""One fully written customer message: every field any template reads has a value. The channel
tests build their requests from it, and `bench.message_cpu` times sending it."""

from __future__ import annotations

from datetime import UTC, datetime, time
from decimal import Decimal
from typing import Any

from domain.models import AdrScheme, CaseRole, Handler, PostalAddress, Recipient, UpdateSchedule

HANDLER = Handler(
    id="h-017", name="Sam Patel", role=CaseRole.CASE_HANDLER, phone="+441495123456", email="sam.patel@iss.example.com"
)
RECIPIENT = Recipient(
    name="Jane O'Brien",
    email="jane.obrien@example.com",
    phone="+447700900123",
    address=PostalAddress(lines=["Flat 2", "14 Bethcar Street", "Ebbw Vale"], postcode="np23 6hn"),
)


def context_fields(reference: str, handler: Handler) -> dict[str, Any]:
    """The message context's fields, for `MessageContext(**...)` after any overrides."""
    return {
        "reference": reference,
        "customer_name": "Jane O'Brien",
        "handler": handler,
        "received_at": datetime(2026, 11, 2, 9, 15, tzinfo=UTC),
        # An acknowledgement sent inside the 48 hours the introduction is owed by.
        "introduction_due_at": datetime(2026, 11, 4, 9, 15, tzinfo=UTC),
        "acknowledgement": {"Email": "jane.obrien@example.com", "Mobile": "07700 900123"},
        "schedule": UpdateSchedule(every=7, contact_time=time(10, 0)),
        "next_update_at": datetime(2026, 12, 29, 16, 30, tzinfo=UTC),
        "progress_note": "Our engineer found a fault at the exchange and has booked a repair.",
        "escalation_reason": "You told us you were not satisfied with our response.",
        "adr_scheme": AdrScheme(),
        "adr_reason": "eight_weeks",
        "compensation_gbp": Decimal("25.00"),
        "compensation_reason": "Loss of broadband for 6 days.",
    }
