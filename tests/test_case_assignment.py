"""The assignment activity: the least-loaded handler at the role, and a reason a manager can read."""

from __future__ import annotations

from dataclasses import dataclass

from activities.case_setup import CaseAssignmentActivities
from domain.models import AssignmentRequest, CaseRole
from settings import load_roster


@dataclass
class Counted:
    count: int


class OpenCases:
    """Visibility's answer: how many open cases each handler owns."""

    def __init__(self, loads: dict[str, int]) -> None:
        self.loads = loads

    async def count_workflows(self, query: str) -> Counted:
        return Counted(next(n for handler, n in self.loads.items() if f'"{handler}"' in query))


async def test_the_least_loaded_head_of_professional_services_is_chosen_and_the_reason_reads_right() -> None:
    roster = load_roster()
    heads = [h for h in roster if h.role is CaseRole.HEAD_OF_PROFESSIONAL_SERVICES]
    activities = CaseAssignmentActivities(OpenCases({h.id: 0 for h in heads}), roster)  # type: ignore[arg-type]
    assignment = await activities.assign_case_handler(
        AssignmentRequest(reference="CC-2026-T7MH3PQR", role=CaseRole.HEAD_OF_PROFESSIONAL_SERVICES)
    )
    assert assignment.handler == heads[0]
    assert assignment.reason.startswith("least open cases among Heads of Professional Services (")
