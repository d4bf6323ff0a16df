"""Opening a case: its deadlines on the working calendar, and the handler who owns it."""

from __future__ import annotations

import hashlib
import logging
from datetime import UTC, datetime
from pathlib import Path

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from activities.working_calendar import holidays_version, load_calendar
from domain import policy as clocks
from domain.models import Assignment, AssignmentRequest, CaseDeadlines, DeadlineRequest, Handler
from settings import ConfigError, load_roster

log = logging.getLogger(__name__)


@activity.defn(name="compute_case_deadlines")
async def compute_case_deadlines(request: DeadlineRequest) -> CaseDeadlines:
    """Bank holidays are looked up here, never in the workflow, so history records what was used.

    The returned holiday list spans three years from receipt: long enough for any case's later
    working-time arithmetic (contact hours, updates in working days) to run on recorded data.
    """
    year = request.received_at.year
    calendar = load_calendar(request.policy.calendar, range(year, year + 3))
    return clocks.case_deadlines(request.received_at, request.policy, calendar, holidays_version=holidays_version())


class CaseAssignmentActivities:
    """Chooses an owner from the roster: the least-loaded handler of the level the case needs."""

    def __init__(self, client: Client, roster: Path | list[Handler]) -> None:
        self._client = client
        self._roster = roster

    def _handlers(self) -> list[Handler]:
        # Read on every assignment, so a fixed roster takes effect without restarting workers.
        if isinstance(self._roster, Path):
            try:
                return load_roster(self._roster)
            except ConfigError as exc:
                raise ApplicationError(str(exc), type="RosterInvalid") from None
        return self._roster

    @activity.defn(name="assign_case_handler")
    async def assign_case_handler(self, request: AssignmentRequest) -> Assignment:
        roster = self._handlers()
        candidates = [h for h in roster if h.role is request.role and h.id not in request.exclude_handler_ids] or [
            h for h in roster if h.role is request.role
        ]
        if not candidates:
            # Retried (the case waits, flagged by its pending activity) until someone fixes the
            # roster; the on-call runbook covers it.
            raise ApplicationError(f"the roster has nobody with role {request.role.value}", type="RosterGap")
        loads = await self._open_case_counts(candidates)
        now = datetime.now(UTC)
        if loads is None:
            # Visibility cannot count here (e.g. a bare test server): rotate by reference instead,
            # which still spreads cases evenly and is repeatable on retry.
            index = int(hashlib.sha256(request.reference.encode()).hexdigest(), 16) % len(candidates)
            chosen = sorted(candidates, key=lambda h: h.id)[index]
            reason = "open-case counts unavailable; chosen by rotation over the roster"
        else:
            # Ties go to the roster's order, so the choice is explainable to a manager.
            chosen = min(candidates, key=lambda h: loads[h.id])
            listing = ", ".join(f"{h.id}={loads[h.id]}" for h in candidates)
            reason = f"least open cases among {request.role.plural} ({listing})"
        log.info("case %s assigned to %s: %s", request.reference, chosen.id, reason)
        return Assignment(handler=chosen, reason=reason, assigned_at=now)

    async def _open_case_counts(self, candidates: list[Handler]) -> dict[str, int] | None:
        counts: dict[str, int] = {}
        try:
            for handler in candidates:
                result = await self._client.count_workflows(
                    f'CaseOwner = "{handler.id}" AND ExecutionStatus = "Running"'
                )
                counts[handler.id] = result.count
        except Exception as exc:  # noqa: BLE001 - any visibility failure means "cannot count"
            log.warning("open-case counts unavailable: %s", exc)
            return None
        return counts
