"""Compensation: recorded, credited to the customer's next invoice, and told to the customer. A
billing outage never holds the command or the case (v3).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.billing import BillingActivities
    from domain import command_checks
    from domain.models import (
        CaseRole,
        CaseStage,
        Compensation,
        CompensationAward,
        CreditReceipt,
        InvoiceCredit,
        MessageKind,
    )

from workflows.case_base import CaseBase
from workflows.case_constants import SEND_RETRY, SETUP_RETRY
from workflows.case_failures import FIRST_ATTEMPT_FAILED, _last_error
from workflows.payloads import _refuse, _require


class HandlerCompensation(CaseBase):
    """The record_compensation update and the credit behind it."""

    @workflow.update(name="record_compensation")
    async def record_compensation(self, award: CompensationAward) -> Compensation:
        if self._v3:
            return await self._record_compensation_v3(award)
        state = self._state
        compensation = Compensation(amount_gbp=award.amount_gbp, reason=award.reason, recorded_at=workflow.now())
        state.compensations.append(compensation)
        number = len(state.compensations)
        receipt: CreditReceipt = await workflow.execute_activity_method(
            BillingActivities.credit_invoice,
            InvoiceCredit(
                key=f"{state.reference}/credit-{number}",
                reference=state.reference,
                account_number=self._input.intake.account_number,
                amount_gbp=award.amount_gbp,
                reason=award.reason,
            ),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=SETUP_RETRY,
            summary=f"Credit £{award.amount_gbp} to the next invoice",
        )
        compensation.credit_id = receipt.credit_id
        self._deliver(
            MessageKind.COMPENSATION,
            [self._written_channel()],
            compensation_gbp=award.amount_gbp,
            compensation_reason=award.reason,
        )
        self._wake()
        return compensation

    async def _record_compensation_v3(self, award: CompensationAward) -> Compensation:
        """Recorded once the invoice is credited. A billing outage never holds the command or the
        case: the credit retries in the background (same key, so it applies once) with an alert."""
        await self._until_open()
        state = self._state
        state.credit_sequence += 1
        credit = InvoiceCredit(
            key=f"{state.reference}/credit-{state.credit_sequence}",
            reference=state.reference,
            account_number=self._input.intake.account_number,
            amount_gbp=award.amount_gbp,
            reason=award.reason,
        )
        summary = f"Credit £{award.amount_gbp} to the next invoice"
        try:
            receipt: CreditReceipt = await self._first_attempt(
                BillingActivities.credit_invoice, credit, summary=summary, result_type=CreditReceipt
            )
        except FIRST_ATTEMPT_FAILED as err:
            pending = Compensation(
                amount_gbp=award.amount_gbp,
                reason=award.reason,
                recorded_at=workflow.now(),
                recorded_by=award.recorded_by,
            )
            state.pending_compensations.append(pending)
            self._launch(credit.key, self._credit_until_done(credit, pending, _last_error(err)))
            return pending
        return self._credited(award.amount_gbp, award.reason, receipt, recorded_by=award.recorded_by)

    async def _credit_until_done(self, credit: InvoiceCredit, pending: Compensation, first_error: str) -> None:
        what = f"crediting £{credit.amount_gbp} ({credit.key})"
        self._alert(
            CaseRole.CUSTOMER_SERVICE_MANAGER,
            f"{credit.reference}: compensation not credited yet",
            f"Billing refused or failed ({first_error}); the credit retries until it goes through, once.",
        )
        window: timedelta | None = timedelta(minutes=self._policy.attention_after_minutes)
        while True:
            try:
                receipt: CreditReceipt = await workflow.execute_activity_method(
                    BillingActivities.credit_invoice,
                    credit,
                    start_to_close_timeout=timedelta(seconds=30),
                    schedule_to_close_timeout=window,
                    retry_policy=SEND_RETRY,
                    summary=f"Credit £{credit.amount_gbp} to the next invoice",
                )
                break
            except ActivityError as err:
                self._state.attention = f"{what} keeps failing: {_last_error(err)}"
                self._publish()
                window = None
        if self._state.attention and self._state.attention.startswith(what):
            self._state.attention = None
        self._state.pending_compensations.remove(pending)
        self._credited(
            credit.amount_gbp, credit.reason, receipt, recorded_at=pending.recorded_at, recorded_by=pending.recorded_by
        )

    def _credited(
        self,
        amount: Decimal,
        reason: str,
        receipt: CreditReceipt,
        recorded_at: datetime | None = None,
        recorded_by: str | None = None,
    ) -> Compensation:
        compensation = Compensation(
            amount_gbp=amount,
            reason=reason,
            recorded_at=recorded_at or workflow.now(),
            credit_id=receipt.credit_id,
            recorded_by=recorded_by,
        )
        self._state.compensations.append(compensation)
        # v8: a credit that lands after the customer confirmed (billing was down) is still told to
        # them: the closure could not say it had been credited, and nothing else would.
        if self._state.stage is not CaseStage.CLOSED or self._v8:
            self._deliver(
                MessageKind.COMPENSATION,
                [self._written_channel()],
                compensation_gbp=amount,
                compensation_reason=reason,
            )
        self._wake()
        return compensation

    @record_compensation.validator
    def _validate_compensation(self, award: CompensationAward) -> None:
        _require(award, CompensationAward)
        self._refuse_if_closed()
        _refuse(command_checks.compensation_refusal(self._policy, award, self._state))
