"""What the case's owner must do next, in words the Web UI's current details can show. Pure."""

from __future__ import annotations

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
    intro = next((m for m in reversed(state.milestones) if m.name.startswith("introduction")), None)
    if intro is not None and intro.done_at is None and intro.superseded_at is None:
        return f"{state.owner.id}: call the customer to introduce yourself by {local_label(intro.due_at)}"
    if state.next_update_at is not None and state.stage is not CaseStage.DEADLOCK:
        return f"{state.owner.id}: call the customer before the regular update at {local_label(state.next_update_at)}"
    return None
