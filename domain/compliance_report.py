"""The compliance report a manager gives the regulator, computed from each case's outcome memo.

Each case keeps a compact outcome in its memo (`case_outcome`, published by the workflow), so a
report over thousands of cases is one paged visibility listing, never one query per case. The
evidence record of one case (`admin.py evidence`) judges its clocks with the same `clock_verdict`
and counts them with the same `case_counts`, so the report and the evidence cannot disagree.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from domain.models import CaseState, Customer

# Every clock the case sets, by the name it gives its milestones ("introduction_2", "update_3").
KINDS = ("acknowledgement", "introduction", "review", "update", "adr_rights")

Verdict = Literal["met", "missed", "pending", "not_owed", "superseded"]


@dataclass(frozen=True)
class ComplianceReport:
    cases_received: int
    cases_closed: int
    acknowledgements_due: int
    acknowledgements_on_time: int
    introductions_due: int
    introductions_within_48_hours: int
    # At 3 working days an open case offers the customer a contact time and update interval.
    reviews_due: int
    reviews_on_time: int
    updates_due: int
    updates_as_agreed: int
    adr_letters_due: int
    adr_letters_sent_on_time: int
    cases_escalated: int
    escalations: int
    breaches: int
    # Clocks a later clock replaced (an escalation before the introduction went): neither met nor missed.
    clocks_superseded: int
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
            ("Update schedule offered at 3 working days", share(self.reviews_on_time, self.reviews_due)),
            ("Updates on schedule", share(self.updates_as_agreed, self.updates_due)),
            ("ADR letters sent on time", share(self.adr_letters_sent_on_time, self.adr_letters_due)),
            ("Cases escalated", f"{self.cases_escalated} ({self.escalations} escalations)"),
            ("Milestones breached", str(self.breaches)),
            ("Clocks superseded", str(self.clocks_superseded)),
            ("Median time to close", median),
        ]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _instant(value: str) -> datetime:
    """A time every memo carries (a clock's due time, when the case was received)."""
    return datetime.fromisoformat(value)


def clock_kind(name: str) -> str:
    """'introduction_2' -> 'introduction', 'update_3' -> 'update'; other names as they are."""
    for kind in KINDS:
        if name == kind or name.startswith(kind + "_"):
            return kind
    return name


def clock_verdict(
    due_at: datetime,
    done_at: datetime | None,
    breached: bool,
    superseded_at: datetime | None,
    closed_at: datetime | None,
    now: datetime,
) -> Verdict:
    """One clock as the regulator reads it.

    - superseded: a later clock took its place; it is neither met nor missed.
    - met / missed: done by its due time or not; a clock the case flagged as breached, or that
      passed its due time undone while the case was open, is missed.
    - pending: not done and not yet due.
    - not_owed: the case closed before the clock fell due (no ADR letter for a case resolved in
      a week, no update schedule for one resolved in a day).
    """
    if superseded_at is not None:
        return "superseded"
    if done_at is not None:
        return "met" if done_at <= due_at else "missed"
    if closed_at is not None and closed_at <= due_at:
        return "not_owed"
    if breached or due_at <= now:
        return "missed"
    return "pending"


def case_outcome(state: CaseState, received_at: datetime, *, updates_met_counted: bool = False) -> dict[str, object]:
    """The compact outcome a case keeps in its memo: what the report reads.

    `updates_met_counted` (v4): regular updates already met are a count (`updates_met`), not one
    entry each: the memo is rewritten with every weekly update, and its size no longer grows with
    the case's age. The report counts them the same (`outcome_clocks`)."""

    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    met = [
        m
        for m in state.milestones
        if updates_met_counted
        and clock_kind(m.name) == "update"
        and clock_verdict(m.due_at, m.done_at, m.breached, m.superseded_at, state.closed_at, m.due_at) == "met"
    ]
    outcome: dict[str, object] = {
        "received_at": received_at.isoformat(),
        "closed_at": iso(state.closed_at),
        "escalations": len(state.escalations),
        "attention": state.attention,
        "milestones": {
            m.name: [iso(m.due_at), iso(m.done_at), m.breached, iso(m.superseded_at)]
            for m in state.milestones
            if not any(m is counted for counted in met)
        },
    }
    if updates_met_counted:
        outcome["updates_met"] = len(met)
    return outcome


# v5: the memo holds the outcome as top-level fields, one per clock, so each upsert carries only
# the fields that changed (a weekly update rewrites three small fields, not the whole outcome).
MEMO_CLOCK = "clock:"
MEMO_FIELDS = ("received_at", "closed_at", "escalations", "attention", "updates_met")


def outcome_memo_fields(outcome: dict[str, object]) -> dict[str, object]:
    """The outcome as flat memo fields. A field that has no value is absent, never None: a None in
    an upsert removes the field, so absent and removed read the same."""
    fields = {name: outcome[name] for name in MEMO_FIELDS if outcome.get(name) is not None}
    milestones = outcome.get("milestones")
    if isinstance(milestones, dict):
        fields |= {MEMO_CLOCK + name: entry for name, entry in milestones.items()}
    return fields


def memo_changes(published: dict[str, object], fields: dict[str, object]) -> dict[str, object | None]:
    """What one memo upsert must carry to turn `published` into `fields`: each changed or new field,
    and None for each field no longer there (a regular update now counted in `updates_met`)."""
    changes: dict[str, object | None] = {k: v for k, v in fields.items() if published.get(k) != v}
    changes |= {k: None for k in published if k not in fields}
    return changes


def outcome_from_memo(memo: Mapping[str, Any]) -> dict[str, Any] | None:
    """A case's outcome from its memo, in either form: the v5 flat fields, or the v1-v4 `outcome`
    field. None when the memo has neither (a case whose first task has not run)."""
    if memo.get("received_at") is None:
        # The flat fields win: a v4 run that continued as new under v5 may still carry `outcome`.
        return dict(memo["outcome"]) if isinstance(memo.get("outcome"), dict) else None
    outcome: dict[str, Any] = {name: memo.get(name) for name in MEMO_FIELDS}
    outcome["escalations"] = outcome["escalations"] or 0
    outcome["updates_met"] = outcome["updates_met"] or 0
    outcome["milestones"] = {
        key.removeprefix(MEMO_CLOCK): entry
        for key, entry in memo.items()
        if key.startswith(MEMO_CLOCK) and entry is not None
    }
    return outcome


def outcome_clocks(outcome: dict[str, Any], now: datetime) -> list[tuple[str, str, Verdict]]:
    """(name, kind, verdict) for each clock in an outcome memo."""
    closed_at = _parse(outcome.get("closed_at"))
    clocks = []
    for name, entry in outcome.get("milestones", {}).items():
        # Memos written before superseded clocks were recorded carry three fields.
        due_at, done_at, breached, superseded_at = (list(entry) + [None])[:4]
        verdict = clock_verdict(
            _instant(due_at), _parse(done_at), bool(breached), _parse(superseded_at), closed_at, now
        )
        clocks.append((name, clock_kind(name), verdict))
    # v4 memos count the regular updates already met instead of listing them.
    clocks += [
        (f"update (met, {n + 1} of {outcome['updates_met']})", "update", "met")
        for n in range(int(outcome.get("updates_met") or 0))
    ]
    return clocks


def case_counts(outcome: dict[str, Any], now: datetime) -> dict[str, int]:
    """One case's contribution to every count in the report (what `admin.py evidence` shows)."""
    counts = {f"{kind}_due": 0 for kind in KINDS} | {f"{kind}_met": 0 for kind in KINDS}
    counts |= {"breaches": 0, "superseded": 0}
    for _, kind, verdict in outcome_clocks(outcome, now):
        if verdict == "superseded":
            counts["superseded"] += 1
        if verdict == "missed":
            counts["breaches"] += 1
        if kind in KINDS and verdict in ("met", "missed"):
            counts[f"{kind}_due"] += 1
            counts[f"{kind}_met"] += verdict == "met"
    counts["escalations"] = int(outcome.get("escalations") or 0)
    counts["closed"] = int(outcome.get("closed_at") is not None)
    return counts


def compliance_report(outcomes: Iterable[dict[str, Any]], now: datetime) -> ComplianceReport:
    """Count each clock once its due time has passed (or it was done): the regulator's view."""
    total: dict[str, int] = {}
    received = escalated = 0
    days_to_close: list[float] = []
    for outcome in outcomes:
        received += 1
        counts = case_counts(outcome, now)
        for key, value in counts.items():
            total[key] = total.get(key, 0) + value
        escalated += counts["escalations"] > 0
        closed_at = _parse(outcome.get("closed_at"))
        if closed_at is not None:
            days_to_close.append((closed_at - _instant(outcome["received_at"])) / timedelta(days=1))

    def get(key: str) -> int:
        return total.get(key, 0)

    return ComplianceReport(
        cases_received=received,
        cases_closed=get("closed"),
        acknowledgements_due=get("acknowledgement_due"),
        acknowledgements_on_time=get("acknowledgement_met"),
        introductions_due=get("introduction_due"),
        introductions_within_48_hours=get("introduction_met"),
        reviews_due=get("review_due"),
        reviews_on_time=get("review_met"),
        updates_due=get("update_due"),
        updates_as_agreed=get("update_met"),
        adr_letters_due=get("adr_rights_due"),
        adr_letters_sent_on_time=get("adr_rights_met"),
        cases_escalated=escalated,
        escalations=get("escalations"),
        breaches=get("breaches"),
        clocks_superseded=get("superseded"),
        median_days_to_close=statistics.median(days_to_close) if days_to_close else None,
    )


def contact_details(customer: Customer | None, *, corrected: bool) -> dict[str, object] | None:
    """How the case reaches the customer now: the details a handler corrected, else as filed."""
    if customer is None:
        return None
    return {
        "source": "corrected" if corrected else "as filed",
        "name": customer.name,
        "email": customer.email,
        "phone": customer.phone,
        "phone_is_mobile": customer.phone_is_mobile,
        "address": customer.address.model_dump(mode="json") if customer.address else None,
        "preferred_written_channel": customer.preferred_written_channel.value,
    }


def handler_facts(state: CaseState, filed: Customer | None) -> dict[str, object]:
    """The facts a handler recorded (and re-openings), shown alike by `admin.py status --json` and
    the evidence record.

    Contact changes name the fields that changed, when and by whom, never the old values: the case
    does not keep them, so a corrected wrong number or address is not kept in the record either.
    """
    from domain.customer_loop import loop_facts  # it needs the models at run time; this module does not

    return {
        "calls": [c.model_dump(mode="json") for c in state.calls],
        "confirmation": state.confirmation.model_dump(mode="json") if state.confirmation else None,
        "updates_paused_until": state.updates_paused_until.isoformat() if state.updates_paused_until else None,
        "updates_pause_reason": state.updates_pause_reason,
        # None: phone first, then in writing (what the case does unless the customer agreed a channel).
        "update_channel": state.update_channel.value if state.update_channel else None,
        "contact": contact_details(state.customer or filed, corrected=state.customer is not None),
        "contact_changes": [c.model_dump(mode="json") for c in state.contact_changes],
        # How the case ended when not by the customer's confirmation (withdrawn, a duplicate, ...).
        "closure": state.closure.model_dump(mode="json") if state.closure else None,
        # Each period the case was closed before the customer came back (both are in the record).
        "reopenings": [r.model_dump(mode="json") for r in state.reopenings],
        # Since v4: the customer's replies (unanswered ones flagged), undelivered messages, STOP.
        **loop_facts(state),
    }
