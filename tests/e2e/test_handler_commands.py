"""A handler's real day on one case, through the real dev server, worker.py, starter.py and admin.py:
every fact-recording command, `status --json` after each, and refusals that change nothing."""

from __future__ import annotations

import getpass
import json
import subprocess
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain.models import CaseRole
from settings import load_roster
from tests.e2e.conftest import ALL_HOURS, Stack
from tests.e2e.test_case_end_to_end import fresh_example

pytestmark = pytest.mark.e2e
LONDON = ZoneInfo("Europe/London")


def outside_working_hours() -> dict[str, str]:
    """A working day that has not started yet, every day of the week: the introduction waits for it
    (well within its 48 hours), so a call can be the contact that meets it, whatever the time now."""
    now = datetime.now(LONDON)
    start, end = ("18:00:00", "23:00:00") if now.hour < 12 else ("01:00:00", "06:00:00")
    return {
        "COMPLAINTS_POLICY__CALENDAR__WORKDAYS": "[0,1,2,3,4,5,6]",
        "COMPLAINTS_POLICY__CALENDAR__DAY_START": start,
        "COMPLAINTS_POLICY__CALENDAR__DAY_END": end,
        "COMPLAINTS_POLICY__CALENDAR__SUBDIVISION": "none",
    }


def done(result: subprocess.CompletedProcess[str]) -> str:
    """The command's answer (its last line; commands that send an update print a request id first)."""
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip().splitlines()[-1]


def refused(result: subprocess.CompletedProcess[str], starts: str, code: int = 1) -> None:
    assert result.returncode == code, result.stdout + result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert result.stderr.startswith(starts), result.stderr
    assert "Traceback" not in result.stderr


