"""The case the plan tests build on: received Mon 11 Feb 2030 10:00, London on GMT (UTC), working
hours 09:00-17:00 Monday to Friday, its four clocks set and nothing done unless named."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from domain.calendar import WorkingCalendar
from domain.models import CalendarSpec, CaseDeadlines, CaseRole, CaseState, Handler, Milestone

CALENDAR = WorkingCalendar.from_spec(CalendarSpec(), [], years=[2030])
OWNER = Handler(
    id="amara.okafor", name="Amara Okafor", role=CaseRole.CASE_HANDLER, phone="+442079460101", email="a@example.com"
)


def utc(day: int, hour: int, minute: int = 0, month: int = 2) -> datetime:
    return datetime(2030, month, day, hour, minute, tzinfo=UTC)


RECEIVED = utc(11, 10)
MARK = RECEIVED + timedelta(weeks=8)  # Mon 8 Apr 2030 10:00 UTC


def plan_case(*done: str, adr_due_at: datetime = MARK, **fields: Any) -> CaseState:
    """The case with its four clocks; the named ones met at 11:00 on the day it was received."""
    milestones = [
        Milestone(name="acknowledgement", due_at=utc(12, 10), warn_at=utc(12, 8)),
        Milestone(name="introduction", due_at=utc(13, 10)),
        Milestone(name="review", due_at=utc(14, 10)),
        Milestone(name="adr_rights", due_at=adr_due_at),
    ]
    for m in milestones:
        if m.name in done:
            m.done_at = utc(11, 11)
    state = CaseState(
        reference="CC-2030-ABCDEFGH",
        deadlines=CaseDeadlines(
            acknowledgement_due=utc(12, 10),
            introduction_due=utc(13, 10),
            review_due=utc(14, 10),
            adr_due=MARK,
            calendar_subdivision="ENG",
            holidays_version="test",
            holidays=[date(2030, 4, 19)],
        ),
        milestones=milestones,
    )
    return state.model_copy(update=fields)
