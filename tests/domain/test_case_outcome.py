"""One clock as the regulator reads it, the outcome memo a case keeps, and the report's lines."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, date, datetime, timedelta

import pytest

from domain.compliance_report import (
    ComplianceReport,
    case_outcome,
    clock_kind,
    clock_verdict,
    compliance_report,
    contact_details,
    handler_facts,
)
from domain.models import (
    Call,
    CallOutcome,
    CaseClosure,
    CaseState,
    ChannelKind,
    ClosureOutcome,
    ContactChange,
    Customer,
    Escalation,
    HowSaid,
    Milestone,
    PostalAddress,
    Reopening,
    Satisfied,
    WrittenChannel,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
DUE = datetime(2026, 11, 20, 17, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


@pytest.mark.parametrize(
    ("done_at", "breached", "superseded_at", "closed_at", "now", "verdict"),
    [
        (DUE, False, None, None, NOW, "met"),  # done at the very deadline
        (DUE + SECOND, False, None, None, NOW, "missed"),
        (DUE - SECOND, True, None, None, NOW, "met"),  # done in time: a stale breach flag changes nothing
        (DUE, False, DUE - SECOND, None, NOW, "superseded"),  # a later clock took its place
        (None, False, None, DUE, NOW, "not_owed"),  # closed at the deadline: nothing was owed
        (None, False, None, DUE + SECOND, NOW, "missed"),  # closed after it, undone
        (None, False, None, None, DUE, "missed"),  # undone at its due time
        (None, False, None, None, DUE - SECOND, "pending"),
        (None, True, None, None, DUE - SECOND, "missed"),  # the case itself flagged it
    ],
)
def test_a_clock_is_judged_met_missed_pending_not_owed_or_superseded(
    done_at: datetime | None,
    breached: bool,
    superseded_at: datetime | None,
    closed_at: datetime | None,
    now: datetime,
    verdict: str,
) -> None:
    assert clock_verdict(DUE, done_at, breached, superseded_at, closed_at, now) == verdict


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("acknowledgement", "acknowledgement"),
        ("introduction", "introduction"),
        ("introduction_2", "introduction"),
        ("update_13", "update"),
        ("adr_rights", "adr_rights"),
        ("review", "review"),
        ("introductions", "introductions"),  # a prefix alone is not a kind
        ("courtesy_call", "courtesy_call"),
    ],
)
def test_clock_names_are_grouped_by_the_kind_of_clock(name: str, kind: str) -> None:
    assert clock_kind(name) == kind


def test_a_case_keeps_a_compact_outcome_memo_for_the_report() -> None:
    received = NOW - timedelta(days=10)
    state = CaseState(
        reference="CC-2026-ABCDEFGH",
        closed_at=NOW,
        attention="SendGrid answered 401",
        escalations=[
            Escalation(at=NOW, reason="slow", from_handler="a", to_handler="b", level=1),
            Escalation(at=NOW, reason="still slow", from_handler="b", to_handler="c", level=2),
        ],
        milestones=[
            Milestone(name="acknowledgement", due_at=DUE, done_at=DUE - SECOND),
            Milestone(name="introduction", due_at=DUE, breached=True, superseded_at=NOW),
        ],
    )
    assert case_outcome(state, received) == {
        "received_at": "2026-11-15T12:00:00+00:00",
        "closed_at": "2026-11-25T12:00:00+00:00",
        "escalations": 2,
        "attention": "SendGrid answered 401",
        "milestones": {
            "acknowledgement": ["2026-11-20T17:00:00+00:00", "2026-11-20T16:59:59+00:00", False, None],
            "introduction": ["2026-11-20T17:00:00+00:00", None, True, "2026-11-25T12:00:00+00:00"],
        },
    }
    open_case = case_outcome(CaseState(reference="CC-2026-ABCDEFGH"), received)
    assert open_case["closed_at"] is None and open_case["milestones"] == {} and open_case["escalations"] == 0


def _outcome(received_days_ago: float, closed_days_ago: float | None, escalations: int) -> dict:
    def at(days: float) -> str:
        return (NOW - timedelta(days=days)).isoformat()

    return {
        "received_at": at(received_days_ago),
        "closed_at": at(closed_days_ago) if closed_days_ago is not None else None,
        "escalations": escalations,
        "milestones": {},
    }


def test_the_report_counts_escalated_cases_once_and_takes_the_median_time_to_close() -> None:
    report = compliance_report(
        [_outcome(10, 9, 0), _outcome(10, 7, 2), _outcome(10, 0, 1), _outcome(3, None, 0)],
        NOW,
    )
    assert (report.cases_received, report.cases_closed) == (4, 3)
    assert (report.cases_escalated, report.escalations) == (1 + 1, 3)
    assert report.median_days_to_close == 3.0  # 1, 3 and 10 days


def test_the_report_reads_as_lines_a_manager_can_check() -> None:
    report = ComplianceReport(
        cases_received=12,
        cases_closed=5,
        acknowledgements_due=3,
        acknowledgements_on_time=2,
        introductions_due=4,
        introductions_within_48_hours=4,
        reviews_due=0,
        reviews_on_time=0,
        updates_due=8,
        updates_as_agreed=1,
        adr_letters_due=2,
        adr_letters_sent_on_time=1,
        cases_escalated=2,
        escalations=3,
        breaches=7,
        clocks_superseded=1,
        median_days_to_close=2.25,
    )
    assert report.rows() == [
        ("Cases received", "12"),
        ("Cases closed", "5"),
        ("Acknowledged on time", "2/3 (67%)"),
        ("Introduced within 48 hours", "4/4 (100%)"),
        ("Update schedule offered at 3 working days", "0/0"),
        ("Updates on schedule", "1/8 (12%)"),
        ("ADR letters sent on time", "1/2 (50%)"),
        ("Cases escalated", "2 (3 escalations)"),
        ("Milestones breached", "7"),
        ("Clocks superseded", "1"),
        ("Median time to close", "2.2 days"),
    ]
    assert report.as_dict() == {f.name: getattr(report, f.name) for f in fields(report)}
    assert compliance_report([], NOW).rows()[-1] == ("Median time to close", "-")


FILED = Customer(
    name="Gwen Pritchard",
    email="gwen.pritchard@example.com",
    phone="+447911123456",
    phone_is_mobile=True,
    address=PostalAddress(lines=["14 Bethcar Street", "Ebbw Vale"], postcode="NP23 6HH"),
)


def test_contact_details_say_whether_they_are_as_filed_or_corrected() -> None:
    assert contact_details(FILED, corrected=False) == {
        "source": "as filed",
        "name": "Gwen Pritchard",
        "email": "gwen.pritchard@example.com",
        "phone": "+447911123456",
        "phone_is_mobile": True,
        "address": {"lines": ["14 Bethcar Street", "Ebbw Vale"], "postcode": "NP23 6HH", "country": "GB"},
        "preferred_written_channel": "email",
    }
    by_letter = Customer(name="G", address=FILED.address, preferred_written_channel=WrittenChannel.LETTER)
    corrected = contact_details(by_letter, corrected=True)
    assert corrected is not None
    assert (corrected["source"], corrected["email"], corrected["preferred_written_channel"]) == (
        "corrected",
        None,
        "letter",
    )
    no_address = contact_details(Customer(name="G", email="g@example.com"), corrected=False)
    assert no_address is not None and no_address["address"] is None
    assert contact_details(None, corrected=False) is None


def test_handler_facts_show_the_contact_as_filed_until_a_handler_corrects_it() -> None:
    untouched = handler_facts(CaseState(reference="CC-2026-ABCDEFGH"), FILED)
    assert untouched == {
        "calls": [],
        "confirmation": None,
        "updates_paused_until": None,
        "updates_pause_reason": None,
        "update_channel": None,
        "contact": contact_details(FILED, corrected=False),
        "contact_changes": [],
        "closure": None,
        "reopenings": [],
        # Since v4: the closed loop with the customer.
        "customer_replies": [],
        "delivery_problems": [],
        "sms_stopped_at": None,
        "asked_to_close_at": None,
        "ask_to_close_outstanding": False,
    }
    moved = Customer(name="Gwen Pritchard", email="gwen@example.org")
    state = CaseState(
        reference="CC-2026-ABCDEFGH",
        customer=moved,
        updates_paused_until=date(2026, 12, 14),
        updates_pause_reason="In hospital",
        update_channel=ChannelKind.SMS,
    )
    facts = handler_facts(state, FILED)
    assert facts["contact"] == contact_details(moved, corrected=True)
    assert (facts["updates_paused_until"], facts["updates_pause_reason"], facts["update_channel"]) == (
        "2026-12-14",
        "In hospital",
        "sms",
    )


def test_a_memo_without_milestones_counts_no_clocks() -> None:
    report = compliance_report([{"received_at": NOW.isoformat(), "closed_at": None, "escalations": 0}], NOW)
    assert (report.cases_received, report.breaches, report.acknowledgements_due) == (1, 0, 0)


def test_a_clock_the_case_flagged_as_breached_counts_before_its_due_time() -> None:
    future = (NOW + timedelta(days=1)).isoformat()
    memo = {"received_at": NOW.isoformat(), "closed_at": None, "milestones": {"introduction": [future, None, True]}}
    report = compliance_report([memo], NOW)
    assert (report.breaches, report.introductions_due, report.introductions_within_48_hours) == (1, 1, 0)


def test_every_superseded_clock_of_a_case_is_counted() -> None:
    due, later = DUE.isoformat(), NOW.isoformat()
    memo = {
        "received_at": NOW.isoformat(),
        "closed_at": None,
        "milestones": {"introduction": [due, None, False, later], "introduction_2": [due, None, False, later]},
    }
    assert compliance_report([memo], NOW).clocks_superseded == 2


def test_an_empty_period_counts_zero_of_everything() -> None:
    counts = compliance_report([], NOW).as_dict()
    assert counts.pop("median_days_to_close") is None
    assert set(counts.values()) == {0}


def test_handler_facts_are_plain_json_for_status_and_the_evidence() -> None:
    said = datetime(2026, 12, 8, 16, 20, tzinfo=UTC)
    closure = CaseClosure(outcome=ClosureOutcome.WITHDRAWN, reason="Fixed itself", recorded_by="rhys.griffiths")
    state = CaseState(
        reference="CC-2026-ABCDEFGH",
        calls=[Call(at=NOW, outcome=CallOutcome.REACHED, by="amara.okafor", met="introduction")],
        confirmation=Satisfied(recorded_by="rhys.griffiths", how=HowSaid.PHONE, said_at=said),
        contact_changes=[ContactChange(at=NOW, by="amara.okafor", fields=["phone"])],
        closure=closure,
        reopenings=[Reopening(closed_at=DUE, reopened_at=NOW, reason="Still down", closure=closure)],
    )
    facts = handler_facts(state, FILED)
    assert facts["calls"] == [
        {"at": "2026-11-25T12:00:00Z", "outcome": "reached", "by": "amara.okafor", "note": None, "met": "introduction"}
    ]
    assert facts["confirmation"] == {"recorded_by": "rhys.griffiths", "how": "phone", "said_at": "2026-12-08T16:20:00Z"}
    assert facts["contact_changes"] == [{"at": "2026-11-25T12:00:00Z", "by": "amara.okafor", "fields": ["phone"]}]
    assert facts["closure"] == {
        "outcome": "withdrawn",
        "reason": "Fixed itself",
        "duplicate_of": None,
        "recorded_by": "rhys.griffiths",
    }
    reopenings = facts["reopenings"]
    assert isinstance(reopenings, list)
    [reopening] = reopenings
    assert (reopening["closed_at"], reopening["reopened_at"]) == ("2026-11-20T17:00:00Z", "2026-11-25T12:00:00Z")
