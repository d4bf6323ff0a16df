"""What the Customer Service Managers are told about a reply no open case took."""

from __future__ import annotations

from datetime import UTC, datetime

from domain.models import CaseRole, ChannelKind, CustomerReply
from domain.reply_notices import (
    QUOTED,
    flood_notice,
    flood_workflow_id,
    notice_hour,
    notice_workflow_id,
    unmatched_reply_notice,
)

REFERENCE = "CC-2026-T7MH3PQR"
EMAIL = CustomerReply(
    reply_id="<a1@mail.example.com>",
    channel=ChannelKind.EMAIL,
    # 09:30 UTC on 1 July is 10:30 on a UK clock (BST).
    received_at=datetime(2026, 7, 1, 9, 30, tzinfo=UTC),
    sender="gwen.pritchard@example.com",
    text="It is broken again.\nNo internet since Friday.",
)
TEXT = EMAIL.model_copy(update={"channel": ChannelKind.SMS, "sender": "+447700900123", "text": "still waiting"})


def test_a_reply_to_a_closed_case_says_which_case_and_how_to_reopen_it_as_the_customer_said_it() -> None:
    notice = unmatched_reply_notice("email:<a1@mail.example.com>", EMAIL, closed_case=REFERENCE, why="closed")
    assert notice.subject == f"{REFERENCE}: the customer replied after the case closed"
    assert notice.reference == REFERENCE
    assert "by email on Wed 01 Jul 10:30 about case CC-2026-T7MH3PQR, which is closed" in notice.detail
    assert "> It is broken again.\n> No internet since Friday." in notice.detail
    # The answer is recorded as given, when given: the record shows the reply, not the reading.
    assert f"admin.py not-satisfied {REFERENCE} --reason" in notice.detail
    assert "--how email --said-at 2026-07-01T10:30" in notice.detail


def test_a_reply_no_case_took_says_why_and_masks_the_sender() -> None:
    why = "no open case has this sender's contact details"
    notice = unmatched_reply_notice("twilio-sms:SM1", TEXT, closed_case=None, why=why)
    assert notice.subject == "A customer's reply matched no open case"
    assert notice.reference == "unmatched"
    assert f"by text message on Wed 01 Jul 10:30 reached no open case: {why}." in notice.detail
    assert "+447700900123" not in notice.detail and "+44*******123" in notice.detail
    assert "--how sms-reply --said-at 2026-07-01T10:30" in notice.detail


def test_the_notice_goes_to_the_customer_service_managers_as_work() -> None:
    notice = unmatched_reply_notice("twilio-sms:SM1", TEXT, closed_case=None, why="x")
    assert (notice.to_role, notice.to_handler, notice.to_email, notice.kind) == (
        CaseRole.CUSTOMER_SERVICE_MANAGER,
        None,
        None,
        "work",
    )


def test_each_inbound_item_has_one_notice_and_one_alert_key() -> None:
    first = unmatched_reply_notice("twilio-sms:SM1", TEXT, closed_case=None, why="x")
    again = unmatched_reply_notice("twilio-sms:SM1", TEXT, closed_case=None, why="x")
    other = unmatched_reply_notice("twilio-sms:SM2", TEXT, closed_case=None, why="x")
    assert first.key == again.key != other.key
    assert first.key.startswith("unmatched/reply-")
    assert notice_workflow_id("twilio-sms:SM1") == notice_workflow_id("twilio-sms:SM1") != notice_workflow_id("x")
    # A Message-ID may hold any character: the workflow id holds none of them.
    assert notice_workflow_id("email:<a/b c@x>").removeprefix("reply-notice-").isalnum()


def test_a_long_reply_is_quoted_in_part_and_points_to_the_whole() -> None:
    long = EMAIL.model_copy(update={"text": "word " * 1000})
    notice = unmatched_reply_notice("email:<a1@mail.example.com>", long, closed_case=REFERENCE, why="closed")
    quoted = next(line for line in notice.detail.splitlines() if line.startswith("> "))
    assert len(quoted) < QUOTED + 100
    assert quoted.endswith("(the whole reply: `admin.py replies --unmatched`)")


def test_an_empty_reply_still_reads() -> None:
    empty = EMAIL.model_copy(update={"text": "  "})
    assert "> (no text)" in unmatched_reply_notice("e", empty, closed_case=REFERENCE, why="closed").detail


def test_the_flood_guard_counts_by_the_clock_hour_a_reply_was_received_in() -> None:
    assert notice_hour(datetime(2026, 7, 1, 9, 59, 59, tzinfo=UTC)) == (
        datetime(2026, 7, 1, 9, 0, tzinfo=UTC),
        datetime(2026, 7, 1, 10, 0, tzinfo=UTC),
    )
    assert notice_hour(datetime(2026, 7, 1, 10, 0, tzinfo=UTC))[0] == datetime(2026, 7, 1, 10, 0, tzinfo=UTC)


def test_past_the_cap_one_notice_covers_the_rest_of_the_hour() -> None:
    hour = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
    notice = flood_notice(hour, 30)
    # 09:00 UTC is 10:00 on a UK clock in July.
    assert notice.subject == "More than 30 customer replies reached no open case in the hour from Wed 01 Jul 10:00"
    assert "admin.py replies --unmatched" in notice.detail and "not-satisfied" in notice.detail
    assert notice.to_role is CaseRole.CUSTOMER_SERVICE_MANAGER and notice.to_email is None
    assert flood_workflow_id(hour) == flood_workflow_id(hour.replace(minute=0)) == "reply-notice-flood-2026070109"
    assert flood_workflow_id(hour) != flood_workflow_id(datetime(2026, 7, 1, 10, 0, tzinfo=UTC))
    assert flood_notice(hour, 30).key != flood_notice(datetime(2026, 7, 1, 10, 0, tzinfo=UTC), 30).key
