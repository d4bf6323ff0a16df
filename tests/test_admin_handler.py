"""The handler's fact-recording commands (call, agree, pause-updates, contact, reassign, satisfied,
not-satisfied): what they send, what they refuse before connecting, and how status shows the facts.

No Temporal server: `admin.connect` is replaced, so a refusal that dials Temporal is caught, and a
command that gets through has its update or signal captured instead of sent.
"""

from __future__ import annotations

import getpass
import json
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

import admin
from activities.archive import evidence_document
from domain.models import (
    Assignment,
    Call,
    CallOutcome,
    CaseRecord,
    CaseRole,
    CaseState,
    ChannelKind,
    Compensation,
    ContactChange,
    Customer,
    Handler,
    HowSaid,
    IntervalUnit,
    NotSatisfied,
    PostalAddress,
    Satisfied,
    UpdateSchedule,
    WrittenChannel,
)
from settings import load_policy
from starter import CannotReopen
from tests.workflows.harness import intake_at

REF = "CC-2026-4F7K2Q"
AT = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


class Temporal:
    """Stands in for the server: records every connection, update and signal a command makes."""

    def __init__(self) -> None:
        self.connections = 0
        self.opened: list[str] = []
        self.updates: list[tuple[str, Any, str | None]] = []
        self.signals: list[tuple[str, Any]] = []
        self.answer: Any = None
        self.intake: Any = None  # the case's intake as filed, where a command reads it
        self.state = CaseState(reference=REF)  # what a command reads back after acting


@pytest.fixture
def temporal(monkeypatch: pytest.MonkeyPatch) -> Temporal:
    fake = Temporal()
    monkeypatch.setattr(getpass, "getuser", lambda: "sam.login")

    async def connect(settings: Any) -> object:
        fake.connections += 1
        return object()

    class Handle:
        async def signal(self, signal: Any, arg: Any, rpc_timeout: Any = None) -> None:
            fake.signals.append((signal.__name__, arg))

    async def open_case(client: Any, reference: str) -> Handle:
        fake.opened.append(reference)
        return Handle()

    async def update(client: Any, handle: Any, method: Any, payload: Any, id: str | None = None) -> Any:
        fake.updates.append((method.__name__, payload, id))
        return fake.answer

    async def filed_intake(client: Any, handle: Any) -> Any:
        return fake.intake

    async def state(client: Any, handle: Any) -> CaseState:
        return fake.state

    monkeypatch.setattr(admin, "connect", connect)
    monkeypatch.setattr(admin, "_open_case", open_case)
    monkeypatch.setattr(admin, "_filed_intake", filed_intake)
    monkeypatch.setattr(admin, "_state", state)
    monkeypatch.setattr(admin, "_update", update)
    return fake


def run(*args: str) -> Any:
    return CliRunner().invoke(admin.app, list(args))


def refused_before_connecting(result: Any, temporal: Temporal, starts: str, code: int = 2) -> None:
    assert result.exit_code == code, result.output
    assert result.stderr.splitlines() == [result.stderr.strip()], "one line"
    assert result.stderr.startswith(starts), result.stderr
    assert result.stdout == "", "no request id: nothing was sent"
    assert temporal.connections == 0 and not temporal.updates and not temporal.signals


# --- call -----------------------------------------------------------------------------------------


def test_a_reached_call_is_recorded_with_who_made_it_and_the_clock_it_met(temporal: Temporal) -> None:
    temporal.answer = Call(at=AT, outcome=CallOutcome.REACHED, by="amara.okafor", met="introduction")
    result = run("call", REF, "--outcome", "reached", "--note", "Engineer booked", "--by", "amara.okafor")
    assert result.exit_code == 0, result.output
    [(method, made, update)] = temporal.updates
    assert method == "record_call" and update.startswith("call/")
    assert (made.outcome, made.recorded_by, made.note) == (CallOutcome.REACHED, "amara.okafor", "Engineer booked")
    assert result.stdout.splitlines()[0].startswith("request id: ")
    assert (
        result.stdout.splitlines()[-1]
        == f"{REF}: call recorded (reached, by amara.okafor); it met the introduction clock"
    )


def test_a_colleagues_call_says_why_it_is_not_the_introduction(temporal: Temporal) -> None:
    why = "the introduction is owed by the case's owner, rhys.griffiths"
    temporal.answer = Call(at=AT, outcome=CallOutcome.REACHED, by="amara.okafor", not_met=why)
    result = run("call", REF, "--outcome", "reached", "--by", "amara.okafor")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == (
        f"{REF}: call recorded (reached, by amara.okafor); it does not meet the introduction clock: {why}"
    )


def test_no_answer_is_typed_with_a_dash_and_by_defaults_to_the_login_name(temporal: Temporal) -> None:
    temporal.answer = Call(at=AT, outcome=CallOutcome.NO_ANSWER, by="sam.login")
    assert run("call", REF, "--outcome", "no-answer").exit_code == 0
    [(_, made, _)] = temporal.updates
    assert (made.outcome, made.recorded_by) == (CallOutcome.NO_ANSWER, "sam.login")