def test_a_handler_records_calls_agreements_a_pause_new_details_a_new_owner_and_the_answer(stack: Stack) -> None:
    reference = stack.file(fresh_example(), **outside_working_hours())
    first = stack.wait_for(reference, lambda d: d["owner_id"] is not None and d["stage"] != "received")
    assert first["contact"]["source"] == "as filed" and first["contact"]["email"] == "gwen.pritchard@example.com"
    assert first["contact"]["phone"] == "+447911123456" and first["contact"]["phone_is_mobile"] is True
    assert first["calls"] == [] and first["confirmation"] is None and first["contact_changes"] == []
    assert first["update_channel"] is None and first["updates_paused_until"] is None
    assert [a["handler"] for a in first["assignments"]] == [first["owner_id"]]
    intro = next(m for m in first["milestones"] if m["name"] == "introduction")
    assert intro["done_at"] is None, "the introduction should be waiting for the working day"
    owner = first["owner_id"]

    def admin(*args: str) -> subprocess.CompletedProcess[str]:
        return stack.run("admin.py", "--wait", "30", *args)

    # --- calls: one unanswered (recorded by the login name), then one that meets the introduction
    assert done(admin("call", reference, "--outcome", "no-answer")) == (
        f"{reference}: call recorded (no answer, by {getpass.getuser()})"
    )
    after = stack.status(reference)
    assert [(c["outcome"], c["by"], c["met"]) for c in after["calls"]] == [("no_answer", getpass.getuser(), None)]

    reached = admin("call", reference, "--outcome", "reached", "--note", "Said [/bold] twice", "--by", owner)
    assert done(reached) == f"{reference}: call recorded (reached, by {owner}); it met the introduction clock"
    after = stack.status(reference)
    call = after["calls"][-1]
    assert (call["outcome"], call["by"], call["note"], call["met"]) == (
        "reached",
        owner,
        "Said [/bold] twice",
        "introduction",
    )
    intro = next(m for m in after["milestones"] if m["name"] == "introduction")
    assert intro["done_at"] == call["at"]

    # --- the customer's agreement; a contact time at night is refused and changes nothing
    assert done(admin("agree", reference, "--every", "2w", "--at", "14:00", "--channel", "sms", "--by", owner)) == (
        f"{reference}: updates every 14 elapsed days at 14:00 by sms, as agreed with the customer (recorded by {owner})"
    )
    after = stack.status(reference)
    assert after["schedule"]["every"] == 14 and after["schedule"]["contact_time"] == "14:00:00"
    assert after["schedule_status"] == "agreed" and after["update_channel"] == "sms"
    refused(admin("agree", reference, "--every", "7d", "--at", "22:00"), "refused: contact_time: 22:00 is outside")
    unchanged = stack.status(reference)
    assert unchanged["schedule"] == after["schedule"] and unchanged["schedule_agreed_at"] == after["schedule_agreed_at"]

    # --- a pause; a pause that ends today is refused and changes nothing
    today = datetime.now(LONDON).date()
    until = today + timedelta(days=14)
    paused = admin(
        "pause-updates", reference, "--until", until.isoformat(), "--reason", "In hospital", "--by", owner, "--json"
    )
    answer = json.loads(done_json(paused))  # --json: stdout is one object; the request id went to stderr
    assert answer["result"].startswith(f"regular updates paused until {until.isoformat()}")
    assert paused.stderr.startswith(f"request id: {answer['request_id']} ")
    after = stack.status(reference)
    assert (after["updates_paused_until"], after["updates_pause_reason"]) == (until.isoformat(), "In hospital")
    refused(admin("pause-updates", reference, "--until", today.isoformat(), "--reason", "Away"), "refused: until: ")
    assert stack.status(reference)["updates_paused_until"] == until.isoformat()

    # --- corrected details: the status shows the new ones and which fields changed, never the old
    refused(admin("contact", reference, "--phone", "12345"), "invalid: phone: ", code=2)
    assert stack.status(reference)["contact_changes"] == []
    corrected = admin(
        "contact",
        reference,
        "--email",
        "gwen.p@example.org",
        "--phone",
        "029 2018 3000",
        "--address",
        "Flat 2, 14 Bethcar Street; Ebbw Vale; np23 6hh",
        "--by",
        owner,
    )
    # Texts were agreed, and the new number is a landline: the handler is told, not only the owner.
    assert done(corrected) == (
        f"{reference}: contact details corrected (email, phone, address); later messages use them; the agreed "
        "update channel (sms) no longer reaches them, so updates go by phone first, then in writing: agree "
        "another with admin.py agree"
    )
    after = stack.status(reference)
    contact = after["contact"]
    assert contact["source"] == "corrected" and contact["email"] == "gwen.p@example.org"
    assert contact["phone"] == "+442920183000" and contact["phone_is_mobile"] is False
    assert contact["address"]["lines"] == ["Flat 2, 14 Bethcar Street", "Ebbw Vale"]
    assert contact["address"]["postcode"] == "NP23 6HH"
    assert [(c["by"], c["fields"]) for c in after["contact_changes"]] == [(owner, ["email", "phone", "address"])]
    shown = json.dumps(after)
    assert "gwen.pritchard@example.com" not in shown and "+447911123456" not in shown

    # --- a new owner at the same level; a manager (another level) and a stranger are refused
    roster = load_roster()
    other = next(h for h in roster if h.role is CaseRole.CASE_HANDLER and h.id != owner)
    manager = next(h for h in roster if h.role is CaseRole.CUSTOMER_SERVICE_MANAGER)
    refused(admin("reassign", reference, "--to", manager.id, "--reason", "cover"), f"refused: to: {manager.id} is a ")
    refused(
        admin("reassign", reference, "--to", "nobody.here", "--reason", "cover"),
        "refused: --to: no handler 'nobody.here'",
    )
    assert stack.status(reference)["owner_id"] == owner
    assert done(admin("reassign", reference, "--to", other.id, "--reason", "Amara on leave", "--by", owner)) == (
        f"{reference}: reassigned to {other.name} ({other.id}, Case Handler)"
    )
    after = stack.status(reference)
    assert after["owner_id"] == other.id and after["escalation_level"] == 0
    assert [a["handler"] for a in after["assignments"]] == [owner, other.id]
    assert "Amara on leave" in after["assignments"][-1]["reason"]
    assert any(m["name"] == "introduction_2" for m in after["milestones"])

    # --- not satisfied (who and how), then satisfied: who recorded it, how and when it was said
    assert done(admin("not-satisfied", reference, "--reason", "Wants a refund", "--how", "email", "--by", other.id))
    escalated = stack.wait_for(reference, lambda d: d["escalation_level"] == 1)
    assert escalated["escalations"][-1]["reason"] == "Wants a refund"

    evidence = json.loads(done_json(admin("evidence", reference)))
    for fact in (
        "calls",
        "updates_paused_until",
        "updates_pause_reason",
        "update_channel",
        "contact",
        "contact_changes",
    ):
        assert evidence[fact] == escalated[fact], fact

    # A moment ago, after the complaint was received (before it is refused: a mistyped date).
    said = datetime.now(LONDON).replace(microsecond=0) - timedelta(seconds=1)
    closing = admin(
        "satisfied", reference, "--how", "phone", "--by", other.id, "--said-at", said.strftime("%Y-%m-%dT%H:%M:%S")
    )
    assert done(closing) == (
        f"{reference}: customer satisfied (phone, recorded by {other.id}); the case is closing and the customer will be told"
    )
    closed = stack.wait_for(reference, lambda d: d["stage"] == "closed")
    assert closed["confirmation"]["recorded_by"] == other.id and closed["confirmation"]["how"] == "phone"
    assert datetime.fromisoformat(closed["confirmation"]["said_at"]) == said

    # A closed case takes no more facts: one line, exit 1, nothing recorded.
    refused(admin("satisfied", reference, "--how", "email"), f"refused: case {reference} is closed")
    refused(admin("call", reference, "--outcome", "reached"), f"refused: case {reference} is closed")
    assert len(stack.status(reference)["calls"]) == 2

    table = admin("status", reference)
    assert table.returncode == 0, table.stderr
    assert "Said [/bold] twice" in table.stdout
    assert f"customer confirmed satisfied: by phone, recorded by {other.id}" in table.stdout
    assert "contact (corrected): email gwen.p@example.org; phone +442920183000 (no texts)" in table.stdout
    # SMS was agreed before the number was corrected to a landline: the case can no longer text, so
    # the agreement on the channel lapsed (the owner was told) and updates go phone first again.
    assert "updates by: phone first, then in writing" in table.stdout
    assert any("no longer reaches the customer" in a for a in stack.status(reference)["alerts"])

    # Back within the re-open window: the same reference runs again, escalated one more step.
    back = admin("not-satisfied", reference, "--reason", "The fault is back", "--how", "phone", "--by", other.id)
    assert done(back) == f"{reference}: customer not satisfied after closure; the case is re-opened and being escalated"
    reopened = stack.wait_for(reference, lambda d: d["stage"] != "closed" and d["escalation_level"] == 2)
    [period] = reopened["reopenings"]
    assert period["reason"] == "The fault is back" and period["closed_at"] == closed["closed_at"]
    # The record carries over (the calls, the corrected details); the confirmation no longer holds.
    assert len(reopened["calls"]) == 2 and reopened["contact"]["source"] == "corrected"
    assert reopened["confirmation"] is None
    shown = done_json(admin("status", reference))
    assert "re-opened " in shown and "customer confirmed satisfied" not in shown
    # Listed once, as the open case it is: its earlier run's "closed" is not its state any more.
    everything = done_json(admin("list"))
    assert everything.count(reference) == 1 and "running" in everything.split(reference)[1].splitlines()[0]
    assert reference not in done_json(admin("list", "--stage", "closed"))


