"""Compensation is credited to the invoice once, however often the activity is retried."""

from decimal import Decimal

from activities.billing import BillingActivities
from domain.models import InvoiceCredit


async def test_a_retried_credit_is_applied_once(tmp_path) -> None:
    billing = BillingActivities(tmp_path / "ledger.sqlite3")
    credit = InvoiceCredit(
        key="CC-2026-4F7K2Q/credit-1",
        reference="CC-2026-4F7K2Q",
        account_number="ISS-204871",
        amount_gbp=Decimal("25.50"),
        reason="Two missed engineer visits",
    )
    first = await billing.credit_invoice(credit)
    again = await billing.credit_invoice(credit)
    assert not first.duplicate and again.duplicate
    assert again.credit_id == first.credit_id
    assert billing.credits_for("CC-2026-4F7K2Q") == [(first.credit_id, 2550)]