def test_an_unknown_call_outcome_is_refused_in_one_line_before_connecting(temporal: Temporal) -> None:
    result = run("call", REF, "--outcome", "busy")
    refused_before_connecting(result, temporal, "invalid: --outcome: 'busy': use reached, voicemail or no-answer")


def test_a_login_name_that_cannot_be_found_asks_for_by(temporal: Temporal, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_user() -> str:
        raise OSError("No username set in the environment")

    monkeypatch.setattr(getpass, "getuser", no_user)
    refused_before_connecting(run("call", REF, "--outcome", "reached"), temporal, "invalid: --by: ")


@pytest.mark.parametrize(
    "command",
    [
        ["not-satisfied", REF, "--reason", "Still no engineer\nBcc: attacker@evil.example", "--by", "amara.okafor"],
        ["deadlock", REF, "--reason", "No agreement\r\nTo: other@evil.example"],
        ["compensate", REF, "--amount", "25.00", "--reason", "Two missed visits\x1b[2J"],
    ],
)
def test_a_reason_the_customers_letter_quotes_is_refused_with_a_line_break(
    temporal: Temporal, command: list[str]
) -> None:
    refused_before_connecting(run(*command), temporal, "invalid: reason: must be one line")


# --- agree ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("channel", "expected", "said"),
    [
        ("phone", None, "phone first, then in writing"),
        ("sms", ChannelKind.SMS, "sms"),
        ("letter", ChannelKind.LETTER, "letter"),
    ],
)
def test_an_agreed_schedule_carries_the_channel_the_customer_chose(
    temporal: Temporal, channel: str, expected: ChannelKind | None, said: str
) -> None:
    temporal.answer = UpdateSchedule(every=14, unit=IntervalUnit.ELAPSED_DAYS, contact_time=time(14, 0))
    result = run("agree", REF, "--every", "2w", "--at", "14:00", "--channel", channel)
    assert result.exit_code == 0, result.output
    [(method, agreed, _)] = temporal.updates
    assert method == "record_agreement"
    assert (agreed.every, agreed.unit, agreed.contact_time, agreed.channel) == (
        14,
        IntervalUnit.ELAPSED_DAYS,
        time(14, 0),
        expected,
    )
    assert agreed.recorded_by == "sam.login"
    assert result.stdout.splitlines()[-1] == (
        f"{REF}: updates every 14 elapsed days at 14:00 by {said}, as agreed with the customer (recorded by sam.login)"
    )


@pytest.mark.parametrize(
    ("args", "starts"),
    [
        (["--every", "weekly", "--at", "14:00"], "invalid: --every: "),
        (["--every", "7d", "--at", "2pm"], "invalid: --at: "),
        (["--every", "7d", "--at", "25:00"], "invalid: --at: "),
        (
            ["--every", "7d", "--at", "14:00", "--channel", "fax"],
            "invalid: --channel: 'fax': use phone, sms, email or letter",
        ),
        (["--every", "90d", "--at", "14:00"], "invalid: every: "),
    ],
)
def test_a_schedule_that_cannot_be_read_is_refused_before_connecting(
    temporal: Temporal, args: list[str], starts: str
) -> None:
    refused_before_connecting(run("agree", REF, *args), temporal, starts)


@pytest.mark.parametrize(
    ("args", "starts"),
    [
        (["--every", "weekly", "--at", "14:00"], "invalid: --every: "),
        (["--every", "7d", "--at", "2pm"], "invalid: --at: "),
        (["--every", "7d", "--at", "25:00"], "invalid: --at: "),
        (["--every", "3x"], "invalid: --every: "),
    ],
)
def test_a_schedule_change_that_cannot_be_read_is_refused_before_connecting(
    temporal: Temporal, args: list[str], starts: str
) -> None:
    refused_before_connecting(run("schedule", REF, *args), temporal, starts)


# --- pause-updates --------------------------------------------------------------------------------


def test_a_pause_sends_the_day_and_reason_and_prints_what_the_case_answers(temporal: Temporal) -> None:
    temporal.answer = "regular updates paused until 2026-12-14; next update Mon 14 Dec 10:00; the 8-week clock runs on"
    result = run("pause-updates", REF, "--until", "2026-12-14", "--reason", "In hospital", "--by", "amara.okafor")
    assert result.exit_code == 0, result.output
    [(method, pause, update)] = temporal.updates
    assert method == "pause_updates" and update.startswith("pause-updates/")
    assert (pause.until, pause.reason, pause.recorded_by) == (date(2026, 12, 14), "In hospital", "amara.okafor")
    assert result.stdout.splitlines()[-1] == f"{REF}: {temporal.answer}"