def test_a_withdrawn_complaint_is_closed_saying_so_and_an_early_no_response_is_refused(stack: Stack) -> None:
    reference = stack.file(fresh_example(), **ALL_HOURS)
    stack.wait_for(reference, lambda d: d["owner_id"] is not None and d["stage"] != "received")

    def admin(*args: str) -> subprocess.CompletedProcess[str]:
        return stack.run("admin.py", "--wait", "30", *args)

    # "No response" only once the ADR-rights letter has gone: refused, and the case stays open.
    refused(
        admin("close", reference, "--outcome", "no-response", "--reason", "Three calls unanswered"),
        "refused: outcome: no_response only once the ADR-rights letter has gone",
    )
    assert stack.status(reference)["closure"] is None and stack.status(reference)["stage"] != "closed"

    closing = admin(
        "close", reference, "--outcome", "withdrawn", "--reason", "Sorted it with the bank", "--by", "amara.okafor"
    )
    assert done(closing) == f"{reference}: closed: withdrawn"
    closed = stack.wait_for(reference, lambda d: d["stage"] == "closed")
    assert closed["closure"] == {
        "outcome": "withdrawn",
        "reason": "Sorted it with the bank",
        "duplicate_of": None,
        "recorded_by": "amara.okafor",
    }
    assert closed["confirmation"] is None
    assert any(m["kind"] == "closure" and m["status"] == "sent" for m in closed["messages"])
    assert json.loads(done_json(admin("evidence", reference)))["closure"] == closed["closure"]
    table = done_json(admin("status", reference))
    assert "closed as withdrawn, recorded by amara.okafor: Sorted it with the bank" in table


