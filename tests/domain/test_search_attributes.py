"""What the Web UI can search on: the next real deadline, and the attributes the dev server registers."""

from __future__ import annotations

from datetime import UTC, datetime

from domain import search_attributes as sa
from domain.models import CaseStage, CaseState, Milestone


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def case(**fields: object) -> CaseState:
    return CaseState(reference="CC-2030-ABCDEFGH", **fields)  # type: ignore[arg-type]


def test_next_deadline_is_the_earliest_clock_still_owed() -> None:
    state = case(
        stage=CaseStage.INVESTIGATING,
        milestones=[
            Milestone(name="acknowledgement", due_at=utc(2030, 2, 11, 17), done_at=utc(2030, 2, 11, 9)),
            Milestone(name="introduction", due_at=utc(2030, 2, 13, 9), breached=True),
            Milestone(name="introduction_2", due_at=utc(2030, 2, 12, 9), superseded_at=utc(2030, 2, 11, 12)),
            Milestone(name="review", due_at=utc(2030, 2, 14, 9)),
            Milestone(name="adr_rights", due_at=utc(2030, 4, 8, 9)),
        ],
    )
    assert sa.next_deadline(state) == utc(2030, 2, 14, 9)


def test_a_regular_update_due_sooner_is_the_next_deadline() -> None:
    state = case(
        stage=CaseStage.INVESTIGATING,
        milestones=[Milestone(name="adr_rights", due_at=utc(2030, 4, 8, 9))],
        next_update_at=utc(2030, 2, 20, 10),
    )
    assert sa.next_deadline(state) == utc(2030, 2, 20, 10)
    later = case(
        stage=CaseStage.INVESTIGATING,
        milestones=[Milestone(name="adr_rights", due_at=utc(2030, 4, 8, 9))],
        next_update_at=utc(2030, 5, 1, 10),
    )
    assert sa.next_deadline(later) == utc(2030, 4, 8, 9)


def test_a_case_owing_nothing_has_no_next_deadline() -> None:
    done = Milestone(name="acknowledgement", due_at=utc(2030, 2, 11, 17), done_at=utc(2030, 2, 11, 9))
    assert sa.next_deadline(case(stage=CaseStage.INVESTIGATING, milestones=[done])) is None


def test_a_closed_case_has_no_next_deadline_whatever_it_still_lists() -> None:
    owed = Milestone(name="adr_rights", due_at=utc(2030, 4, 8, 9))
    state = case(stage=CaseStage.CLOSED, milestones=[owed], next_update_at=utc(2030, 2, 20, 10))
    assert sa.next_deadline(state) is None


def test_the_dev_server_registers_every_attribute_with_its_cli_type() -> None:
    flags = sa.cli_flags()
    assert flags[0::2] == ["--search-attribute"] * len(sa.REGISTERED)
    assert flags[1::2] == [
        "CaseReference=Keyword",
        "CaseStage=Keyword",
        "CaseOwner=Keyword",
        "EscalationLevel=Int",
        "ReceivedAt=Datetime",
        "NextDeadline=Datetime",
        "AdrLetterSent=Bool",
        "Breach=Bool",
        "NeedsAttention=Bool",
        "CustomerContactKeys=KeywordList",
    ]


def test_v4_next_deadline_is_the_next_clock_not_the_next_weekly_update() -> None:
    state = case(
        milestones=[
            Milestone(name="review", due_at=utc(2030, 2, 14, 10), done_at=utc(2030, 2, 14, 9)),
            Milestone(name="adr_rights", due_at=utc(2030, 2, 28, 11)),
        ],
        next_update_at=utc(2030, 2, 21, 10),
    )
    assert sa.next_deadline(state) == utc(2030, 2, 21, 10)  # v1-v3: every weekly update moves it
    assert sa.next_deadline(state, regular_updates=False) == utc(2030, 2, 28, 11)
    # An update being sent has a clock of its own until it reaches the customer: that shows.
    state.milestones.append(Milestone(name="update_2", due_at=utc(2030, 2, 21, 11)))
    assert sa.next_deadline(state, regular_updates=False) == utc(2030, 2, 21, 11)
    # Past 8 weeks, with every clock met: the next agreed update is what the case owes next.
    for m in state.milestones:
        m.done_at = utc(2030, 2, 28, 11)
    assert sa.next_deadline(state, regular_updates=False) == utc(2030, 2, 21, 10)
