"""What the case publishes for people searching the Web UI: explicit dates, no server."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.models import CaseState, Milestone
from domain.search_attributes import next_deadline


def utc(day: int, hour: int) -> datetime:
    return datetime(2030, 2, day, hour, tzinfo=UTC)


def test_v4_next_deadline_is_the_next_clock_not_the_next_weekly_update() -> None:
    state = CaseState(
        reference="CC-2030-ABCDEFGH",
        milestones=[
            Milestone(name="review", due_at=utc(14, 10), done_at=utc(14, 9)),
            Milestone(name="adr_rights", due_at=utc(28, 11)),
        ],
        next_update_at=utc(21, 10),
    )
    assert next_deadline(state) == utc(21, 10)  # v1-v3: every weekly update moves it
    assert next_deadline(state, regular_updates=False) == utc(28, 11)
    # An update being sent has a clock of its own until it reaches the customer: that shows.
    state.milestones.append(Milestone(name="update_2", due_at=utc(21, 11)))
    assert next_deadline(state, regular_updates=False) == utc(21, 11)
    # Past 8 weeks, with every clock met: the next agreed update is what the case owes next.
    for m in state.milestones:
        m.done_at = utc(28, 11)
    assert next_deadline(state, regular_updates=False) == utc(21, 10)
