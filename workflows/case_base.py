"""What every part of the ComplaintCase workflow shares: its attributes (set in `ComplaintCase.__init__`),
the customer as held now, the wake-up, the guards every handler command passes, and the methods
one part calls on another, declared here so each module type-checks on its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, time
from typing import TYPE_CHECKING, Any, TypeGuard, Unpack

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain import command_checks
    from domain.calendar import WorkingCalendar
    from domain.message_context import MessageExtras
    from domain.models import (
        ArchiveReceipt,
        Assignment,
        CaseInput,
        CaseRole,
        CaseState,
        ChannelKind,
        ComplaintPolicy,
        ContactCorrection,
        Customer,
        DeferredText,
        Escalation,
        Handler,
        MessageKind,
        MessageRecord,
        Milestone,
        NotSatisfied,
        Satisfied,
    )

from workflows.payloads import _refuse


class CaseBase:
    """The state and shared helpers of a case; the mixins in `workflows/` hold its behaviour."""

    _input: CaseInput
    _policy: ComplaintPolicy
    _filed_customer: Customer
    _state: CaseState
    _calendar: WorkingCalendar | None
    _facts: list[NotSatisfied | Satisfied | str]
    _in_flight: set[str]
    _tasks: set[asyncio.Task[None]]
    _woken: bool
    _timer: asyncio.Task[None] | None
    _timer_at: datetime | None
    _published: dict[str, object]
    _local_attempts: int
    # v4: tasks launched and not yet run (see CaseSends._first_attempt).
    _launching: int
    _local_first: bool
    _v3: bool
    _v4: bool
    _v5: bool
    _v6: bool
    _v7: bool
    _v8: bool
    _closing: bool
    _roster_gap: bool
    _retrying: dict[str, asyncio.Task[None]]
    _send_tasks: dict[str, asyncio.Task[None]]
    # v4: the clock each message number carries and the message it replaces, until its records
    # are written (message number -> (milestone, fallback_for)); see CustomerLoop.
    _message_tags: dict[int, tuple[str | None, str | None]]

    @property
    def _customer(self) -> Customer:
        """The customer's details as a handler corrected them (v3), else as filed."""
        return self._state.customer or self._filed_customer

    def _wake(self) -> None:
        self._woken = True

    def _refuse_if_closed(self) -> None:
        _refuse(command_checks.closed_refusal(self._state, self._facts, closing=self._closing))

    def _refuse_a_contact_time_at_night(self, at: time) -> None:
        _refuse(command_checks.contact_time_refusal(self._policy, at))

    async def _until_open(self) -> None:
        """A command that arrives before the case's first task has opened it waits for it."""
        if self._calendar is None:
            await workflow.wait_condition(lambda: self._calendar is not None)

    if TYPE_CHECKING:
        # Defined by the mixins ComplaintCase inherits; declared for the type checker only.
        async def _act_on_customer_facts(self) -> None: ...
        def _after_pause(self, moment: datetime) -> datetime: ...
        def _alert(
            self,
            to: CaseRole,
            subject: str,
            detail: str,
            to_handler: str | None = None,
            *,
            to_team: str | None = None,
            kind: str = "alert",
        ) -> None: ...
        async def _archive(self, closing: bool = True) -> ArchiveReceipt: ...
        async def _assign(self, role: CaseRole, exclude: list[str] | None = None) -> Assignment: ...
        def _breach(self, milestone: Milestone) -> None: ...
        def _clock(self, name: str, start: datetime, due: datetime, warn: bool = True) -> Milestone: ...
        def _count(self, name: str, description: str, **labels: str) -> None: ...
        def _current_introduction(self) -> Milestone | None: ...
        def _defer_text(self, kind: MessageKind) -> None: ...
        def _deliver(
            self,
            kind: MessageKind,
            plan: list[ChannelKind],
            milestone: str | None = None,
            fallback: bool = True,
            **context: Unpack[MessageExtras],
        ) -> None: ...
        def _eight_weeks(self) -> datetime: ...
        def _escalate(self, fact: NotSatisfied) -> None: ...
        def _find_owner(
            self, role: CaseRole, exclude: list[str] | None = None, escalation: Escalation | None = None
        ) -> None: ...
        async def _first_attempt(
            self, activity: Callable[..., Any] | str, arg: object, *, summary: str, result_type: type | None = None
        ) -> Any: ...
        def _first_owner_role(self) -> CaseRole: ...
        def _launch(self, key: str, work: Awaitable[object]) -> asyncio.Task[None]: ...
        def _new_introduction_clock(self, now: datetime) -> None: ...
        def _next_wake(self) -> tuple[datetime | None, str]: ...
        def _notify_new_owner(self, owner: Handler) -> None: ...
        def _pending(self, milestone: Milestone | None) -> TypeGuard[Milestone]: ...
        def _phone_then_written(self) -> list[ChannelKind]: ...
        def _publish(self) -> None: ...
        def _reachable(self) -> list[ChannelKind]: ...
        def _reaches_customer_at(self, record: MessageRecord, milestone: str | None) -> datetime: ...
        def _reopen(self, fact: NotSatisfied) -> None: ...
        async def _reopen_or_escalate(self, fact: NotSatisfied) -> None: ...
        def _send_acknowledgement(self) -> None: ...
        def _send_adr_letter_at_eight_weeks(self) -> None: ...
        def _send_deferred_text(self, text: DeferredText) -> None: ...
        def _send_introduction(self) -> None: ...
        def _send_progress_update(self) -> None: ...
        def _settled(self, milestone: Milestone | None) -> bool: ...
        def _start_regular_updates(self) -> None: ...
        def _start_work_that_is_due(self) -> None: ...
        def _tag_clock(self, sequence: int, milestone: str | None) -> None: ...
        def _tagged(self, record: MessageRecord) -> MessageRecord: ...
        def _texts_allowed(self) -> bool: ...
        def _publish_contact_keys(self, correction: ContactCorrection) -> None: ...
        def _take_ownership(self, assignment: Assignment) -> None: ...
        def _written_channel(self) -> ChannelKind: ...
