"""The compliance report counts each clock the way the regulator reads it."""

from datetime import UTC, datetime, timedelta

from activities.archive import evidence_document
from domain.compliance_report import case_outcome, compliance_report
from domain.models import (
    CaseRecord,
    CaseState,
    ComplaintIntake,
    ComplaintPolicy,
    ComplaintSource,
    Customer,
    Escalation,
    Milestone,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


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
        case(
            10,
            closed=8,
            acknowledgement=[at(9.9), at(9.95), False],
            introduction=[at(8), at(9), False],
            adr_rights=[at(10 - 56), None, False],
        ),
        # Open 60 days, escalated twice: late acknowledgement, ADR letter sent on time, one late update.
        case(
            60,
            escalations=2,
            acknowledgement=[at(59.9), at(59), True],
            introduction=[at(58), at(58.5), False],
            introduction_2=[at(20), at(21), False],
            update_1=[at(50), at(50), False],
            update_2=[at(43), at(42), True],
            adr_rights=[at(4), at(5), False],
        ),
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


# --- every clock, and the evidence agrees ---------------------------------------------------------


def utc(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 11, day, hour, 0, tzinfo=UTC)


def clock(
    name: str,
    due: datetime,
    done: datetime | None = None,
    *,
    breached: bool = False,
    superseded: datetime | None = None,
) -> Milestone:
    return Milestone(name=name, due_at=due, done_at=done, breached=breached, superseded_at=superseded)


def case_record(
    reference: str,
    received: datetime,
    milestones: list[Milestone],
    *,
    closed: datetime | None = None,
    escalations: int = 0,
) -> CaseRecord:
    intake = ComplaintIntake(
        customer=Customer(name="Gwen Pritchard", email="gwen@example.com"),
        account_number="ACC-1001",
        source=ComplaintSource.PHONE,
        received_at=received,
        complaint="Broadband down for a week.",
    )
    state = CaseState(
        reference=reference,
        milestones=milestones,
        closed_at=closed,
        escalations=[
            Escalation(at=received, reason="not satisfied", from_handler="a", to_handler="b", level=n + 1)
            for n in range(escalations)
        ],
    )
    return CaseRecord(reference=reference, intake=intake, state=state, policy=ComplaintPolicy(), recorded_at=JUDGED)


JUDGED = utc(25)

# Four cases whose every clock has a known verdict as at 25 Nov 12:00.
CASES = [
    # Review missed (never offered, case still open); everything else on time.
    case_record(
        "CC-2026-AAAAAA",
        utc(2, 9),
        [
            clock("acknowledgement", utc(2, 17), utc(2, 10)),
            clock("introduction", utc(4, 9), utc(3, 11)),
            clock("review", utc(5, 9)),
            clock("adr_rights", utc(2, 9) + timedelta(weeks=8)),
        ],
    ),
    # Escalated before its introduction went: the first introduction is superseded, not breached;
    # the review offer went on time, one update on time and one late.
    case_record(
        "CC-2026-BBBBBB",
        utc(9, 9),
        [
            clock("acknowledgement", utc(9, 17), utc(9, 9)),
            clock("introduction", utc(11, 9), superseded=utc(10, 9)),
            clock("introduction_2", utc(12, 9), utc(11, 15)),
            clock("review", utc(12, 9), utc(12, 9)),
            clock("update_1", utc(19, 10), utc(19, 10)),
            clock("update_2", utc(24, 11), utc(24, 15), breached=True),
            clock("adr_rights", utc(9, 9) + timedelta(weeks=8)),
        ],
        escalations=1,
    ),
    # Closed on day 2: the review and the ADR letter were never owed.
    case_record(
        "CC-2026-CCCCCC",
        utc(16, 9),
        [
            clock("acknowledgement", utc(16, 17), utc(16, 9)),
            clock("introduction", utc(18, 9), utc(17, 9)),
            clock("review", utc(19, 9)),
            clock("adr_rights", utc(16, 9) + timedelta(weeks=8)),
        ],
        closed=utc(17, 12),
    ),
    # Received yesterday, acknowledged late; introduction and review still to come.
    case_record(
        "CC-2026-DDDDDD",
        utc(24, 9),
        [
            clock("acknowledgement", utc(24, 17), utc(25, 9), breached=True),
            clock("introduction", utc(26, 9)),
            clock("review", utc(27, 9)),
            clock("adr_rights", utc(24, 9) + timedelta(weeks=8)),
        ],
    ),
]


def test_report_counts_every_clock_the_code_sets_including_the_review() -> None:
    report = compliance_report([case_outcome(r.state, r.intake.received_at) for r in CASES], JUDGED)
    assert (report.acknowledgements_on_time, report.acknowledgements_due) == (3, 4)
    assert (report.introductions_within_48_hours, report.introductions_due) == (3, 3)
    assert (report.reviews_on_time, report.reviews_due) == (1, 2)
    assert (report.updates_as_agreed, report.updates_due) == (1, 2)
    assert (report.adr_letters_sent_on_time, report.adr_letters_due) == (0, 0)
    # The missed review (never flagged by the case), the late update and the late acknowledgement.
    assert report.breaches == 3
    assert report.clocks_superseded == 1
    assert (report.cases_received, report.cases_closed, report.cases_escalated) == (4, 1, 1)
    assert ("Update schedule offered at 3 working days", "1/2 (50%)") in report.rows()
    assert ("Milestones breached", "3") in report.rows()


def test_a_superseded_clock_is_neither_met_nor_breached() -> None:
    [record] = [r for r in CASES if r.reference == "CC-2026-BBBBBB"]
    document = evidence_document(record)
    [first] = [c for c in document["clocks"] if c["name"] == "introduction"]
    assert first["verdict"] == "superseded" and not first["met"] and not first["breached"]
    assert first["superseded_at"] == "2026-11-10T09:00:00+00:00"


def test_the_evidence_of_each_case_adds_up_to_the_report() -> None:
    documents = [evidence_document(r) for r in CASES]
    verdicts = {d["reference"]: {c["name"]: c["verdict"] for c in d["clocks"]} for d in documents}
    assert verdicts["CC-2026-AAAAAA"] == {
        "acknowledgement": "met",
        "introduction": "met",
        "review": "missed",
        "adr_rights": "pending",
    }
    assert verdicts["CC-2026-CCCCCC"]["review"] == "not_owed"
    assert verdicts["CC-2026-CCCCCC"]["adr_rights"] == "not_owed"
    assert verdicts["CC-2026-DDDDDD"] == {
        "acknowledgement": "missed",
        "introduction": "pending",
        "review": "pending",
        "adr_rights": "pending",
    }

    report = compliance_report([case_outcome(r.state, r.intake.received_at) for r in CASES], JUDGED)

    def total(key: str) -> int:
        return sum(d["counts"][key] for d in documents)

    assert total("breaches") == report.breaches == sum(c["breached"] for d in documents for c in d["clocks"])
    assert total("superseded") == report.clocks_superseded
    assert (total("acknowledgement_met"), total("acknowledgement_due")) == (
        report.acknowledgements_on_time,
        report.acknowledgements_due,
    )
    assert (total("introduction_met"), total("introduction_due")) == (
        report.introductions_within_48_hours,
        report.introductions_due,
    )
    assert (total("review_met"), total("review_due")) == (report.reviews_on_time, report.reviews_due)
    assert (total("update_met"), total("update_due")) == (report.updates_as_agreed, report.updates_due)
    assert (total("adr_rights_met"), total("adr_rights_due")) == (
        report.adr_letters_sent_on_time,
        report.adr_letters_due,
    )
    assert total("escalations") == report.escalations
    assert total("closed") == report.cases_closed


def test_an_outcome_memo_from_before_superseded_clocks_still_reads() -> None:
    # Running cases published three-field milestones; the report must keep reading them.
    old = {"received_at": at(3), "closed_at": None, "escalations": 0, "milestones": {"review": [at(1), None, False]}}
    report = compliance_report([old], NOW)
    assert (report.reviews_on_time, report.reviews_due, report.breaches) == (0, 1, 1)


def test_a_v4_memo_counts_updates_already_met_and_the_report_reads_it_the_same() -> None:
    import json

    from domain.compliance_report import case_counts

    def clock(name: str, due: float, done: float | None, breached: bool = False) -> Milestone:
        done_at = NOW - timedelta(days=done) if done is not None else None
        return Milestone(name=name, due_at=NOW - timedelta(days=due), done_at=done_at, breached=breached)

    weekly = [clock(f"update_{n}", 50 - 7 * n, 50 - 7 * n + 0.01) for n in range(1, 7)]  # six met
    state = CaseState(
        reference="CC-2026-ABCDEFGH",
        milestones=[
            clock("acknowledgement", 59.9, 59.95),
            *weekly,
            clock("update_7", 1, 0.5, breached=True),  # late: stays listed
            clock("update_8", -6, None),  # not yet due: stays listed
            clock("adr_rights", -1, None),
        ],
    )
    received = NOW - timedelta(days=60)
    full = case_outcome(state, received)
    counted = case_outcome(state, received, updates_met_counted=True)
    assert counted["updates_met"] == 6
    listed = counted["milestones"]
    assert isinstance(listed, dict) and set(listed) == {"acknowledgement", "update_7", "update_8", "adr_rights"}
    assert case_counts(counted, NOW) == case_counts(full, NOW)
    assert compliance_report([counted], NOW) == compliance_report([full], NOW)
    assert len(json.dumps(counted)) < len(json.dumps(full)) - 6 * 80


def _memo_after(upserts: list[dict[str, object | None]]) -> dict[str, object]:
    """The memo as the server keeps it: each upsert replaces its fields, a None removes one."""
    memo: dict[str, object] = {}
    for changes in upserts:
        for key, value in changes.items():
            if value is None:
                memo.pop(key, None)
            else:
                memo[key] = value
    return memo


def test_a_v5_memo_carries_only_what_changed_and_reads_back_as_the_outcome() -> None:
    import json

    from domain.compliance_report import memo_changes, outcome_from_memo, outcome_memo_fields

    received = NOW - timedelta(days=14)
    opened = CaseState(
        reference="CC-2026-ABCDEFGH",
        milestones=[
            Milestone(name="acknowledgement", due_at=NOW - timedelta(days=13), done_at=received),
            Milestone(name="update_1", due_at=NOW - timedelta(days=1)),
            Milestone(name="adr_rights", due_at=NOW + timedelta(days=42)),
        ],
    )
    week_later = opened.model_copy(deep=True)
    week_later.milestones[1].done_at = NOW - timedelta(days=1, minutes=5)  # met: now counted
    week_later.milestones.append(Milestone(name="update_2", due_at=NOW + timedelta(days=6)))

    first = outcome_memo_fields(case_outcome(opened, received, updates_met_counted=True))
    second = outcome_memo_fields(case_outcome(week_later, received, updates_met_counted=True))
    upserts = [memo_changes({}, first), memo_changes(first, second)]
    # The week's upsert: the met update leaves, the count and the next update arrive; nothing else.
    assert upserts[1] == {"clock:update_1": None, "updates_met": 1, "clock:update_2": second["clock:update_2"]}
    assert len(json.dumps(upserts[1])) < len(json.dumps(first)) / 2
    # No field is ever None in the fields themselves: None in an upsert means "remove".
    assert None not in first.values() and "closed_at" not in first and "attention" not in first
    memo = _memo_after(upserts)
    expected = case_outcome(week_later, received, updates_met_counted=True)
    assert outcome_from_memo(memo) == expected
    assert compliance_report([outcome_from_memo(memo) or {}], NOW) == compliance_report([expected], NOW)
    assert memo_changes(second, second) == {}


def test_a_memo_reads_in_either_form_and_the_fields_win_over_an_inherited_outcome() -> None:
    from domain.compliance_report import outcome_from_memo, outcome_memo_fields

    state = CaseState(reference="CC-2026-ABCDEFGH", milestones=[Milestone(name="review", due_at=NOW)])
    received = NOW - timedelta(days=3)
    v4 = case_outcome(state, received, updates_met_counted=True)
    assert outcome_from_memo({"outcome": v4}) == v4
    assert outcome_from_memo({}) is None
    stale = {"outcome": {**v4, "escalations": 7}}
    assert outcome_from_memo(stale | outcome_memo_fields(v4)) == v4
    # Every field reads back as it was written, set or not.
    escalated = {**v4, "escalations": 2, "attention": "a send keeps failing", "closed_at": NOW.isoformat()}
    assert outcome_from_memo(outcome_memo_fields(escalated)) == escalated


def test_a_v4_memo_names_each_update_it_counts_in_order() -> None:
    from domain.compliance_report import outcome_clocks

    counted = case(30) | {"updates_met": 3}
    assert outcome_clocks(counted, NOW) == [
        ("update (met, 1 of 3)", "update", "met"),
        ("update (met, 2 of 3)", "update", "met"),
        ("update (met, 3 of 3)", "update", "met"),
    ]


def test_a_v4_memo_counts_no_superseded_update_as_met() -> None:
    from domain.compliance_report import case_counts

    # Done on time, then replaced by a later clock: superseded in the report, whichever memo form.
    replaced = Milestone(
        name="update_1",
        due_at=NOW - timedelta(days=7),
        done_at=NOW - timedelta(days=8),
        superseded_at=NOW - timedelta(days=6),
    )
    state = CaseState(reference="CC-2026-ABCDEFGH", milestones=[replaced])
    received = NOW - timedelta(days=14)
    counted = case_outcome(state, received, updates_met_counted=True)
    assert counted["updates_met"] == 0
    assert case_counts(counted, NOW) == case_counts(case_outcome(state, received), NOW)
    assert case_counts(counted, NOW)["superseded"] == 1