@pytest.mark.parametrize(
    ("args", "starts"),
    [
        (["--until", "14/12/2026", "--reason", "Away"], "invalid: --until: '14/12/2026' is not a date"),
        (["--until", "2026-12-14", "--reason", " "], "invalid: reason: "),
    ],
)
def test_a_pause_that_cannot_be_read_is_refused_before_connecting(
    temporal: Temporal, args: list[str], starts: str
) -> None:
    refused_before_connecting(run("pause-updates", REF, *args), temporal, starts)


# --- contact --------------------------------------------------------------------------------------


def test_corrected_details_are_validated_like_the_intake_before_they_are_sent(temporal: Temporal) -> None:
    temporal.answer = ["email", "phone", "address", "preferred_written_channel"]
    result = run(
        "contact",
        REF,
        "--email",
        "Gwen.Pritchard@Example.com",
        "--phone",
        "07911 123999",
        "--address",
        "Flat 2, 14 Bethcar Street;  Ebbw Vale ; np23 6hh",
        "--preferred",
        "letter",
    )
    assert result.exit_code == 0, result.output
    [(method, correction, update)] = temporal.updates
    assert method == "correct_contact" and update.startswith("contact/")
    assert correction.email == "Gwen.Pritchard@example.com"  # email-validator ran: domain normalised
    assert correction.phone == "+447911123999" and correction.phone_is_mobile is True  # phonenumbers ran
    assert correction.address == PostalAddress(lines=["Flat 2, 14 Bethcar Street", "Ebbw Vale"], postcode="NP23 6HH")
    assert correction.preferred_written_channel is WrittenChannel.LETTER
    assert correction.recorded_by == "sam.login"
    assert result.stdout.splitlines()[-1] == (
        f"{REF}: contact details corrected (email, phone, address, preferred_written_channel); later messages use them"
    )


def test_a_landline_is_recorded_as_taking_no_texts(temporal: Temporal) -> None:
    temporal.answer = ["phone"]
    assert run("contact", REF, "--phone", "029 2018 3000").exit_code == 0
    [(_, correction, _)] = temporal.updates
    assert correction.phone == "+442920183000" and correction.phone_is_mobile is False


