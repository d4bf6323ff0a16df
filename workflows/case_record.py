"""What staff and the regulator see: search attributes and the memo, the compliance record in the
case archive, metrics, and the state query.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.archive import CaseArchive
    from domain import search_attributes as sa
    from domain.compliance_report import case_outcome, memo_changes, outcome_memo_fields
    from domain.models import ArchiveReceipt, CaseRecord, CaseState

from workflows.case_base import CaseBase
from workflows.case_constants import SETUP_RETRY
from workflows.case_failures import FIRST_ATTEMPT_FAILED


class CaseRecordKeeping(CaseBase):
    """Publishing, archiving and counting."""

    def _publish(self) -> None:
        """Keep the Web UI's search attributes in step with the case (only what changed)."""
        state = self._state
        values: dict[str, object] = {
            sa.CASE_REFERENCE.name: state.reference,
            sa.CASE_STAGE.name: state.stage.value,
            sa.CASE_OWNER.name: state.owner.id if state.owner else None,
            sa.ESCALATION_LEVEL.name: state.escalation_level,
            sa.RECEIVED_AT.name: self._input.intake.received_at,
            sa.NEXT_DEADLINE.name: sa.next_deadline(state, regular_updates=not self._v4),
            sa.ADR_LETTER_SENT.name: state.adr_letter_sent_at is not None,
            sa.BREACH.name: any(m.breached for m in state.milestones),
            sa.NEEDS_ATTENTION.name: state.attention is not None or any(m.undeliverable_at for m in state.milestones),
        }
        updates = []
        for key in sa.ALL:
            value = values[key.name]
            if self._published.get(key.name, ...) == value:
                continue
            updates.append(key.value_unset() if value is None else key.value_set(value))
            self._published[key.name] = value
        if updates:
            workflow.upsert_search_attributes(updates)
        outcome = self._outcome()
        if self._v5:
            self._publish_memo_fields(outcome)
        elif outcome != self._published.get("memo"):
            # Outcomes ride in the memo so a compliance report reads them from one paged listing.
            workflow.upsert_memo({"outcome": outcome})
            self._published["memo"] = outcome

    def _publish_memo_fields(self, outcome: dict[str, object]) -> None:
        """v5: one memo field per clock, and an upsert carries only the fields that changed."""
        published = self._published.get("memo_fields")
        if not isinstance(published, dict):
            # A continued run inherits the last run's memo: fields that no longer apply (and a v4
            # run's whole `outcome`) go with the first upsert, so no reader meets a stale one.
            published = dict(workflow.memo())
        fields = outcome_memo_fields(outcome)
        changes = memo_changes(published, fields)
        if changes:
            workflow.upsert_memo(changes)
            self._published["memo_fields"] = fields

    def _outcome(self) -> dict[str, object]:
        return case_outcome(self._state, self._input.intake.received_at, updates_met_counted=self._v4)

    async def _archive(self, closing: bool = True) -> ArchiveReceipt:
        """The compliance record, written when the case closes (and on demand by the admin script)."""
        record = CaseRecord(
            reference=self._state.reference,
            intake=self._input.intake,
            state=self._state,
            policy=self._policy,
            recorded_at=workflow.now(),
        )
        summary = "Write the compliance record to the case archive"
        receipt: ArchiveReceipt | None = None
        if self._local_first:
            try:
                receipt = await self._first_attempt(CaseArchive.archive_case, record, summary=summary)
            except FIRST_ATTEMPT_FAILED:
                pass
        if receipt is None:
            receipt = await workflow.execute_activity_method(
                CaseArchive.archive_case,
                record,
                start_to_close_timeout=timedelta(seconds=60),
                retry_policy=SETUP_RETRY,
                summary=summary,
            )
        self._state.archived_at = workflow.now()
        workflow.logger.info("case archived at %s until %s", receipt.location, receipt.expires_at)
        if closing:
            self._count("complaints_cases_closed", "Complaint cases closed")
        return receipt

    def _count(self, name: str, description: str, **labels: str) -> None:
        # The SDK records workflow metrics only on first execution, never again on replay.
        counter = workflow.metric_meter().create_counter(name, description)
        counter.add(1, labels or None)

    @workflow.query(name="case_state")
    def case_state(self) -> CaseState:
        return self._state