def done_json(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_withdraw_closes_as_withdrawn_and_terminate_archives_the_record_first(stack: Stack) -> None:
    def admin(*args: str) -> subprocess.CompletedProcess[str]:
        return stack.run("admin.py", "--wait", "30", *args)

    withdrawn = stack.file(fresh_example(), **ALL_HOURS)
    stack.wait_for(withdrawn, lambda d: d["owner_id"] is not None and d["stage"] != "received")
    assert (
        done(admin("withdraw", withdrawn, "--reason", "Sorted it with the bank")) == f"{withdrawn}: closed: withdrawn"
    )
    assert stack.wait_for(withdrawn, lambda d: d["stage"] == "closed")["closure"]["outcome"] == "withdrawn"

    stopped = stack.file(fresh_example(), **ALL_HOURS)
    stack.wait_for(stopped, lambda d: d["owner_id"] is not None and d["stage"] != "received")
    assert done(admin("terminate", stopped, "--reason", "Filed in error by a test")) == (
        f"{stopped}: compliance record archived; case terminated"
    )
    record = json.loads(done_json(admin("evidence", stopped)))
    assert record["reference"] == stopped
    refused(admin("note", stopped, "too late"), "refused: case")


def test_a_duplicate_is_closed_only_under_an_open_case_for_the_same_account(stack: Stack) -> None:
    # The closure tells the customer "we will keep you updated under <that reference> only".
    original = stack.file(fresh_example(), **ALL_HOURS)
    other_account = json.loads(fresh_example())
    other_account["account_number"] = "ISS-300001"
    strangers = stack.file(json.dumps(other_account), **ALL_HOURS)
    reference = stack.file(fresh_example(), **ALL_HOURS)
    for case in (original, strangers, reference):
        stack.wait_for(case, lambda d: d["owner_id"] is not None and d["stage"] != "received")

    def close_as_duplicate_of(target: str) -> subprocess.CompletedProcess[str]:
        return stack.run(
            "admin.py", "--wait", "30", "close", reference, "--outcome", "duplicate", "--reason", "Filed twice",
            "--duplicate-of", target,
        )  # fmt: skip

    refused(close_as_duplicate_of("CC-2026-XXXXXXXX"), "refused: --duplicate-of: no case CC-2026-XXXXXXXX was found")
    refused(close_as_duplicate_of(strangers), f"refused: --duplicate-of: {strangers} is account ISS-300001's")
    assert stack.status(reference)["closure"] is None  # nothing changed
    assert done(close_as_duplicate_of(original)) == f"{reference}: closed: duplicate"
    closed = stack.wait_for(reference, lambda d: d["stage"] == "closed")
    assert closed["closure"]["duplicate_of"] == original
    # A closed case cannot be where the customer hears of it.
    another = stack.file(fresh_example(), **ALL_HOURS)
    stack.wait_for(another, lambda d: d["owner_id"] is not None and d["stage"] != "received")
    refused(
        stack.run(
            "admin.py",
            "--wait",
            "30",
            "close",
            another,
            "--outcome",
            "duplicate",
            "--reason",
            "Filed twice",
            "--duplicate-of",
            reference,
        ),  # fmt: skip
        f"refused: --duplicate-of: case {reference} is closed",
    )
