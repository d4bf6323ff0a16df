"""The compliance report a manager gives the regulator, computed from each case's outcome memo.

Each case keeps a compact outcome in its memo (see ComplaintCase._outcome), so a report over
thousands of cases is one paged visibility listing, never one query per case.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class ComplianceReport:
    cases_received: int
    cases_closed: int
    acknowledgements_due: int
    acknowledgements_on_time: int
    introductions_due: int
    introductions_within_48_hours: int
    updates_due: int
    updates_as_agreed: int
    adr_letters_due: int
    adr_letters_sent_on_time: int
    cases_escalated: int
    escalations: int
    breaches: int
    median_days_to_close: float | None

    def rows(self) -> list[tuple[str, str]]:
        def share(done: int, due: int) -> str:
            return f"{done}/{due} ({100 * done / due:.0f}%)" if due else "0/0"

        median = "-" if self.median_days_to_close is None else f"{self.median_days_to_close:.1f} days"
        return [
            ("Cases received", str(self.cases_received)),
            ("Cases closed", str(self.cases_closed)),
            ("Acknowledged on time", share(self.acknowledgements_on_time, self.acknowledgements_due)),
            ("Introduced within 48 hours", share(self.introductions_within_48_hours, self.introductions_due)),
            ("Updates as agreed", share(self.updates_as_agreed, self.updates_due)),
            ("ADR letters sent on time", share(self.adr_letters_sent_on_time, self.adr_letters_due)),
            ("Cases escalated", f"{self.cases_escalated} ({self.escalations} escalations)"),
            ("Milestones breached", str(self.breaches)),
            ("Median time to close", median),
        ]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def compliance_report(outcomes: Iterable[dict], now: datetime) -> ComplianceReport:
    """Count each clock once its due time has passed (or it was done early): the regulator's view.

    A milestone still in the future and not yet done is neither on time nor late, so it is left
    out; an ADR letter is due only for cases still open at their 8-week mark.
    """
    received = closed = escalated = escalations = breaches = 0
    due = {"acknowledgement": 0, "introduction": 0, "update": 0, "adr_rights": 0}
    met = dict.fromkeys(due, 0)
    days_to_close: list[float] = []
    for outcome in outcomes:
        received += 1
        closed_at = _parse(outcome.get("closed_at"))
        received_at = _parse(outcome["received_at"])
        if closed_at is not None:
            closed += 1
            days_to_close.append((closed_at - received_at) / timedelta(days=1))
        if outcome.get("escalations"):
            escalated += 1
            escalations += outcome["escalations"]
        for name, (due_at, done_at, breached) in outcome.get("milestones", {}).items():
            kind = "update" if name.startswith("update_") else "introduction" if name.startswith("introduction") else name
            if kind not in due:
                continue
            due_at, done_at = _parse(due_at), _parse(done_at)
            breaches += bool(breached)
            if done_at is None and due_at > now:
                continue  # not yet due
            if kind == "adr_rights" and closed_at is not None and closed_at < due_at:
                continue  # closed before 8 weeks: no letter owed
            if kind in ("acknowledgement", "introduction", "update") and done_at is None and closed_at is not None:
                continue  # closed before the step was needed
            due[kind] += 1
            met[kind] += done_at is not None and done_at <= due_at
    return ComplianceReport(
        cases_received=received,
        cases_closed=closed,
        acknowledgements_due=due["acknowledgement"],
        acknowledgements_on_time=met["acknowledgement"],
        introductions_due=due["introduction"],
        introductions_within_48_hours=met["introduction"],
        updates_due=due["update"],
        updates_as_agreed=met["update"],
        adr_letters_due=due["adr_rights"],
        adr_letters_sent_on_time=met["adr_rights"],
        cases_escalated=escalated,
        escalations=escalations,
        breaches=breaches,
        median_days_to_close=statistics.median(days_to_close) if days_to_close else None,
    )
