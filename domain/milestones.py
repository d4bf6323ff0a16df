"""The case's clocks as milestones: their names, when one is still owed, and when a message meets
one. Pure: the workflow and the tests share it.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import TypeGuard

from domain.models import CaseState, ChannelKind, ComplaintPolicy, Customer, MessageRecord, Milestone
from domain.reach import written_channel

ACKNOWLEDGEMENT = "acknowledgement"
INTRODUCTION = "introduction"
REVIEW = "review"
ADR_RIGHTS = "adr_rights"
# v3 sends the 8-week letter at the mark; it is late (a breach) if not out within this.
ADR_SEND_GRACE = timedelta(hours=1)


def clock(policy: ComplaintPolicy, name: str, start: datetime, due: datetime, warn: bool = True) -> Milestone:
    """A milestone due at `due`, warned at the policy's share of the time from `start` to it."""
    share = policy.warning_share
    warn_at = start + (due - start) * share if warn and share > 0 else None
    return Milestone(name=name, due_at=due, warn_at=warn_at)


def pending(milestone: Milestone | None, in_flight: Collection[str]) -> TypeGuard[Milestone]:
    """Owed and not being sent now: not done, undeliverable or superseded."""
    return (
        milestone is not None
        and milestone.done_at is None
        and milestone.undeliverable_at is None
        and milestone.superseded_at is None
        and milestone.name not in in_flight
    )


def settled(milestone: Milestone | None, in_flight: Collection[str]) -> bool:
    """Nothing more will be sent for it: done, undeliverable or superseded (or not owed at all)."""
    return milestone is None or (
        milestone.name not in in_flight
        and (
            milestone.done_at is not None
            or milestone.undeliverable_at is not None
            or milestone.superseded_at is not None
        )
    )


def current_introduction(state: CaseState) -> Milestone | None:
    """The latest owner's introduction (each new owner gets `introduction_N`)."""
    intros = [m for m in state.milestones if m.name.startswith(INTRODUCTION)]
    return intros[-1] if intros else None


def eight_weeks(state: CaseState) -> datetime:
    """The 8-week mark from first receipt, when the customer's right to ADR begins."""
    assert state.deadlines is not None
    return state.deadlines.adr_due


def adr_send_at(state: CaseState, policy: ComplaintPolicy, customer: Customer) -> datetime:
    """At the 8-week mark, when the customer's right begins; a posted letter may go earlier,
    by the policy's lead, and is then worded for the date the right begins."""
    mark = eight_weeks(state)
    if written_channel(customer) is ChannelKind.LETTER and policy.adr_notice_lead_hours:
        return mark - timedelta(hours=policy.adr_notice_lead_hours)
    return mark


def reaches_customer_at(record: MessageRecord, milestone: str | None) -> datetime:
    """When a message counts for its clock. The introduction is met by the earliest contact the
    customer actually gets (a letter when the post delivers it); a written step by a letter
    when it leaves the building (dispatch), and by email or text when sent."""
    if record.channel is ChannelKind.LETTER:
        if milestone and milestone.startswith(INTRODUCTION) and record.expected_delivery_at:
            return record.expected_delivery_at
        if record.dispatched_at:
            return record.dispatched_at
    return record.at
