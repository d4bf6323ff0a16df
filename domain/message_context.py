"""What a message to the customer may say, built from the case's recorded state only. Pure."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TypedDict, Unpack

from domain.models import CaseState, ComplaintIntake, ComplaintPolicy, Customer, Handler, MessageContext


class MessageExtras(TypedDict, total=False):
    """What one message adds to the case's own context (the `MessageContext` fields of that name)."""

    handler: Handler | None
    progress_note: str | None
    progress_note_in_writing: bool
    escalation_reason: str | None
    escalation_top: bool
    adr_reason: str | None
    deadlock_reason: str | None
    introduction_due_at: datetime | None
    adr_rights_from: datetime | None
    schedule_offer_follows: bool
    compensation_gbp: Decimal | None
    compensation_reason: str | None
    closure_outcome: str | None
    duplicate_of: str | None
    confirmed_how: str | None
    confirmed_at: datetime | None
    reopen_by: datetime | None


def details_held(customer: Customer, intake: ComplaintIntake) -> dict[str, str]:
    """The details the acknowledgement confirms we hold, so the customer can correct them."""
    held = {"Name": customer.name, "Account number": intake.account_number}
    if customer.email:
        held["Email"] = customer.email
    if customer.phone:
        held["Phone"] = customer.phone
    if customer.address:
        held["Address"] = ", ".join([*customer.address.lines, customer.address.postcode])
    held["Written contact by"] = customer.preferred_written_channel.value
    return held


def message_context(
    state: CaseState,
    customer: Customer,
    intake: ComplaintIntake,
    policy: ComplaintPolicy,
    /,
    *,
    truthful: bool,
    **extra: Unpack[MessageExtras],
) -> MessageContext:
    """The template's context; `extra` is what one message adds (an escalation's reason, ...).

    `truthful` (v3): the customer's title, when the schedule was agreed and the 8-week mark, and
    progress only as the message passes it (v1/v2 repeat the latest note, internal or not)."""
    held = details_held(customer, intake)
    if truthful:
        fields: dict[str, object] = {
            "reference": state.reference,
            "customer_name": customer.name,
            "customer_title": customer.title,
            "handler": state.owner,
            "received_at": intake.received_at,
            "acknowledgement": held,
            "schedule": state.schedule,
            "schedule_agreed_at": state.schedule_agreed_at,
            "next_update_at": state.next_update_at,
            "adr_scheme": policy.adr_scheme,
            "eight_weeks_at": state.deadlines.adr_due if state.deadlines else None,
        }
    else:
        fields = {
            "reference": state.reference,
            "customer_name": customer.name,
            "handler": state.owner,
            "received_at": intake.received_at,
            "acknowledgement": held,
            "schedule": state.schedule,
            "next_update_at": state.next_update_at,
            "progress_note": state.notes[-1].text if state.notes else None,
            "adr_scheme": policy.adr_scheme,
        }
    # What the message adds wins over what the state says (a fallback's "handler": None).
    return MessageContext.model_validate({**fields, **extra})
