"""The notice the complaints team gets when a customer's reply reaches no open case.

The closure invites replies ("reply to this email ... we will re-open your case"), and a customer
may text from a number no open case has. Such a reply is kept on the unmatched list and, for a
closed case, beside its archived record; this notice is what makes a person read it, so the
closure's promise is kept by someone rather than by a list nobody is told about.

Built by the inbound service when the reply is settled, and carried whole in the notice
workflow's input: its wording can change between releases without touching any history.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from domain.customer_loop import failed_sender_checks
from domain.formatting import LONDON, local_label, mask_sender
from domain.models import AlertRequest, CaseRole, ChannelKind, CustomerReply

# The Customer Service Managers read every reply no open case took: the level a re-opened case is
# escalated to first, and the people breach alerts already go to.
READER = CaseRole.CUSTOMER_SERVICE_MANAGER
# A reply is at most 5,000 characters; the notice quotes enough to decide what to do.
QUOTED = 1500


def reply_digest(item_id: str) -> str:
    """A short, stable name for an inbound item (a Message-ID may hold any character)."""
    return hashlib.sha256(item_id.encode()).hexdigest()[:16]


def notice_workflow_id(item_id: str) -> str:
    """One notice per inbound item, however often the forwarder settles it."""
    return f"reply-notice-{reply_digest(item_id)}"


def unmatched_reply_notice(item_id: str, reply: CustomerReply, *, closed_case: str | None, why: str) -> AlertRequest:
    """What the Customer Service Managers are told about a reply no open case took.

    `closed_case`: the closed case the reply is about (the archive holds it, so `admin.py
    not-satisfied` can re-open it), else None; `why`: the forwarder's reason it reached no open case.
    """
    by = "text message" if reply.channel is ChannelKind.SMS else "email"
    received = local_label(reply.received_at)
    text = reply.text.strip() or "(no text)"
    if len(text) > QUOTED:
        text = text[:QUOTED].rstrip() + " [...] (the whole reply: `admin.py replies --unmatched`)"
    quoted = "\n".join(f"> {line}" for line in text.splitlines())
    # Whoever sent it: a closed case's reference can be quoted, and a From address written, by anyone.
    sender = mask_sender(reply.sender)
    if closed_case is not None:
        subject = f"{closed_case}: a reply after the case closed"
        opening = f"A reply by {by} from {sender} on {received} about case {closed_case}, which is closed."
        todo = [
            "If they are not satisfied after all, record it: "
            f'`admin.py not-satisfied {closed_case} --reason "..." {_said(reply)}`. That re-opens the case '
            "(within the re-open window after it closed) and escalates it, and the customer is told.",
            "If they ask something else, answer them; a new complaint is filed as a new case.",
            "If it needs nothing (a thank-you), there is nothing to do.",
        ]
    else:
        subject = "A customer's reply matched no open case"
        opening = f"A reply by {by} from {sender} on {received} reached no open case: {why}."
        todo = [
            "Find the sender's case (`admin.py list`, `admin.py status REF`) and act on the reply there "
            f"(`satisfied` or `not-satisfied` with {_said(reply)}, or `note`), or contact them.",
            "A new complaint is filed as a new case; a reply from someone who is not a complainant needs no case.",
        ]
    # An e-mail whose From address no aligned SPF or DKIM pass vouched for may be forged.
    unverified = (
        [
            f"It failed the sender checks (SPF/DKIM): it may not be from {sender} at all. Confirm with the "
            "customer another way before acting on it."
        ]
        if failed_sender_checks(reply)
        else []
    )
    detail = "\n".join(
        [
            opening,
            *unverified,
            "",
            quoted,
            "",
            "No case is waiting for this reply: this notice is the only alert for it, and it is "
            "also on `admin.py replies --unmatched`.",
            "",
            "What to do:",
            *(f"- {line}" for line in todo),
        ]
    )
    return AlertRequest(
        key=f"{closed_case or 'unmatched'}/reply-{reply_digest(item_id)}",
        reference=closed_case or "unmatched",
        to_role=READER,
        kind="work",
        subject=subject,
        detail=detail,
    )


def notice_hour(received_at: datetime) -> tuple[datetime, datetime]:
    """The clock hour a reply was received in (UTC): the flood guard counts replies per hour."""
    start = received_at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return start, start + timedelta(hours=1)


def _hour_name(hour_start: datetime) -> str:
    """ "2026070109": the hour in UTC, so hosts in any zone name it alike."""
    return f"{hour_start.astimezone(UTC):%Y%m%d%H}"


def flood_workflow_id(hour_start: datetime) -> str:
    """One flood notice per hour, however many replies past the cap arrive in it."""
    return f"reply-notice-flood-{_hour_name(hour_start)}"


def flood_notice(hour_start: datetime, per_hour: int) -> AlertRequest:
    """Past `per_hour` unmatched replies in one hour, the managers get this instead of one each:
    a flood (texts from many numbers, e-mails quoting closed cases' references) must not fill their
    inboxes, nor queue ahead of the breach alerts and owner notices on the staff queue."""
    start = local_label(hour_start)
    return AlertRequest(
        key=f"unmatched/flood-{_hour_name(hour_start)}",
        reference="unmatched",
        to_role=READER,
        subject=f"More than {per_hour} customer replies reached no open case in the hour from {start}",
        detail="\n".join(
            [
                f"More than {per_hour} replies received in the hour from {start} reached no open case. The first "
                f"{per_hour} were sent to you one by one; the rest are not, so that a flood (spam texts, mail "
                "quoting old references) does not bury the other notices.",
                "",
                "Read them all with `admin.py replies --unmatched` (newest first), and act on each as its own notice "
                "would have said: a reply to a closed case is re-opened with `admin.py not-satisfied REF ...`.",
                "If it is a flood, tell the on-call engineer: the inbound service's log names each reply.",
            ]
        ),
    )


def _said(reply: CustomerReply) -> str:
    """The `--how` and `--said-at` that record the answer as the customer gave it, not as read later."""
    how = "sms-reply" if reply.channel is ChannelKind.SMS else "email"
    said_at = reply.received_at.astimezone(ZoneInfo(LONDON)).strftime("%Y-%m-%dT%H:%M")
    return f"--how {how} --said-at {said_at}"
