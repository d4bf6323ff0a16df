"""Why a handler's command would be refused, from the case's state alone. Pure.

Each check returns a `Refusal` (an error type and a field-level message, "field: why") or None; the
workflow's update validators raise it, so a refused command never enters history and changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, time, timedelta
from typing import NamedTuple

from domain.milestones import ADR_RIGHTS
from domain.models import (
    CaseClosure,
    CaseStage,
    CaseState,
    ClosureOutcome,
    CompensationAward,
    ComplaintPolicy,
    ContactCorrection,
    Customer,
    NotSatisfied,
    ProgressNote,
    Reassignment,
    Satisfied,
    ScheduleAgreed,
    UpdatesPaused,
    WrittenChannel,
)
from domain.reach import reachable_channels
from domain.reference import is_reference


class Refusal(NamedTuple):
    type: str  # the ApplicationError type admin.py and the tests match on
    message: str


def closed_refusal(
    state: CaseState, facts: Sequence[NotSatisfied | Satisfied | str], *, closing: bool
) -> Refusal | None:
    """Closed, closing, or about to close (a satisfied answer is waiting to be acted on)."""
    satisfied = any(not isinstance(f, NotSatisfied) for f in facts)
    if state.stage is CaseStage.CLOSED or satisfied or closing:
        return Refusal("CaseClosed", f"case {state.reference} is closed")
    return None


def contact_time_refusal(policy: ComplaintPolicy, at: time) -> Refusal | None:
    quiet = policy.quiet_hours
    if not quiet.start <= at < quiet.end:
        return Refusal(
            "OutsideContactHours",
            f"contact_time: {at:%H:%M} is outside the hours a customer may be phoned "
            f"({quiet.start:%H:%M}-{quiet.end:%H:%M} UK time)",
        )
    return None


def note_refusal(state: CaseState, policy: ComplaintPolicy, note: ProgressNote, *, bounded: bool) -> Refusal | None:
    """`bounded` (v3): a case carries at most the policy's characters of notes."""
    carried = sum(len(n.text) for n in state.notes)
    limit = policy.max_note_characters
    if bounded and carried + len(note.text) > limit:
        return Refusal(
            "NotesFull",
            f"text: case {state.reference} already carries {carried:,} characters of notes "
            f"(limit {limit:,}); keep the detail in the case file and note a short summary here",
        )
    return None


def updates_stopped_refusal(state: CaseState, what: str) -> Refusal | None:
    """In deadlock no regular update goes again: a command about updates would promise one."""
    if state.stage is CaseStage.DEADLOCK:
        return Refusal(
            "UpdatesStopped",
            f"case {state.reference} is in deadlock and regular updates have stopped: {what}; "
            "write to the customer directly if they need to know something",
        )
    return None


def deadlock_refusal(state: CaseState, in_flight: set[str], *, v3: bool) -> Refusal | None:
    """v3 records deadlock at any point once; before v3 only while the ADR letter had not gone."""
    if v3:
        if state.stage is CaseStage.DEADLOCK:
            return Refusal("AlreadyDeadlocked", f"case {state.reference} is already in deadlock")
        return None
    if state.adr_letter_sent_at is not None or ADR_RIGHTS in in_flight:
        return Refusal("AdrAlreadySent", f"the ADR-rights letter was already sent for {state.reference}")
    return None


def compensation_refusal(policy: ComplaintPolicy, award: CompensationAward, state: CaseState) -> Refusal | None:
    """The handler's limit holds for the case as a whole: awards already made (credited or still
    retrying) count, so splitting a large award into small ones does not get round it."""
    if award.amount_gbp > policy.max_compensation_gbp:
        return Refusal(
            "CompensationTooLarge",
            f"amount_gbp: £{award.amount_gbp} is above the £{policy.max_compensation_gbp} "
            "a handler may award; ask the Head of Professional Services",
        )
    awarded = sum(c.amount_gbp for c in [*state.compensations, *state.pending_compensations])
    if awarded + award.amount_gbp > policy.max_compensation_gbp:
        return Refusal(
            "CompensationTooLarge",
            f"amount_gbp: £{award.amount_gbp} would bring this case's awards to £{awarded + award.amount_gbp}, above "
            f"the £{policy.max_compensation_gbp} a handler may award on one case; ask the Head of Professional Services",
        )
    return None


