"""Compensation is credited to the invoice once, however often the activity is retried."""

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from activities.billing import BillingActivities
from domain.models import InvoiceCredit


def credit(key: str = "CC-2026-4F7K2Q/credit-1") -> InvoiceCredit:
    return InvoiceCredit(
        key=key,
        reference="CC-2026-4F7K2Q",
        account_number="ISS-204871",
        amount_gbp=Decimal("25.50"),
        reason="Two missed engineer visits",
    )


async def test_a_retried_credit_is_applied_once(store_at) -> None:
    billing = BillingActivities(store_at("ledger.sqlite3"))
    first = await billing.credit_invoice(credit())
    again = await billing.credit_invoice(credit())
    assert not first.duplicate and again.duplicate
    assert again.credit_id == first.credit_id and again.applied_at == first.applied_at
    assert billing.credits_for("CC-2026-4F7K2Q") == [(first.credit_id, 2550)]


async def test_workers_racing_to_apply_one_credit_apply_it_once(store_at) -> None:
    """Four workers (each its own ledger connection) credit the same key at the same moment, round
    after round: one credit per key, every worker told the same credit id, one told it was first."""
    racers, rounds = 4, 100
    ledgers = [BillingActivities(store_at("ledger.sqlite3")) for _ in range(racers)]
    barrier = threading.Barrier(racers)

    def race(worker: int) -> list[tuple[str, bool]]:
        answers = []
        for n in range(rounds):
            barrier.wait(timeout=30)
            receipt = asyncio.run(ledgers[worker].credit_invoice(credit(f"CC-2026-4F7K2Q/credit-{n}")))
            answers.append((receipt.credit_id, receipt.duplicate))
        return answers

    with ThreadPoolExecutor(racers) as pool:
        answers = await asyncio.to_thread(lambda: list(pool.map(race, range(racers))))
    stored = ledgers[0].credits_for("CC-2026-4F7K2Q")
    assert len(stored) == rounds and {amount for _, amount in stored} == {2550}
    for n in range(rounds):
        told = [a[n] for a in answers]
        assert len({credit_id for credit_id, _ in told}) == 1, f"round {n}: {told}"
        assert sum(not duplicate for _, duplicate in told) == 1, f"round {n}: {told}"
