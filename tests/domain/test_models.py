"""The payload models as intake, handlers and history read them: what is checked, and when.

Library checks (email-validator, phonenumbers) run only on a person's input (context=INTAKE); what a
workflow decodes from history is recorded data and is decoded as it was recorded.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

import pytest
from pydantic import ValidationError

from domain.models import (
    INTAKE,
    CalendarSpec,
    CaseClosure,
    CaseReceipt,
    CaseRole,
    CaseState,
    ChannelKind,
    ClosureOutcome,
    CompensationAward,
    ComplaintIntake,
    ContactCorrection,
    Customer,
    Deadlock,
    DeferredText,
    DeliveryReceipt,
    DeliveryStatus,
    MessageKind,
    MessageRecord,
    Milestone,
    NotSatisfied,
    PostalAddress,
    ProgressNote,
    QuietHours,
    field_errors,
    field_label,
    is_mobile,
)

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
MOBILE = "07911 123456"
CARDIFF_LANDLINE = "029 2018 3000"


def intake(**changes: Any) -> dict[str, Any]:
    customer = {
        "name": "Gwen Pritchard",
        "email": "gwen.pritchard@example.com",
        "phone": MOBILE,
        "address": {"lines": ["14 Bethcar Street", "Ebbw Vale"], "postcode": "np23 6hh"},
        "preferred_written_channel": "email",
    } | changes.pop("customer", {})
    return {
        "source": "web",
        "account_number": "ISS-204871",
        "customer": customer,
        "received_at": "2026-11-30T09:00:00+00:00",
        "complaint": "The broadband drops every afternoon.",
    } | changes


def refusal(data: object) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        ComplaintIntake.from_intake(data, now=NOW)
    return field_errors(caught.value)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# --- the intake ------------------------------------------------------------------------------------


def test_an_intake_records_the_number_in_e164_and_whether_it_takes_texts() -> None:
    customer = ComplaintIntake.from_intake(intake(), now=NOW).customer
    assert customer.phone == "+447911123456" and customer.phone_is_mobile is True
    landline = ComplaintIntake.from_intake(intake(customer={"phone": CARDIFF_LANDLINE}), now=NOW).customer
    assert landline.phone == "+442920183000" and landline.phone_is_mobile is False


def test_an_intake_normalises_the_email_domain_and_the_postcode() -> None:
    customer = ComplaintIntake.from_intake(
        intake(
            customer={"email": "Gwen.Pritchard@EXAMPLE.COM", "address": {"lines": ["1 Rd"], "postcode": " np23   6hh "}}
        ),
        now=NOW,
    ).customer
    assert customer.email == "Gwen.Pritchard@example.com"
    assert customer.address is not None and customer.address.postcode == "NP23 6HH"


def test_bad_contact_details_are_refused_field_by_field() -> None:
    email, phone = refusal(intake(customer={"email": "gwen@", "phone": "029 2018 300"}))
    assert email.startswith("customer.email: ") and "@-sign" in email  # email-validator's own words
    assert phone == "customer.phone: not a valid phone number for its country"
    assert refusal(intake(customer={"phone": "call me"}))[0].startswith("customer.phone: not a phone number: ")


def test_the_preferred_written_channel_must_be_reachable() -> None:
    assert refusal(intake(customer={"email": None})) == [
        "customer: preferred_written_channel is 'email' but no email address was given"
    ]
    assert refusal(intake(customer={"preferred_written_channel": "letter", "address": None})) == [
        "customer: preferred_written_channel is 'letter' but no postal address was given"
    ]


def test_received_at_needs_an_offset_and_is_kept_in_utc() -> None:
    assert refusal(intake(received_at="2026-11-30T09:00:00")) == [
        "received_at: must include a timezone offset, e.g. 2026-11-25T10:30:00+00:00"
    ]
    received = ComplaintIntake.from_intake(intake(received_at="2026-07-01T10:30:00+01:00"), now=NOW).received_at
    assert received == utc(2026, 7, 1, 9, 30) and received.tzinfo is UTC


def test_a_date_beyond_the_calendar_is_out_of_range_not_a_crash() -> None:
    assert refusal(intake(received_at="0001-01-01T00:00:00+01:00")) == ["received_at: is out of range"]


def test_received_at_may_run_five_minutes_ahead_of_our_clock_but_no_more() -> None:
    ahead = NOW + timedelta(minutes=4)
    assert ComplaintIntake.from_intake(intake(received_at=ahead.isoformat()), now=NOW).received_at == ahead
    assert refusal(intake(received_at=(NOW + timedelta(minutes=6)).isoformat())) == ["received_at: is in the future"]


def test_received_at_more_than_a_year_ago_is_a_typing_mistake() -> None:
    inside = NOW - timedelta(days=364)
    assert ComplaintIntake.from_intake(intake(received_at=inside.isoformat()), now=NOW).received_at == inside
    assert refusal(intake(received_at=(NOW - timedelta(days=366)).isoformat())) == [
        "received_at: is more than a year ago; file it with the date it reached us"
    ]


def test_a_complaint_filed_as_it_happens_is_received_now() -> None:
    data = intake()
    del data["received_at"]
    assert ComplaintIntake.from_intake(data, now=NOW).received_at == NOW
    assert ComplaintIntake.from_intake(json.dumps(data), now=NOW).received_at == NOW
    assert ComplaintIntake.from_intake(json.dumps(data).encode(), now=NOW).received_at == NOW


def test_without_a_given_now_the_intake_reads_the_clock() -> None:
    data = intake()
    del data["received_at"]
    before = datetime.now(UTC)
    received = ComplaintIntake.from_intake(data).received_at
    assert before <= received <= datetime.now(UTC)


def test_json_that_does_not_parse_is_refused_saying_where() -> None:
    assert refusal('{"source": "web",') == ["(complaint): Invalid JSON: EOF while parsing a value at line 1 column 17"]


def test_text_with_a_lone_surrogate_is_refused_as_bad_json_not_a_crash() -> None:
    # A lone surrogate cannot be UTF-8: the intake gets the usual one-line refusal, not a UnicodeError.
    assert refusal('{"complaint": "\udc80"}') == [
        "(complaint): Invalid JSON: invalid unicode code point at line 1 column 16"
    ]


class _NoOffset(tzinfo):
    """A zone that cannot say its offset: no better than none for a date a clock counts from."""

    def tzname(self, dt: datetime | None) -> str | None:
        return None

    def utcoffset(self, dt: datetime | None) -> timedelta | None:
        return None

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None


def test_a_received_at_whose_zone_gives_no_offset_is_refused() -> None:
    assert refusal(intake(received_at=datetime(2026, 11, 30, 9, tzinfo=_NoOffset()))) == [
        "received_at: must include a timezone offset, e.g. 2026-11-25T10:30:00+00:00"
    ]


def test_a_name_or_address_line_with_a_line_break_is_refused_by_its_field() -> None:
    # In the plain-text e-mail and the letter a line break would print a line of its own.
    errors = refusal(
        intake(
            customer={
                "name": "Gwen Pritchard\r\nBcc: attacker@evil.example",
                "address": {"lines": ["14 Bethcar Street", "Ebbw Vale\x85Cc: x@y.z"], "postcode": "NP23\t6HH"},
                "accessibility_needs": ["large print\u2028To: other@y.z"],
            }
        )
    )
    one_line = "must be one line: no line breaks, tabs or other control characters"
    assert errors == [
        f"customer.name: {one_line}",
        f"customer.address.lines.1: {one_line}",
        f"customer.address.postcode: {one_line}",
        f"customer.accessibility_needs.0: {one_line}",
    ]


def test_a_complaint_may_run_over_lines_but_holds_no_other_control_character() -> None:
    text = "The broadband drops every afternoon.\r\n\r\nTwo engineer visits missed:\n\t- Monday\n\t- Thursday"
    assert ComplaintIntake.from_intake(intake(complaint=text), now=NOW).complaint == text
    assert refusal(intake(complaint="No broadband\x1b[2J\x00 since Monday")) == [
        "complaint: may have line breaks but no other control characters"
    ]


def test_the_handlers_reasons_a_letter_quotes_are_one_line_and_a_note_may_be_several() -> None:
    for model in (NotSatisfied, Deadlock, CompensationAward):
        fields = {"reason": "Still no engineer\nBcc: x@y.z"} | (
            {"amount_gbp": 25} if model is CompensationAward else {}
        )
        with pytest.raises(ValidationError, match="reason"):
            model.model_validate(fields, context=INTAKE)
    assert ProgressNote.model_validate({"text": "Engineer booked.\nFriday, 8-12."}, context=INTAKE).text
    with pytest.raises(ValidationError, match="text"):
        ProgressNote.model_validate({"text": "Engineer booked.\x1b]8;;http://evil.example\x07"}, context=INTAKE)


# --- recorded data, decoded again on replay --------------------------------------------------------


def test_a_case_filed_before_the_one_line_rule_still_decodes() -> None:
    # History is recorded data: a name with a line break, accepted before the rule, must replay.
    recorded = ComplaintIntake.model_validate(
        intake(customer={"name": "Gwen\nPritchard", "address": {"lines": ["14\r\nBethcar St"], "postcode": "NP23 6HH"}})
    )
    assert recorded.customer.name == "Gwen\nPritchard"
    assert NotSatisfied.model_validate({"reason": "two\nlines"}).reason == "two\nlines"


def test_recorded_contact_details_are_decoded_as_recorded() -> None:
    # A number today's phonenumbers would reject, recorded weeks ago: the case must still decode.
    recorded = Customer.model_validate({"name": "Gwen", "email": "gwen@example.com", "phone": "+44123"})
    assert recorded.phone == "+44123" and recorded.phone_is_mobile is None


def test_a_recorded_classification_wins_over_todays_metadata() -> None:
    assert not Customer(name="Gwen", email="g@example.com", phone="+447911123456", phone_is_mobile=False).has_mobile
    assert Customer(name="Gwen", email="g@example.com", phone="+442920183000", phone_is_mobile=True).has_mobile


def test_a_case_filed_before_classification_classifies_its_number_as_it_always_did() -> None:
    assert Customer(name="Gwen", email="g@example.com", phone="+447911123456").has_mobile
    assert not Customer(name="Gwen", email="g@example.com", phone="+442920183000").has_mobile
    assert not Customer(name="Gwen", email="g@example.com").has_mobile


def test_only_mobiles_take_texts_and_an_unparseable_old_number_takes_none() -> None:
    assert is_mobile("+447911123456")
    assert not is_mobile("+442920183000")
    assert not is_mobile("07911 123456 ext")


def test_large_print_is_read_from_the_accessibility_needs_in_any_case() -> None:
    assert Customer(
        name="G", email="g@example.com", accessibility_needs=["Braille", "LARGE PRINT letters"]
    ).wants_large_print
    assert not Customer(name="G", email="g@example.com", accessibility_needs=["braille"]).wants_large_print


# --- policy, milestones, handler commands ---------------------------------------------------------


def test_roles_have_the_titles_the_code_uses() -> None:
    assert [role.title for role in CaseRole] == [
        "Case Handler",
        "Customer Service Manager",
        "Head of Professional Services",
    ]
    # "Head of Professional Servicess" was in the record of every case escalated to that level.
    assert [role.plural for role in CaseRole] == [
        "Case Handlers",
        "Customer Service Managers",
        "Heads of Professional Services",
    ]


@pytest.mark.parametrize(
    ("model", "fields", "message"),
    [
        (QuietHours, {"start": "20:00", "end": "08:00"}, "start must be before end"),
        (QuietHours, {"start": "08:00", "end": "08:00"}, "start must be before end"),
        (CalendarSpec, {"day_start": "17:00", "day_end": "09:00"}, "day_start must be before day_end"),
    ],
)
def test_a_window_that_ends_before_it_starts_is_refused(model: Any, fields: dict, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(fields)
    assert field_errors(caught.value) == [f"(complaint): {message}"]


def test_bounced_dropped_and_undelivered_messages_failed_and_deferred_ones_did_not() -> None:
    assert {status for status in DeliveryStatus if status.failed} == {
        DeliveryStatus.BOUNCED,
        DeliveryStatus.DROPPED,
        DeliveryStatus.UNDELIVERED,
    }


def test_a_milestone_is_met_when_done_by_its_due_time() -> None:
    due = utc(2026, 12, 1, 17)
    assert Milestone(name="acknowledgement", due_at=due, done_at=due).met
    assert Milestone(name="acknowledgement", due_at=due, done_at=due - timedelta(hours=1)).met
    assert not Milestone(name="acknowledgement", due_at=due, done_at=due + timedelta(seconds=1)).met
    assert not Milestone(name="acknowledgement", due_at=due).met


def test_a_case_finds_its_milestones_by_name() -> None:
    review = Milestone(name="review", due_at=utc(2026, 12, 3, 9))
    state = CaseState(reference="CC-2026-ABCDEFGH", milestones=[Milestone(name="introduction", due_at=NOW), review])
    assert state.milestone("review") is review
    assert state.milestone("adr_rights") is None


def test_a_contact_correction_must_correct_something_and_classifies_a_new_number() -> None:
    with pytest.raises(ValidationError, match="give at least one of email, phone, address, preferred_written_channel"):
        ContactCorrection.model_validate({"recorded_by": "amara.okafor"}, context=INTAKE)
    corrected = ContactCorrection.model_validate({"phone": MOBILE, "recorded_by": "amara.okafor"}, context=INTAKE)
    assert corrected.phone == "+447911123456" and corrected.phone_is_mobile is True
    recorded = ContactCorrection.model_validate({"phone": "+447911123456", "recorded_by": "amara.okafor"})
    assert recorded.phone_is_mobile is None


@pytest.mark.parametrize(
    ("outcome", "duplicate_of", "accepted"),
    [
        (ClosureOutcome.DUPLICATE, "CC-2026-4F7K2QXY", True),
        (ClosureOutcome.DUPLICATE, None, False),
        (ClosureOutcome.WITHDRAWN, None, True),
        (ClosureOutcome.WITHDRAWN, "CC-2026-4F7K2QXY", False),
    ],
)
def test_a_duplicate_closure_names_the_case_it_duplicates_and_only_it_does(
    outcome: ClosureOutcome, duplicate_of: str | None, accepted: bool
) -> None:
    fields = {"outcome": outcome, "reason": "Same outage", "duplicate_of": duplicate_of, "recorded_by": "amara.okafor"}
    if accepted:
        assert CaseClosure.model_validate(fields).duplicate_of == duplicate_of
    else:
        with pytest.raises(ValidationError, match="duplicate_of: give it exactly when the outcome is 'duplicate'"):
            CaseClosure.model_validate(fields)


# --- errors people read -----------------------------------------------------------------------------


def test_field_labels_are_printed_as_typed_unless_they_would_break_the_line() -> None:
    assert field_label("email") == "email"
    assert field_label(0) == "0"
    assert field_label("postal code") == '"postal code"'
    assert field_label("\x1b[31mred") == '"\\u001b[31mred"'


def test_field_errors_give_one_line_per_problem_with_its_path() -> None:
    with pytest.raises(ValidationError) as caught:
        PostalAddress.model_validate({"lines": [""], "postcode": "N"})
    assert field_errors(caught.value) == [
        "lines.0: String should have at least 1 character",
        "postcode: String should have at least 2 characters",
    ]
    assert field_errors(ValueError("the roster file is missing")) == ["the roster file is missing"]


def test_a_v6_case_keeps_of_a_receipt_the_vendors_id_alone() -> None:
    receipt = DeliveryReceipt(
        key="CC-2026-ABCDEFGH/001-acknowledgement-email",
        channel=ChannelKind.EMAIL,
        provider_id="SG.1",
        sent_at=datetime(2026, 12, 1, 10, 30, tzinfo=UTC),
    )
    assert receipt.for_case() == CaseReceipt(provider_id="SG.1")
    # Recorded data: a whole receipt in history reads as its vendor id, never as an error.
    assert CaseReceipt.model_validate_json(receipt.model_dump_json()) == CaseReceipt(provider_id="SG.1")


def test_a_text_held_for_the_quiet_hours_and_never_sent_is_recorded_as_withdrawn() -> None:
    held = DeferredText(kind=MessageKind.PROGRESS_UPDATE, not_before=datetime(2026, 12, 2, 8, tzinfo=UTC))
    at = datetime(2026, 12, 1, 21, tzinfo=UTC)
    assert held.withdrawn("CC-2026-ABCDEFGH", at, "the customer texted STOP") == MessageRecord(
        key="CC-2026-ABCDEFGH/deferred-progress_update-sms",
        kind=MessageKind.PROGRESS_UPDATE,
        channel=ChannelKind.SMS,
        status="withdrawn",
        at=at,
        error="the customer texted STOP",
    )
