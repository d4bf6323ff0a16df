"""What the Customer Service Managers are told about a reply no open case took."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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
    assert notice.subject == f"{REFERENCE}: a reply after the case closed"
    assert notice.reference == REFERENCE
    assert "by email from g***@example.com on Wed 01 Jul 10:30 about case CC-2026-T7MH3PQR, which is closed" in (
        notice.detail
    )
    assert "> It is broken again.\n> No internet since Friday." in notice.detail
    # The answer is recorded as given, when given: the record shows the reply, not the reading.
    assert f"admin.py not-satisfied {REFERENCE} --reason" in notice.detail
    assert "--how email --said-at 2026-07-01T10:30" in notice.detail


def test_what_the_manager_reads_about_a_reply_to_a_closed_case() -> None:
    notice = unmatched_reply_notice("email:<a1@mail.example.com>", EMAIL, closed_case=REFERENCE, why="closed")
    assert notice.detail == (
        "A reply by email from g***@example.com on Wed 01 Jul 10:30 about case CC-2026-T7MH3PQR, which is "
        "closed.\n"
        "\n"
        "> It is broken again.\n"
        "> No internet since Friday.\n"
        "\n"
        "No case is waiting for this reply: this notice is the only alert for it, and it is also on "
        "`admin.py replies --unmatched`.\n"
        "\n"
        "What to do:\n"
        "- If they are not satisfied after all, record it: `admin.py not-satisfied CC-2026-T7MH3PQR --reason "
        '"..." --how email --said-at 2026-07-01T10:30`. That re-opens the case (within the re-open window after '
        "it closed) and escalates it, and the customer is told.\n"
        "- If they ask something else, answer them; a new complaint is filed as a new case.\n"
        "- If it needs nothing (a thank-you), there is nothing to do."
    )


def test_a_reply_to_a_closed_case_says_whose_address_it_gives_not_that_the_customer_wrote_it() -> None:
    # Anyone can quote a closed case's reference: the notice names the sender, not "the customer".
    stranger = EMAIL.model_copy(update={"sender": "mallory@example.net"})
    notice = unmatched_reply_notice("email:<a1@mail.example.com>", stranger, closed_case=REFERENCE, why="closed")
    assert notice.subject == f"{REFERENCE}: a reply after the case closed"
    assert notice.detail.startswith("A reply by email from m***@example.net on Wed 01 Jul 10:30 about case")
    assert "The customer replied" not in notice.detail and "sender checks" not in notice.detail


def test_an_email_that_failed_the_sender_checks_is_named_as_such_in_the_managers_notice() -> None:
    forged = EMAIL.model_copy(update={"sender_authenticated": False})
    notice = unmatched_reply_notice("email:<a1@mail.example.com>", forged, closed_case=REFERENCE, why="closed")
    assert notice.detail.splitlines()[:2] == [
        "A reply by email from g***@example.com on Wed 01 Jul 10:30 about case CC-2026-T7MH3PQR, which is closed.",
        "It failed the sender checks (SPF/DKIM): it may not be from g***@example.com at all. Confirm with the "
        "customer another way before acting on it.",
    ]
    passed = EMAIL.model_copy(update={"sender_authenticated": True})
    assert "sender checks" not in unmatched_reply_notice("e", passed, closed_case=REFERENCE, why="closed").detail


def test_what_the_manager_reads_about_a_reply_no_case_took() -> None:
    notice = unmatched_reply_notice(
        "twilio-sms:SM1", TEXT, closed_case=None, why="no open case has this sender's contact details"
    )
    assert notice.detail == (
        "A reply by text message from +44*******123 on Wed 01 Jul 10:30 reached no open case: no open case has "
        "this sender's contact details.\n"
        "\n"
        "> still waiting\n"
        "\n"
        "No case is waiting for this reply: this notice is the only alert for it, and it is also on "
        "`admin.py replies --unmatched`.\n"
        "\n"
        "What to do:\n"
        "- Find the sender's case (`admin.py list`, `admin.py status REF`) and act on the reply there "
        "(`satisfied` or `not-satisfied` with --how sms-reply --said-at 2026-07-01T10:30, or `note`), or "
        "contact them.\n"
        "- A new complaint is filed as a new case; a reply from someone who is not a complainant needs no case."
    )


def test_a_reply_no_case_took_says_why_and_masks_the_sender() -> None:
    why = "no open case has this sender's contact details"
    notice = unmatched_reply_notice("twilio-sms:SM1", TEXT, closed_case=None, why=why)
    assert notice.subject == "A customer's reply matched no open case"
    assert notice.reference == "unmatched"
    assert f"by text message from +44*******123 on Wed 01 Jul 10:30 reached no open case: {why}." in notice.detail
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
    assert len(notice_workflow_id("x")) == len("reply-notice-") + 16 and len(first.key) == len("unmatched/reply-") + 16


def quoted(text: str) -> str:
    reply = EMAIL.model_copy(update={"text": text})
    notice = unmatched_reply_notice("email:<a1@mail.example.com>", reply, closed_case=REFERENCE, why="closed")
    return next(line for line in notice.detail.splitlines() if line.startswith("> "))


def test_a_long_reply_is_quoted_in_part_and_points_to_the_whole() -> None:
    cut = "x" * (QUOTED - 1) + " " + "y" * 10  # the cut falls just after a space
    assert quoted(cut) == "> " + "x" * (QUOTED - 1) + " [...] (the whole reply: `admin.py replies --unmatched`)"
    assert quoted("x" * QUOTED) == "> " + "x" * QUOTED  # exactly the limit: quoted whole


def test_an_empty_reply_still_reads() -> None:
    empty = EMAIL.model_copy(update={"text": "  "})
    assert "> (no text)" in unmatched_reply_notice("e", empty, closed_case=REFERENCE, why="closed").detail


def test_the_flood_guard_counts_by_the_clock_hour_a_reply_was_received_in() -> None:
    assert notice_hour(datetime(2026, 7, 1, 9, 59, 59, 999999, tzinfo=UTC)) == (
        datetime(2026, 7, 1, 9, 0, tzinfo=UTC),
        datetime(2026, 7, 1, 10, 0, tzinfo=UTC),
    )
    assert notice_hour(datetime(2026, 7, 1, 10, 0, tzinfo=UTC))[0] == datetime(2026, 7, 1, 10, 0, tzinfo=UTC)


def test_past_the_cap_one_notice_covers_the_rest_of_the_hour() -> None:
    hour = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
    notice = flood_notice(hour, 30)
    # 09:00 UTC is 10:00 on a UK clock in July.
    assert notice.subject == "More than 30 customer replies reached no open case in the hour from Wed 01 Jul 10:00"
    assert notice.detail == (
        "More than 30 replies received in the hour from Wed 01 Jul 10:00 reached no open case. The first 30 were "
        "sent to you one by one; the rest are not, so that a flood (spam texts, mail quoting old references) does "
        "not bury the other notices.\n"
        "\n"
        "Read them all with `admin.py replies --unmatched` (newest first), and act on each as its own notice would "
        "have said: a reply to a closed case is re-opened with `admin.py not-satisfied REF ...`.\n"
        "If it is a flood, tell the on-call engineer: the inbound service's log names each reply."
    )
    assert (notice.key, notice.reference, notice.kind) == ("unmatched/flood-2026070109", "unmatched", "alert")
    assert notice.to_role is CaseRole.CUSTOMER_SERVICE_MANAGER and notice.to_email is None
    assert flood_workflow_id(hour) == flood_workflow_id(hour.replace(minute=0)) == "reply-notice-flood-2026070109"
    assert flood_workflow_id(hour) != flood_workflow_id(datetime(2026, 7, 1, 10, 0, tzinfo=UTC))
    assert flood_notice(hour, 30).key != flood_notice(datetime(2026, 7, 1, 10, 0, tzinfo=UTC), 30).key


def test_the_hour_is_named_in_utc_whatever_the_machines_zone(monkeypatch) -> None:  # noqa: ANN001
    # Two inbound hosts in different zones must agree on the hour's one flood notice.
    import time

    monkeypatch.setenv("TZ", "Europe/London")
    time.tzset()
    try:
        summer = datetime(2026, 7, 1, 9, 30, tzinfo=UTC)  # 10:30 on the London clock
        start, _ = notice_hour(summer)
        assert (start.hour, start.utcoffset()) == (9, timedelta(0))
        assert flood_workflow_id(start) == "reply-notice-flood-2026070109"
        assert flood_notice(start, 30).key == "unmatched/flood-2026070109"
    finally:
        monkeypatch.undo()
        time.tzset()