def closure_refusal(state: CaseState, closure: CaseClosure, *, v3: bool) -> Refusal | None:
    if not v3:
        return Refusal("NotSupported", "this case predates close_case; close it with satisfied")
    adr_sent = state.adr_letter_sent_at is not None
    if closure.outcome in (ClosureOutcome.NO_RESPONSE, ClosureOutcome.REFERRED_TO_ADR) and not adr_sent:
        return Refusal(
            "TooEarly",
            f"outcome: {closure.outcome.value} only once the ADR-rights letter has gone (at 8 weeks, or on deadlock)",
        )
    if closure.duplicate_of is not None and (
        not is_reference(closure.duplicate_of) or closure.duplicate_of == state.reference
    ):
        return Refusal("NotADuplicate", f"duplicate_of: {closure.duplicate_of!r} must be another case's reference")
    return None


def agreement_refusal(
    policy: ComplaintPolicy, customer: Customer, agreed: ScheduleAgreed, *, texts_stopped: bool = False
) -> Refusal | None:
    """A contact time inside the hours a customer may be phoned, on a channel that reaches them
    (texts included only while the customer has not replied STOP)."""
    night = contact_time_refusal(policy, agreed.contact_time)
    if night is not None:
        return night
    if agreed.channel is not None and agreed.channel not in reachable_channels(customer, texts_stopped=texts_stopped):
        return Refusal(
            "ChannelUnreachable",
            f"channel: the customer cannot be reached by {agreed.channel.value} on the details held",
        )
    return None


def pause_refusal(policy: ComplaintPolicy, pause: UpdatesPaused, today: date) -> Refusal | None:
    """A pause ends after today (the provider's local date) and within the 8 weeks."""
    if not today < pause.until <= today + timedelta(weeks=policy.adr_weeks):
        return Refusal(
            "PauseOutOfRange",
            f"until: {pause.until.isoformat()} must be after today ({today.isoformat()}) and within "
            f"{policy.adr_weeks} weeks",
        )
    return None


def contact_changes(correction: ContactCorrection) -> dict[str, object]:
    """The customer fields a correction sets (a new phone carries whether it takes texts)."""
    changes: dict[str, object] = {}
    for name in ("email", "phone", "address", "preferred_written_channel"):
        value = getattr(correction, name)
        if value is not None:
            changes[name] = value
    if correction.phone is not None:
        changes["phone_is_mobile"] = correction.phone_is_mobile
    return changes


def contact_refusal(customer: Customer, correction: ContactCorrection) -> Refusal | None:
    """The corrected details must still reach the customer by their preferred written channel."""
    merged = customer.model_copy(update=contact_changes(correction))
    if merged.preferred_written_channel is WrittenChannel.EMAIL and not merged.email:
        return Refusal("Unreachable", "preferred_written_channel: 'email' but the case holds no email address")
    if merged.preferred_written_channel is WrittenChannel.LETTER and merged.address is None:
        return Refusal("Unreachable", "preferred_written_channel: 'letter' but the case holds no postal address")
    return None


def reassign_refusal(state: CaseState, policy: ComplaintPolicy, move: Reassignment) -> Refusal | None:
    """A new owner at the case's current level, not the one it has."""
    if state.owner is not None and state.owner.id == move.to.id:
        return Refusal("SameOwner", f"to: {move.to.id} already owns case {state.reference}")
    ladder = policy.escalation_ladder
    level = ladder[min(state.escalation_level, len(ladder) - 1)]
    if move.to.role is not level:
        # Up the ladder only because the customer is not satisfied (a fact with its own command);
        # never down it: a vulnerable customer's or an escalated case stays at its level.
        higher = move.to.role in ladder and ladder.index(move.to.role) > ladder.index(level)
        instead = (
            "a case moves up only when the customer is not satisfied (admin.py not-satisfied)"
            if higher
            else f"choose another {level.title} from the roster"
        )
        return Refusal(
            "WrongLevel",
            f"to: {move.to.id} is a {move.to.role.title}; this case is at {level.title} level: {instead}",
        )
    return None
