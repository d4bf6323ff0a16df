"""A case open for a year stays healthy: its history is cut by continue-as-new, its state is not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from temporalio.api.enums.v1 import EventType

from domain.compliance_report import case_outcome, outcome_from_memo
from domain.models import MessageKind, ProgressNote
from settings import load_policy
from tests.workflows.harness import running_case, server_at
from workflows.complaint_case import ComplaintCase

WEEK = timedelta(weeks=1)


async def test_a_year_long_case_continues_as_new_and_keeps_every_fact(tmp_path) -> None:
    policy = load_policy().model_copy(update={"continue_as_new_after_events": 120})
    # A year from a plain Tuesday, through Easter, two clock changes and Christmas, on a server of its own.
    received = datetime(2030, 2, 12, 10, 0, tzinfo=UTC)
    async with (
        server_at(received) as time_skipping_env,
        running_case(time_skipping_env, tmp_path, policy=policy) as case,
    ):
        first_run = (await case.handle.describe()).run_id
        for week in range(52):
            await case.handle.execute_update(
                ComplaintCase.add_note, ProgressNote(text=f"week {week}: still chasing the engineer")
            )
            await time_skipping_env.sleep(WEEK)
        state = await case.state()
        latest = await case.handle.describe()

        # Continued as new, more than once.
        assert latest.run_id != first_run
        first = await time_skipping_env.client.get_workflow_handle(case.handle.id, run_id=first_run).fetch_history()
        assert first.events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
        current = await case.handle.fetch_history()
        assert len(current.events) < 400

        # Every fact survived: notes, milestones, the original deadlines and owner.
        assert len(state.notes) == 52
        assert state.notes[0].text.startswith("week 0")
        updates = [m for m in state.milestones if m.name.startswith("update_")]
        assert len(updates) >= 48
        assert all(m.done_at is not None for m in updates)
        assert state.milestone("acknowledgement").done_at is not None
        assert state.assignments[0].handler == state.owner

        # The 8-week letter went once, at 8 weeks, and never again.
        assert len(case.outbox.received(MessageKind.ADR_RIGHTS)) == 1
        adr = state.milestone("adr_rights")
        assert adr.done_at is not None and adr.done_at <= adr.due_at
        # No message went twice across the runs.
        assert all(count == 1 for count in case.outbox.deliveries.values())
        assert len({r.key for r in state.messages}) == len(state.messages)
        # v5: the memo the report reads is the current outcome. The continued run inherited the
        # last run's memo fields and removed the clocks it no longer lists (met updates, counted).
        memo = await latest.memo()
        assert outcome_from_memo(memo) == case_outcome(state, received, updates_met_counted=True)


async def test_a_run_that_inherits_a_v4_memo_removes_its_outcome_with_the_first_upsert(tmp_path) -> None:
    # What a v4 case that continues as new under v5 starts with: the whole outcome in one field.
    stale = {"received_at": "2020-01-01T00:00:00+00:00", "escalations": 9, "milestones": {}, "updates_met": 0}
    received = datetime(2030, 2, 12, 10, 0, tzinfo=UTC)
    async with (
        server_at(received) as env,
        running_case(env, tmp_path, memo={"outcome": stale}, record=False) as case,
    ):
        state = await case.wait(timedelta(hours=1))
        memo = await (await case.handle.describe()).memo()
    assert "outcome" not in memo
    assert outcome_from_memo(memo) == case_outcome(state, received, updates_met_counted=True)
