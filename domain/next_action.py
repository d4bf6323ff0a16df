"""What the case's owner must do next, in words the Web UI's current details can show. Pure."""

from __future__ import annotations

from domain.customer_loop import delivery_problems, unanswered_replies
from domain.formatting import local_label
from domain.models import CaseStage, CaseState


def owner_next_action(state: CaseState) -> str | None:
    """The owner's next human step ("call the customer by Wed 14:00"), or None if nothing is owed.

    The code asks for contact "by phone wherever possible": the introduction is a call first (the
    letter or email follows), and each regular update is a call before the written update goes.
    """
    if state.stage is CaseStage.CLOSED:
        return None
    if state.owner is None or state.awaiting_owner is not None:
        return "assign an owner: the roster cannot fill this case"
    # Since v4: the customer talking to the case comes first, then a message that never reached them.
    replies = unanswered_replies(state)
    if replies:
        latest = replies[-1]
        return (
            f"{state.owner.id}: read and answer the customer's {latest.channel.value} reply of "
            f"{local_label(latest.received_at)}" + (f" ({len(replies)} unanswered)" if len(replies) > 1 else "")
        )
    # A call or corrected contact details since the failure is how a person deals with it.
    dealt_with = max([c.at for c in state.calls] + [c.at for c in state.contact_changes], default=None)
    problems = [m for m in delivery_problems(state) if dealt_with is None or m.at > dealt_with]
    if problems:
        latest = problems[-1]
        return (
            f"{state.owner.id}: reach the customer another way: the {latest.kind.value.replace('_', ' ')} "
            f"by {latest.channel.value} was {latest.delivery.value if latest.delivery else 'not delivered'}"
            + (f" ({latest.delivery_reason})" if latest.delivery_reason else "")
        )
    intro = next((m for m in reversed(state.milestones) if m.name.startswith("introduction")), None)
    if intro is not None and intro.done_at is None and intro.superseded_at is None:
        return f"{state.owner.id}: call the customer to introduce yourself by {local_label(intro.due_at)}"
    if state.next_update_at is not None and state.stage is not CaseStage.DEADLOCK:
        return f"{state.owner.id}: call the customer before the regular update at {local_label(state.next_update_at)}"
    return None