def test_a_contact_key_secret_shorter_than_16_characters_is_refused_and_nothing_is_sent(
    temporal: Temporal, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COMPLAINTS_SECRETS_FILE", raising=False)
    monkeypatch.setenv("COMPLAINTS_CONTACT_KEY_SECRET", "s3cret")
    result = run("contact", REF, "--phone", "07911 123999")
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("refused: COMPLAINTS_CONTACT_KEY_SECRET must be at least 16 characters")
    assert "s3cret" not in result.output and not temporal.updates


@pytest.mark.parametrize(
    ("args", "starts"),
    [
        ([], "invalid: give at least one of --email, --phone, --address, --preferred"),
        (["--phone", "12345"], "invalid: phone: "),
        (["--email", "gwen at example"], "invalid: email: "),
        (["--address", "14 Bethcar Street, Ebbw Vale"], "invalid: --address: "),
        (["--address", "14 Bethcar Street;;NP23 6HH"], "invalid: --address: "),
        (["--preferred", "fax"], "invalid: preferred_written_channel: "),
    ],
)
def test_contact_details_that_do_not_validate_are_refused_field_by_field_before_connecting(
    temporal: Temporal, args: list[str], starts: str
) -> None:
    refused_before_connecting(run("contact", REF, *args), temporal, starts)


# --- reassign -------------------------------------------------------------------------------------


def test_a_reassignment_sends_the_new_owner_as_the_roster_has_them(temporal: Temporal) -> None:
    temporal.answer = Handler(
        id="rhys.griffiths",
        name="Rhys Griffiths",
        role=CaseRole.CASE_HANDLER,
        phone="+442079460102",
        email="rhys.griffiths@infinity-solutions.example",
    )
    result = run("reassign", REF, "--to", "rhys.griffiths", "--reason", "Amara on leave")
    assert result.exit_code == 0, result.output
    [(method, move, update)] = temporal.updates
    assert method == "reassign" and update.startswith("reassign/")
    assert move.to.id == "rhys.griffiths" and move.to.email == "rhys.griffiths@infinity-solutions.example"
    assert move.to.phone == "+442079460102"  # the roster is read with the intake's checks
    assert (move.reason, move.recorded_by) == ("Amara on leave", "sam.login")
    assert result.stdout.splitlines()[-1] == f"{REF}: reassigned to Rhys Griffiths (rhys.griffiths, Case Handler)"


def test_a_handler_not_in_the_roster_is_refused_in_one_line_before_connecting(temporal: Temporal) -> None:
    result = run("reassign", REF, "--to", "nobody.here", "--reason", "Amara on leave")
    refused_before_connecting(result, temporal, "refused: --to: no handler 'nobody.here' in the roster", code=1)
    assert "amara.okafor" in result.stderr  # who can be named instead


# --- the customer's answer ------------------------------------------------------------------------


def test_satisfied_says_who_recorded_it_how_the_customer_said_it_and_when(temporal: Temporal) -> None:
    result = run("satisfied", REF, "--how", "sms-reply", "--by", "amara.okafor", "--said-at", "2026-06-30T09:15")
    assert result.exit_code == 0, result.output
    [(signal, answer)] = temporal.signals
    assert signal == "customer_satisfied" and isinstance(answer, Satisfied)
    assert (answer.how, answer.recorded_by) == (HowSaid.SMS_REPLY, "amara.okafor")
    # No offset: UK wall-clock time (BST in June), recorded in UTC.
    assert answer.said_at == datetime(2026, 6, 30, 9, 15, tzinfo=ZoneInfo("Europe/London"))
    assert answer.said_at.utcoffset().total_seconds() == 0
    assert result.stdout == (
        f"{REF}: customer satisfied (sms reply, recorded by amara.okafor); the case is closing and the customer will be told\n"
    )


def test_satisfied_without_how_is_refused_before_connecting(temporal: Temporal) -> None:
    result = run("satisfied", REF)
    assert result.exit_code == 2 and "--how" in result.output
    assert temporal.connections == 0 and not temporal.signals


@pytest.mark.parametrize(
    ("args", "starts"),
    [
        (["--how", "pigeon"], "invalid: --how: 'pigeon': use phone, email, letter, sms-reply or in-person"),
        (
            ["--how", "phone", "--said-at", "2099-01-01T10:00"],
            "invalid: --said-at: '2099-01-01T10:00' is in the future",
        ),
        (["--how", "phone", "--said-at", "yesterday"], "invalid: --said-at: 'yesterday' is not a date and time"),
    ],
)
def test_an_answer_that_cannot_be_read_is_refused_before_connecting(
    temporal: Temporal, args: list[str], starts: str
) -> None:
    refused_before_connecting(run("satisfied", REF, *args), temporal, starts)


def test_not_satisfied_keeps_working_with_a_reason_only_and_records_who(
    temporal: Temporal, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter(["escalated", "re-opened"])
    sent: list[NotSatisfied] = []

    async def reopen_case(client: Any, reference: str, fact: NotSatisfied) -> str:
        sent.append(fact)
        return next(answers)

    async def any_case(client: Any, reference: str) -> None:
        return None

    monkeypatch.setattr(admin, "reopen_case", reopen_case)
    monkeypatch.setattr(admin, "_any_case", any_case)
    first = run("not-satisfied", REF, "--reason", "Still no engineer")
    assert first.stdout == f"{REF}: customer not satisfied; the case is being escalated\n"
    second = run("not-satisfied", REF, "--reason", "Wrong bill", "--how", "in_person", "--by", "amara.okafor")
    assert second.stdout == f"{REF}: customer not satisfied after closure; the case is re-opened and being escalated\n"
    assert sent[0] == NotSatisfied(reason="Still no engineer", recorded_by="sam.login")
    assert (sent[1].how, sent[1].recorded_by) == (HowSaid.IN_PERSON, "amara.okafor")


def test_not_satisfied_with_a_case_that_cannot_reopen_is_refused_in_one_line(
    temporal: Temporal, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def reopen_case(client: Any, reference: str, fact: NotSatisfied) -> str:
        raise CannotReopen(
            f"case {reference} closed on 01 Sep 2026 and could be re-opened until the end of 27 Oct 2026 (8 weeks): file a new complaint"
        )

    async def any_case(client: Any, reference: str) -> None:
        return None

    monkeypatch.setattr(admin, "reopen_case", reopen_case)
    monkeypatch.setattr(admin, "_any_case", any_case)
    result = run("not-satisfied", REF, "--reason", "Late")
    assert result.exit_code == 1 and result.stdout == ""
    assert (
        result.stderr
        == f"refused: case {REF} closed on 01 Sep 2026 and could be re-opened until the end of 27 Oct 2026 (8 weeks): file a new complaint\n"
    )


# --- what status and the evidence show ------------------------------------------------------------

AMARA = Handler(
    id="amara.okafor",
    name="Amara Okafor",
    role=CaseRole.CASE_HANDLER,
    phone="+442079460101",
    email="amara.okafor@infinity-solutions.example",
)
RHYS = AMARA.model_copy(update={"id": "rhys.griffiths", "name": "Rhys Griffiths"})
FILED = Customer(name="Gwen Pritchard", email="gwen.pritchard@example.com", phone="+447911123456", phone_is_mobile=True)


def handled_state(**changes: Any) -> CaseState:
    state = CaseState(
        reference=REF,
        owner=RHYS,
        assignments=[
            Assignment(handler=AMARA, reason="first owner", assigned_at=AT),
            Assignment(handler=RHYS, reason="reassigned by sam: Amara on leave", assigned_at=AT),
        ],
        calls=[
            Call(at=AT, outcome=CallOutcome.REACHED, by="amara.okafor", note="Said [/bold] twice", met="introduction")
        ],
        schedule=UpdateSchedule(every=14, contact_time=time(14, 0)),
        schedule_agreed_at=AT,
        update_channel=ChannelKind.SMS,
        updates_paused_until=date(2026, 12, 14),
        updates_pause_reason="In hospital [red]",
        customer=FILED.model_copy(
            update={
                "phone": "+442920183000",
                "phone_is_mobile": False,
                "address": PostalAddress(lines=["1 High St"], postcode="NP23 6HH"),
            }
        ),
        contact_changes=[ContactChange(at=AT, by="sam", fields=["phone", "address"])],
        confirmation=Satisfied(recorded_by="amara.okafor", how=HowSaid.PHONE, said_at=AT),
    )
    return state.model_copy(update=changes)


def test_status_json_shows_each_handler_fact_and_the_details_the_case_uses_now() -> None:
    document = admin.status_document(handled_state(), FILED)
    assert document["calls"] == [
        {
            "at": "2026-11-30T10:00:00Z",
            "outcome": "reached",
            "by": "amara.okafor",
            "note": "Said [/bold] twice",
            "met": "introduction",
        }
    ]
    assert document["confirmation"] == {
        "recorded_by": "amara.okafor",
        "how": "phone",
        "said_at": "2026-11-30T10:00:00Z",
    }
    assert (document["updates_paused_until"], document["updates_pause_reason"]) == ("2026-12-14", "In hospital [red]")
    assert document["update_channel"] == "sms"
    assert document["contact"]["source"] == "corrected" and document["contact"]["phone"] == "+442920183000"
    assert document["contact"]["address"] == {"lines": ["1 High St"], "postcode": "NP23 6HH", "country": "GB"}
    # Which fields changed, when and by whom: never an old value.
    assert document["contact_changes"] == [{"at": "2026-11-30T10:00:00Z", "by": "sam", "fields": ["phone", "address"]}]
    assert "+447911123456" not in json.dumps(document)
    assert [(a["handler"], a["reason"]) for a in document["assignments"]] == [
        ("amara.okafor", "first owner"),
        ("rhys.griffiths", "reassigned by sam: Amara on leave"),
    ]


def test_status_json_shows_the_details_as_filed_until_a_handler_corrects_them() -> None:
    document = admin.status_document(handled_state(customer=None, contact_changes=[], confirmation=None), FILED)
    assert document["contact"]["source"] == "as filed" and document["contact"]["phone"] == "+447911123456"
    assert document["confirmation"] is None and document["contact_changes"] == []


def status_table(monkeypatch: pytest.MonkeyPatch, state: CaseState, width: int = 80) -> str:
    """`admin.py status REF` of a case in `state`, with the server stood in for."""

    async def fake_state(client: Any, handle: Any) -> CaseState:
        return state

    async def fake_case(client: Any, reference: str) -> None:
        return None

    async def connect(settings: Any) -> object:
        return object()

    monkeypatch.setattr(admin, "_state", fake_state)
    monkeypatch.setattr(admin, "_any_case", fake_case)
    monkeypatch.setattr(admin, "connect", connect)
    result = CliRunner().invoke(admin.app, ["status", REF], terminal_width=width)
    assert result.exit_code == 0, result.output
    return str(result.stdout)


def test_status_table_shows_the_facts_and_prints_markup_in_text_as_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    out = status_table(monkeypatch, handled_state())
    assert "Said [/bold] twice" in out
    assert "updates paused until Mon 14 Dec 2026: In hospital [red] (the 8-week clock runs on)" in out
    # SMS was agreed, but the corrected number is a landline.
    assert "updates by: phone first, then in writing (sms was agreed, but the details held do not reach it)" in out
    assert (
        "contact (corrected): email gwen.pritchard@example.com; phone +442920183000 (no texts); "
        "address 1 High St, NP23 6HH; in writing by email" in out
    )
    assert "contact corrected Mon 30 Nov 10:00 by sam: phone, address" in out
    assert "assigned Mon 30 Nov 10:00: Rhys Griffiths (rhys.griffiths): reassigned by sam: Amara on leave" in out
    assert "customer confirmed satisfied: by phone, recorded by amara.okafor, said Mon 30 Nov 10:00" in out
    assert "reached" in out and "introduction" in out


def test_the_evidence_record_shows_the_same_facts_as_status() -> None:
    state = handled_state()
    record = CaseRecord(reference=REF, intake=intake_at(AT), state=state, policy=load_policy(), recorded_at=AT)
    evidence = evidence_document(record)
    status = admin.status_document(state, record.intake.customer)
    for fact in (
        "calls",
        "confirmation",
        "updates_paused_until",
        "updates_pause_reason",
        "update_channel",
        "contact",
        "contact_changes",
        "reopenings",
        "closure",
    ):
        assert evidence[fact] == status[fact], fact
    # The agreed contact time the Code requires, with when the customer agreed it.
    assert evidence["update_schedule"] == status["schedule"] and evidence["update_schedule"]["every"] == 14
    assert (evidence["schedule_status"], evidence["schedule_agreed_at"]) == ("agreed", AT.isoformat())
    assert evidence["contact"]["source"] == "corrected"
    # Until corrected, the evidence shows the details as filed.
    filed = evidence_document(record.model_copy(update={"state": handled_state(customer=None)}))
    assert filed["contact"]["source"] == "as filed"
    assert filed["contact"]["email"] == record.intake.customer.email


def test_status_says_when_the_agreed_channel_no_longer_reaches_the_customer() -> None:
    # SMS agreed, then the number was corrected to a landline: the case sends phone, then in writing.
    landline = FILED.model_copy(update={"phone": "+442920183000", "phone_is_mobile": False})
    assert admin.update_channel_label(ChannelKind.SMS, FILED) == "sms (as agreed)"
    assert admin.update_channel_label(ChannelKind.SMS, landline) == (
        "phone first, then in writing (sms was agreed, but the details held do not reach it)"
    )
    assert admin.update_channel_label(ChannelKind.LETTER, FILED).startswith("phone first, then in writing (letter")
    assert admin.update_channel_label(None, FILED) == "phone first, then in writing"


# --- --json: one object on stdout for other tools -------------------------------------------------


def test_with_json_stdout_is_one_object_and_the_request_id_goes_to_stderr(temporal: Temporal) -> None:
    temporal.answer = Call(at=AT, outcome=CallOutcome.VOICEMAIL, by="sam.login")
    result = run("call", REF, "--outcome", "voicemail", "--json")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    request = answer["request_id"]
    assert result.stderr == f"request id: {request} (to retry this exact command: --request-id {request})\n"
    assert answer["reference"] == REF and answer["command"] == "call"
    assert answer["result"] == {
        "at": "2026-11-30T10:00:00Z",
        "outcome": "voicemail",
        "by": "sam.login",
        "note": None,
        "met": None,
    }
    [(_, _, update)] = temporal.updates
    assert update.startswith(f"call/{request}/")


@pytest.mark.parametrize(
    ("args", "answer", "expected"),
    [
        (
            ["agree", REF, "--every", "3wd", "--at", "9", "--channel", "email"],
            UpdateSchedule(every=3, unit=IntervalUnit.WORKING_DAYS, contact_time=time(9, 0)),
            {"every": 3, "unit": "working_days", "contact_time": "09:00:00", "channel": "email"},
        ),
        (["contact", REF, "--email", "gwen@example.org"], ["email"], {"changed": ["email"]}),
        (
            ["pause-updates", REF, "--until", "2026-12-14", "--reason", "Away"],
            "regular updates paused",
            "regular updates paused",
        ),
    ],
)
def test_each_command_answers_in_json_with_what_the_case_recorded(
    temporal: Temporal, args: list[str], answer: Any, expected: Any
) -> None:
    temporal.answer = answer
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["result"] == expected


def test_satisfied_in_json_says_what_was_sent(temporal: Temporal) -> None:
    result = run("satisfied", REF, "--how", "letter", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "reference": REF,
        "command": "satisfied",
        "result": {"recorded_by": "sam.login", "how": "letter", "said_at": None},
    }


def test_with_json_sent_but_not_applied_keeps_stdout_empty(temporal: Temporal, monkeypatch: pytest.MonkeyPatch) -> None:
    async def no_worker(client: Any, handle: Any, method: Any, payload: Any, id: str | None = None) -> Any:
        raise admin.Pending(f"{REF}: sent; not yet applied because no worker is running")

    monkeypatch.setattr(admin, "_update", no_worker)
    result = run("call", REF, "--outcome", "reached", "--json")
    assert result.exit_code == admin.EXIT_PENDING and result.stdout == ""
    assert result.stderr.splitlines()[-1] == f"{REF}: sent; not yet applied because no worker is running"
    # Without --json the same answer is on stdout, as for the other handler commands.
    plain = run("call", REF, "--outcome", "reached")
    assert plain.exit_code == admin.EXIT_PENDING and plain.stdout.splitlines()[-1].startswith(f"{REF}: sent;")


# --- close ----------------------------------------------------------------------------------------


def test_a_duplicate_is_closed_naming_the_case_it_is_handled_under(
    temporal: Temporal, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def same_account(client: Any, handle: Any, duplicate_of: str) -> None:
        temporal.opened.append(duplicate_of)  # tests/e2e/test_handler_commands.py checks it for real

    monkeypatch.setattr(admin, "_check_duplicate_of", same_account)
    temporal.answer = f"case {REF} closed: duplicate"
    result = run("close", REF, "--outcome", "duplicate", "--duplicate-of", "CC-2026-4F7K2R", "--reason", "Filed twice")
    assert result.exit_code == 0, result.output
    [(method, closure, update)] = temporal.updates
    assert method == "close_case" and update.startswith("close/")
    assert (closure.outcome.value, closure.duplicate_of, closure.reason, closure.recorded_by) == (
        "duplicate",
        "CC-2026-4F7K2R",
        "Filed twice",
        "sam.login",
    )
    assert result.stdout.splitlines()[-1] == f"{REF}: closed: duplicate"


@pytest.mark.parametrize(
    ("args", "starts"),
    [
        (
            ["--outcome", "resolved", "--reason", "x"],
            "invalid: --outcome: 'resolved': use withdrawn, no-response, duplicate or referred-to-adr",
        ),
        (
            ["--outcome", "duplicate", "--reason", "x"],
            "invalid: duplicate_of: give it exactly when the outcome is 'duplicate'",
        ),
        (["--outcome", "withdrawn", "--reason", "x", "--duplicate-of", "CC-2026-4F7K2R"], "invalid: duplicate_of: "),
        (["--outcome", "duplicate", "--reason", "x", "--duplicate-of", "the other one"], "invalid: --duplicate-of: "),
    ],
)
def test_a_closure_that_does_not_fit_is_refused_before_connecting(
    temporal: Temporal, args: list[str], starts: str
) -> None:
    refused_before_connecting(run("close", REF, *args), temporal, starts)


def test_status_shows_how_a_case_closed_when_not_by_the_customer() -> None:
    from domain.models import CaseClosure, ClosureOutcome

    closure = CaseClosure(
        outcome=ClosureOutcome.WITHDRAWN, reason="Sorted it with the bank", recorded_by="amara.okafor"
    )
    document = admin.status_document(handled_state(closure=closure, confirmation=None), FILED)
    assert document["closure"] == {
        "outcome": "withdrawn",
        "reason": "Sorted it with the bank",
        "duplicate_of": None,
        "recorded_by": "amara.okafor",
    }
    assert admin.status_document(handled_state(), FILED)["closure"] is None


# --- every command that is one update on an open case ---------------------------------------------

REQUEST = "0123abcd"


@pytest.mark.parametrize(
    ("args", "handler", "command", "answer", "said"),
    [
        (["note", REF, "Engineer booked"], "add_note", "note", 3, "note 3 recorded (internal: never sent)"),
        (
            ["schedule", REF, "--every", "3d", "--at", "14:00"],
            "change_update_schedule",
            "schedule",
            UpdateSchedule(every=3, unit=IntervalUnit.ELAPSED_DAYS, contact_time=time(14, 0)),
            "updates every 3 elapsed days at 14:00 (agreed)",
        ),
        (["deadlock", REF], "declare_deadlock", "deadlock", "ADR letter sent", "ADR letter sent"),
        (
            ["compensate", REF, "--amount", "£25.00", "--reason", "Two missed visits"],
            "record_compensation",
            "compensate",
            Compensation(amount_gbp=Decimal("25.00"), reason="Two missed visits", recorded_at=AT, credit_id="CR-7"),
            "£25.00 credited to the next invoice (CR-7)",
        ),
        (
            ["call", REF, "--outcome", "voicemail"],
            "record_call",
            "call",
            Call(at=AT, outcome=CallOutcome.VOICEMAIL, by="sam.login"),
            "call recorded (voicemail, by sam.login)",
        ),
        (
            ["agree", REF, "--every", "7d", "--at", "14:00", "--channel", "sms"],
            "record_agreement",
            "agree",
            UpdateSchedule(every=7, unit=IntervalUnit.ELAPSED_DAYS, contact_time=time(14, 0)),
            "updates every 7 elapsed days at 14:00 by sms, as agreed with the customer (recorded by sam.login)",
        ),
        (
            ["pause-updates", REF, "--until", "2026-12-14", "--reason", "Away"],
            "pause_updates",
            "pause-updates",
            "regular updates paused",
            "regular updates paused",
        ),
        (
            ["ask-to-close", REF],
            "ask_to_close",
            "ask-to-close",
            "sms",
            "asked the customer to confirm by sms; a YES reply closes the case, NO escalates",
        ),
        (
            ["reassign", REF, "--to", "rhys.griffiths", "--reason", "Amara on leave"],
            "reassign",
            "reassign",
            RHYS,
            "reassigned to Rhys Griffiths (rhys.griffiths, Case Handler)",
        ),
        (
            ["close", REF, "--outcome", "no-response", "--reason", "No reply in 4 weeks"],
            "close_case",
            "close",
            f"case {REF} closed: no response",
            "closed: no response",
        ),
        # withdraw is close with its outcome filled in: the same update, under the same command name.
        (
            ["withdraw", REF, "--reason", "Sorted it with the bank"],
            "close_case",
            "close",
            f"case {REF} closed: withdrawn",
            "closed: withdrawn",
        ),
    ],
)
def test_each_handler_command_is_one_update_on_the_case_under_the_id_its_request_gives(
    temporal: Temporal, args: list[str], handler: str, command: str, answer: Any, said: str
) -> None:
    """A retry with the same request id and text must reach Temporal under the same update id, or
    it would act twice (a second credit, a second letter): the id is the command's name, the case,
    what was sent and the request id, and the command opens the case it was given."""
    temporal.answer = answer
    result = run(*args, "--request-id", REQUEST)
    assert result.exit_code == 0, result.output
    assert temporal.opened == [REF]
    [(method, payload, update)] = temporal.updates
    assert method == handler
    assert update == admin.update_id(command, REF, payload, REQUEST)
    assert result.stdout.splitlines() == [
        f"request id: {REQUEST} (to retry this exact command: --request-id {REQUEST})",
        f"{REF}: {said}",
    ]


def test_a_said_at_before_the_complaint_was_received_is_refused_and_nothing_is_sent(temporal: Temporal) -> None:
    # A mistyped year would go into the customer's closure: "Thank you for confirming on 5 May 2019".
    from types import SimpleNamespace

    temporal.intake = SimpleNamespace(received_at=datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
    result = run("satisfied", REF, "--how", "phone", "--by", "amara.okafor", "--said-at", "2019-05-05T12:00")
    assert result.exit_code == 1 and temporal.signals == []
    assert result.stderr == (
        "refused: --said-at: 05 May 2019 12:00 is before the complaint was received "
        "(30 Nov 2026 09:00, UK time); nothing was changed\n"
    )
    assert (
        run("satisfied", REF, "--how", "phone", "--by", "amara.okafor", "--said-at", "2026-11-30T09:30").exit_code == 0
    )


@pytest.mark.parametrize(
    "args",
    [
        ["schedule", REF, "--every", "3d", "--at", "14:00"],
        ["deadlock", REF],
        ["compensate", REF, "--amount", "25.00", "--reason", "Two missed visits"],
    ],
)
def test_schedule_deadlock_and_compensate_say_who_recorded_them(temporal: Temporal, args: list[str]) -> None:
    # Every fact a handler records says who: --by, or the login name.
    run(*args, "--by", "amara.okafor")
    run(*args)
    [(_, given, _), (_, defaulted, _)] = temporal.updates
    assert (given.recorded_by, defaulted.recorded_by) == ("amara.okafor", "sam.login")


def test_status_shows_each_award_with_who_recorded_it_and_whether_it_is_credited(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    state = handled_state()
    state.compensations = [
        Compensation(
            amount_gbp=Decimal("1234.5"), reason="Missed visits", recorded_at=AT, credit_id="CR-7", recorded_by="amara"
        )
    ]
    state.pending_compensations = [Compensation(amount_gbp=Decimal("20"), reason="Call-back", recorded_at=AT)]
    out = status_table(monkeypatch, state, width=200)
    assert "compensation Mon 30 Nov 10:00: £1,234.50 credited (CR-7), recorded by amara: Missed visits" in out
    assert "compensation Mon 30 Nov 10:00: £20.00 not credited yet: billing is retrying: Call-back" in out


def test_an_ask_to_close_texted_at_night_says_when_the_text_goes(temporal: Temporal) -> None:
    from domain.models import DeferredText, MessageKind

    eight = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    temporal.answer = "sms"
    temporal.state = CaseState(
        reference=REF, deferred_texts=[DeferredText(kind=MessageKind.ASK_TO_CLOSE, not_before=eight)]
    )
    result = run("ask-to-close", REF, "--by", "sian.evans")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == (
        f"{REF}: asked the customer to confirm by sms (a text at night waits for the quiet hours: it goes "
        "Tue 01 Dec 08:00); a YES reply closes the case, NO escalates"
    )


def test_a_report_whose_period_ends_before_it_begins_is_refused_not_printed_as_zeros(temporal: Temporal) -> None:
    result = run("report", "--from", "2026-12-01", "--to", "2026-11-01")
    assert (result.exit_code, result.stderr) == (2, "invalid: --to: 2026-11-01 is before --from 2026-12-01\n")
    assert temporal.connections == 0
    # One day is a period: --from and --to the same day.
    assert "is before" not in run("report", "--from", "2026-12-01", "--to", "2026-12-01").stderr


def test_a_correction_that_loses_the_agreed_update_channel_says_so(
    temporal: Temporal, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Texts were agreed; the corrected number is a landline: the handler hears it, not only the owner.
    states = iter(
        [CaseState(reference=REF, update_channel=ChannelKind.SMS), CaseState(reference=REF, update_channel=None)]
    )

    async def state(client: Any, handle: Any) -> CaseState:
        return next(states)

    monkeypatch.setattr(admin, "_state", state)
    monkeypatch.setattr(admin, "_with_contact_keys", lambda client, handle, correction: _returns(correction))
    temporal.answer = ["phone"]
    result = run("contact", REF, "--phone", "029 2018 3000", "--by", "amara.okafor")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1] == (
        f"{REF}: contact details corrected (phone); later messages use them; the agreed update channel (sms) "
        "no longer reaches them, so updates go by phone first, then in writing: agree another with admin.py agree"
    )


async def _returns(value: Any) -> Any:
    return value
