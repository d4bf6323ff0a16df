"""The case's names, patches and retry policies: shared by every part of the workflow (import
them from here)."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from domain.case_plan import REVIEW_LEAD
    from domain.milestones import ACKNOWLEDGEMENT, ADR_RIGHTS, ADR_SEND_GRACE, INTRODUCTION, REVIEW
    from domain.reach import FALLBACK_ORDER

# The milestone names, the ADR letter's grace, the review's lead and the fallback order are the domain's; imported here so every part of the
# workflow finds them in one place.
__all__ = [
    "ACKNOWLEDGEMENT",
    "ADR_RIGHTS",
    "ADR_SEND_GRACE",
    "CLOSED_LOOP",
    "DELTA_MEMO",
    "FALLBACK_ORDER",
    "FIRST_ATTEMPT",
    "FIRST_ATTEMPT_TIMEOUT",
    "INTRODUCTION",
    "KEPT_ALERTS",
    "LEAN_RECEIPTS",
    "LOCAL_FIRST_ATTEMPT",
    "ASK_LAPSES",
    "REOPEN_WINDOW",
    "REVIEW",
    "REVIEW_LEAD",
    "ROSTER_RETRY",
    "SATISFIED",
    "SEND_MESSAGE",
    "SEND_RETRY",
    "SETUP_RETRY",
    "TRUTHFUL_CASE",
]


SATISFIED = "satisfied"
# Since v2: a send, an assignment and the archive write get one first attempt as a local activity
# (one history event, inside the workflow task that needs it) and move to a regular activity, with
# its retry windows and its place in the Web UI's pending activities, only if that attempt fails.
# Decided once per run, first thing: cases begun under v1 keep the v1 path to the end.
LOCAL_FIRST_ATTEMPT = "local-first-attempt"
# Since v3: every message true when it goes out and every clock kept whatever else fails. The
# 8-week letter at the mark; texts only inside the quiet hours; the acknowledgement first and
# before any closure; a roster gap or a billing outage runs in the background instead of holding
# the case; superseded clocks closed, not breached; deadlock at any point; notes internal unless
# meant for the customer; handler commands wait until the case is open. Decided with the v2 patch.
TRUTHFUL_CASE = "truthful-case"
# Since v4: the loop with the customer is closed. Vendors' delivery events and the customer's own
# replies come back into the case (signals from the inbound service); a clock-carrying message that
# bounces falls back to the next channel; YES/NO/STOP replies; search attributes written only when
# a value a person searches on changed. Decided with the v2 and v3 patches.
CLOSED_LOOP = "closed-loop"
# Since v5: the outcome memo is kept as one field per clock and upserted as a delta (only the
# fields that changed), so a weekly update rewrites three small fields instead of the whole
# outcome. Decided with the earlier patches.
DELTA_MEMO = "delta-memo"
# Since v6: a send's result in history is the vendor's id alone (`CaseReceipt`), not the whole
# receipt: the case knows the key and channel it asked for and records the send at its own clock
# (since v3), so the rest was about 120 bytes per message the case never read. And an owner's
# reminder is never raised before the wake that plans it: one whose lead had already passed (a long
# `reminder_lead_hours`, an update agreed in the evening) waits for the next working moment
# instead of going at once, at night. Decided with the earlier patches.
LEAN_RECEIPTS = "lean-receipts"
# Since v7: the closure tells the customer until when the case is re-opened ("please contact us by
# 25 January 2027"), the policy's `reopen_window_weeks` after closing: "we will re-open your case"
# with no date was untrue for a customer back after the window, whom the handler must ask to file a
# new complaint. Decided with the earlier patches.
REOPEN_WINDOW = "reopen-window"
# Since v8: a request to confirm by reply ("reply YES if resolved") lapses when the customer is
# not satisfied after it (a handler's record, a NO, a re-opening): the case has escalated since, so
# a later YES to the old request must not close it behind the new owner's back. A new request
# after the escalation can be answered as before. With it, other truths the record could not keep:
# a compensation credit that lands after the case closed is still told to the customer; a schedule
# only offered after an agreed one is not called agreed; only the owner's own call is their
# introduction; at the top of the ladder the owner stays without a new introduction clock;
# deadlock after the 8-week letter sends the deadlock letter, and deadlock owes no introduction
# after it; a note for the customer too long for a text goes in writing too; and the owner hears
# of one stranger's reply a day, not each. Decided with the earlier patches.
ASK_LAPSES = "ask-lapses"
SEND_MESSAGE = "send_message"  # activities.messaging.MessagingActivities.send_message
KEPT_ALERTS = 50  # v3: the latest alert subjects and refusals a case carries

# One try inside the workflow task; a failure is handed to the regular activity, not retried here.
FIRST_ATTEMPT = RetryPolicy(maximum_attempts=1)
FIRST_ATTEMPT_TIMEOUT = timedelta(seconds=20)
# Quick, cheap steps: a few attempts, then the on-call engineer sees a failed activity.
SETUP_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
# A roster gap can last days (v3 keeps every clock meanwhile): retry at most every 15 minutes, and
# `admin.py retry` picks the owner up at once after the fix.
ROSTER_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=15))
SEND_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=10),
    non_retryable_error_types=["PermanentDeliveryError"],
)
