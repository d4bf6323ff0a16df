"""The compliance report counts each clock the way the regulator reads it."""

from datetime import datetime, timedelta, timezone

from domain.compliance_report import compliance_report

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


def at(days: float) -> str:
    return (NOW - timedelta(days=days)).isoformat()


def case(received: float, closed: float | None = None, escalations: int = 0, **milestones: list) -> dict:
    return {
        "received_at": at(received),
        "closed_at": at(closed) if closed is not None else None,
        "escalations": escalations,
        "milestones": milestones,
    }


def test_report_counts_on_time_late_and_not_yet_due_clocks_exactly() -> None:
    outcomes = [
        # Closed in 2 days: acknowledged and introduced on time, no ADR letter owed.
        case(10, closed=8, acknowledgement=[at(9.9), at(9.95), False], introduction=[at(8), at(9), False],
             adr_rights=[at(10 - 56), None, False]),
        # Open 60 days, escalated twice: late acknowledgement, ADR letter sent on time, one late update.
        case(60, escalations=2, acknowledgement=[at(59.9), at(59), True], introduction=[at(58), at(58.5), False],
             introduction_2=[at(20), at(21), False], update_1=[at(50), at(50), False],
             update_2=[at(43), at(42), True], adr_rights=[at(4), at(5), False]),
        # Received an hour ago: acknowledged, introduction not yet due.
        case(1 / 24, acknowledgement=[at(-0.3), at(0.02), False], introduction=[at(-2), None, False]),
        # Open past 8 weeks and the ADR letter never went: due and missed.
        case(70, closed=1, acknowledgement=[at(69.9), at(69.95), False], adr_rights=[at(14), None, True]),
    ]
    report = compliance_report(outcomes, NOW)
    assert report.cases_received == 4
    assert report.cases_closed == 2
    assert (report.acknowledgements_on_time, report.acknowledgements_due) == (3, 4)
    assert (report.introductions_within_48_hours, report.introductions_due) == (3, 3)
    assert (report.updates_as_agreed, report.updates_due) == (1, 2)
    assert (report.adr_letters_sent_on_time, report.adr_letters_due) == (1, 2)
    assert (report.cases_escalated, report.escalations) == (1, 2)
    assert report.breaches == 3
    assert report.median_days_to_close == (2 + 69) / 2


def test_an_empty_period_reports_zeroes_not_errors() -> None:
    report = compliance_report([], NOW)
    assert report.cases_received == 0 and report.median_days_to_close is None
    assert ("Acknowledged on time", "0/0") in report.rows()
