"""Intake fuzzing: whatever an intake system sends, `parse_intake` accepts a valid complaint or
refuses it with one `field.path: message` line per problem, and never raises anything else."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from temporalio.contrib.pydantic import pydantic_data_converter

from activities.working_calendar import load_calendar
from domain import policy as clocks
from domain.models import MAX_INTAKE_AGE, ComplaintIntake, field_label
from settings import load_policy
from starter import IntakeRejected, parse_intake

from .strategies import FUZZ, HOSTILE_FRAGMENTS, json_values, one_line, safe_keys

NOW = datetime.now(UTC)

VALID_INTAKE: dict[str, Any] = {
    "customer": {
        "name": "Gwen Pritchard",
        "email": "gwen.pritchard@example.com",
        "phone": "07911 123456",
        "address": {"lines": ["14 Bethcar Street", "Ebbw Vale"], "postcode": "np23 6hh", "country": "GB"},
        "preferred_written_channel": "email",
        "accessibility_needs": ["large print"],
        "vulnerable": False,
    },
    "account_number": "ISS-204871",
    "source": "web",
    "received_at": (NOW - timedelta(days=1)).isoformat(),
    "complaint": "Broadband drops every afternoon; two engineer visits missed.",
    "intake_id": "web-2026-000123",
}

TOP_LEVEL_FIELDS = set(ComplaintIntake.model_fields)
POLICY = load_policy()


def assert_a_case_can_open_for(intake: ComplaintIntake) -> None:
    """What happens to an accepted intake next: the starter reads its local year, and the case's
    first activity (compute_case_deadlines) lays out its clocks. Neither may fail on valid input:
    the activity would retry for ever and the case would never be acknowledged."""
    year = intake.received_at.astimezone(ZoneInfo(POLICY.calendar.timezone)).year
    calendar = load_calendar(POLICY.calendar, range(intake.received_at.year, intake.received_at.year + 3))
    deadlines = clocks.case_deadlines(intake.received_at, POLICY, calendar, holidays_version="fuzz")
    assert year >= 1 and deadlines.adr_due > intake.received_at


def paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside a JSON document (dict keys and list indexes)."""
    found = [prefix] if prefix else []
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            found += paths(value, (*prefix, index))
    return found


def get_at(doc: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def set_at(doc: Any, path: tuple[Any, ...], value: Any) -> None:
    get_at(doc, path[:-1])[path[-1]] = value


def delete_at(doc: Any, path: tuple[Any, ...]) -> None:
    del get_at(doc, path[:-1])[path[-1]]


def assert_parsed_or_refused_by_field(text: str | bytes, doc: Any = None) -> ComplaintIntake | None:
    """The property: a valid intake that survives the wire, or field-level refusal lines only."""
    try:
        intake = parse_intake(text)
    except IntakeRejected as refused:
        if currently_in_test_context():
            event("refused")
        assert refused.errors, "a refusal must say what is wrong"
        prefixes = {"(complaint)", *TOP_LEVEL_FIELDS}
        if isinstance(doc, dict):
            prefixes |= {field_label(key) for key in doc}
        for line in refused.errors:
            assert one_line(line), f"error spans lines: {line!r}"
            assert any(line.startswith((f"{p}: ", f"{p}.")) for p in prefixes), f"no field path: {line!r}"
            assert line.partition(": ")[2].strip(), f"no message: {line!r}"
        return None
    if currently_in_test_context():
        event("accepted")
    assert isinstance(intake, ComplaintIntake)
    # What the starter hands Temporal must come back out of history unchanged.
    converter = pydantic_data_converter.payload_converter
    [decoded] = converter.from_payloads(converter.to_payloads([intake]), [ComplaintIntake])
    assert decoded == intake
    assert decoded.model_dump(mode="json") == intake.model_dump(mode="json")
    assert decoded.received_at.tzinfo is not None and decoded.received_at.utcoffset() == timedelta(0)
    assert_a_case_can_open_for(intake)
    return intake


def test_the_valid_intake_is_accepted() -> None:
    intake = assert_parsed_or_refused_by_field(json.dumps(VALID_INTAKE), VALID_INTAKE)
    assert intake is not None and intake.customer.phone == "+447911123456"


# --- arbitrary documents ------------------------------------------------------------------------


@FUZZ
@given(doc=json_values | st.dictionaries(st.sampled_from(sorted(TOP_LEVEL_FIELDS)) | safe_keys, json_values))
def test_any_json_document_is_accepted_or_refused_field_by_field(doc: Any) -> None:
    assert_parsed_or_refused_by_field(json.dumps(doc), doc)


@FUZZ
@given(
    text=st.text(max_size=200)
    | st.text(max_size=200).map(str.encode)
    | st.text(max_size=50).map(lambda t: t.encode("utf-16"))
)
@example(text="{")
@example(text=b"\xff\xfe")
@example(text="[" * 500 + "]" * 500)
@example(text='{"customer": NaN}')
@example(text="")
@example(text="\ud800")
def test_text_that_is_not_json_is_refused_not_crashed(text: str | bytes) -> None:
    assert_parsed_or_refused_by_field(text)


@pytest.mark.parametrize(
    "text",
    ["[" * 5000 + "]" * 5000, b"\x80abc", b'{"complaint": "\xff"}', '{"complaint": ' + "9" * 5000 + "}"],
    ids=["deep-nesting", "invalid-utf8", "invalid-utf8-in-string", "5000-digit-number"],
)
def test_malformed_json_is_refused_not_crashed(text: str | bytes) -> None:
    assert_parsed_or_refused_by_field(text)


# --- mutations of a valid intake ----------------------------------------------------------------

ALL_PATHS = paths(VALID_INTAKE)
STRING_PATHS = [p for p in ALL_PATHS if isinstance(get_at(VALID_INTAKE, p), str)]

bad_emails = st.sampled_from(
    [
        "",
        "gwen",
        "gwen@",
        "@example.com",
        "gwen@@example.com",
        "gwen @example.com",
        "gwen@example",
        "gwen@exa mple.com",
        "gwen@-example.com",
        "a" * 300 + "@example.com",
        "gwen@example.com\r\nBcc: x@y.z",
        "gwen@\u0000.com",
        "gwen@xn--.com",
        '"quoted"@example.com',
    ]
) | st.text(max_size=40)
bad_phones = st.sampled_from(
    [
        "",
        "0",
        "123",
        "07911",
        "+44",
        "+999 123456",
        "phone me",
        "07911 123456 ext 4",
        "1" * 300,
        "+44 7911 123456\r\n",
        "\u0660\u0667\u0669\u0661\u0661 \u0661\u0662\u0663\u0664\u0665\u0666",
    ]
) | st.text(alphabet="0123456789 +()-x#*", max_size=30)
offsets = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(lambda m: timedelta(minutes=m))
datetimes_text = st.one_of(
    # naive
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)).map(datetime.isoformat),
    # aware, any offset, past or future, to the ends of the calendar
    st.builds(
        lambda d, off: d.replace(tzinfo=timezone(off)).isoformat(),
        st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
        offsets,
    ),
    st.sampled_from(
        [
            "",
            "yesterday",
            "2026-02-30T10:00:00Z",
            "2026-11-25T25:00:00Z",
            "2026-11-25",
            "10:00",
            "2026-11-25T10:00:00+24:00",
            "1700000000",
            "2026-W48-3T10:00Z",
        ]
    ),
    st.integers(min_value=-(2**40), max_value=2**40),
)


@st.composite
def mutated_intakes(draw: st.DrawFn) -> dict[str, Any]:
    doc = copy.deepcopy(VALID_INTAKE)
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        kind = draw(
            st.sampled_from(
                [
                    "drop",
                    "wrong_type",
                    "huge",
                    "control",
                    "received_at",
                    "email",
                    "phone",
                    "unknown_key",
                    "unreachable",
                    "hostile",
                ]
            )
        )
        present = paths(doc)
        if kind == "drop" and present:
            delete_at(doc, draw(st.sampled_from(present)))
        elif kind == "wrong_type" and present:
            set_at(doc, draw(st.sampled_from(present)), draw(json_values))
        elif kind in ("huge", "control", "hostile"):
            strings = [p for p in present if isinstance(get_at(doc, p), str)]
            if not strings:
                continue
            path = draw(st.sampled_from(strings))
            if kind == "huge":
                value = draw(st.sampled_from(["x", "é", "\U0001f600", "a b "])) * draw(
                    st.sampled_from([101, 129, 201, 20_001, 100_000])
                )
            elif kind == "control":
                value = get_at(doc, path)
                at = draw(st.integers(min_value=0, max_value=len(value)))
                value = (
                    value[:at] + draw(st.text(st.characters(categories=["Cc", "Zl", "Zp"]), min_size=1)) + value[at:]
                )
            else:
                value = draw(st.sampled_from(HOSTILE_FRAGMENTS))
            set_at(doc, path, value)
        elif kind == "received_at":
            doc["received_at"] = draw(datetimes_text)
        elif kind == "email" and isinstance(doc.get("customer"), dict):
            doc["customer"]["email"] = draw(bad_emails)
        elif kind == "phone" and isinstance(doc.get("customer"), dict):
            doc["customer"]["phone"] = draw(bad_phones)
        elif kind == "unknown_key":
            targets = [()] + [p for p in present if isinstance(get_at(doc, p), dict)]
            target = draw(st.sampled_from(targets))
            get_at(doc, target)[draw(safe_keys.filter(bool))] = draw(json_values)
        elif kind == "unreachable" and isinstance(doc.get("customer"), dict):
            customer = doc["customer"]
            if draw(st.booleans()):
                customer["preferred_written_channel"] = "letter"
                customer.pop("address", None)
            else:
                customer["preferred_written_channel"] = "email"
                customer[draw(st.sampled_from(["email", "address"]))] = None
                customer.pop("email", None)
    return doc


@settings(FUZZ, max_examples=80)
@given(doc=mutated_intakes(), ascii_only=st.booleans())
def test_a_mutated_intake_is_accepted_or_refused_field_by_field(doc: dict[str, Any], ascii_only: bool) -> None:
    assert_parsed_or_refused_by_field(json.dumps(doc, ensure_ascii=ascii_only), doc)


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d.pop("complaint"), "complaint: Field required"),
        (lambda d: d["customer"].pop("name"), "customer.name: Field required"),
        (lambda d: d.update(received_at="2026-01-05T10:00:00"), "received_at: must include a timezone offset"),
        (lambda d: d.update(received_at=(NOW + timedelta(days=1)).isoformat()), "received_at: is in the future"),
        (lambda d: d["customer"].update(email="gwen@"), "customer.email: "),
        (lambda d: d["customer"].update(phone="07911"), "customer.phone: "),
        (lambda d: d.update(nickname="G"), "nickname: Extra inputs are not permitted"),
        (lambda d: d["customer"]["address"].update(lines=[]), "customer.address.lines: "),
        (lambda d: d["customer"]["address"]["lines"].append("x" * 101), "customer.address.lines.2: "),
        (lambda d: d.update(complaint="x" * 20_001), "complaint: String should have at most 20000"),
        (lambda d: d.update(account_number="ISS 204871\r\n"), "account_number: String should match pattern"),
        (lambda d: d.update(intake_id="web 1"), "intake_id: String should match pattern"),
        # A line break in a name or an address prints a forged line in the e-mail and the letter.
        (
            lambda d: d["customer"].update(name="Gwen Pritchard\r\nBcc: attacker@evil.example"),
            "customer.name: must be one line",
        ),
        (
            lambda d: d["customer"]["address"]["lines"].append("Ebbw Vale\nBcc: x@y.z"),
            "customer.address.lines.2: must be one line",
        ),
        (
            lambda d: d["customer"]["address"].update(postcode="NP23\x006HH"),
            "customer.address.postcode: must be one line",
        ),
        (
            lambda d: d["customer"].update(accessibility_needs=["large\u2028print"]),
            "customer.accessibility_needs.0: must be one line",
        ),
        (
            lambda d: d.update(complaint="No broadband\x1b[2J since Monday"),
            "complaint: may have line breaks but no other",
        ),
        (
            lambda d: (d["customer"].pop("address"), d["customer"].update(preferred_written_channel="letter")),
            "customer: preferred_written_channel is 'letter' but no postal address was given",
        ),
        (
            lambda d: d["customer"].pop("email"),
            "customer: preferred_written_channel is 'email' but no email address was given",
        ),
    ],
)
def test_each_kind_of_mistake_is_named_by_its_field(mutate, expected: str) -> None:  # noqa: ANN001
    doc = copy.deepcopy(VALID_INTAKE)
    mutate(doc)
    with pytest.raises(IntakeRejected) as refused:
        parse_intake(json.dumps(doc))
    assert any(line.startswith(expected) for line in refused.value.errors), refused.value.errors


@FUZZ
@given(
    # Any printable name (control characters are refused: test_each_kind_of_mistake...), and any
    # complaint text that prints, over as many lines as it likes.
    name=st.text(st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=200).filter(
        str.strip
    ),
    complaint=st.text(
        st.characters(exclude_categories=("Cc", "Cs", "Zl", "Zp")) | st.sampled_from("\n\r\t"), min_size=1, max_size=500
    ).filter(str.strip),
    offset=offsets,
    ago=st.timedeltas(min_value=timedelta(0), max_value=MAX_INTAKE_AGE - timedelta(minutes=5)),
)
def test_any_valid_intake_round_trips_through_the_data_converter(
    name: str, complaint: str, offset: timedelta, ago: timedelta
) -> None:
    doc = copy.deepcopy(VALID_INTAKE)
    doc["customer"]["name"] = name
    doc["complaint"] = complaint
    doc["received_at"] = (NOW - ago).astimezone(timezone(offset)).isoformat()
    intake = assert_parsed_or_refused_by_field(json.dumps(doc), doc)
    assert intake is not None, "a valid intake was refused"
    assert intake.customer.name.strip() == name.strip()  # pydantic trims Unicode White_Space only
    assert intake.received_at == NOW - ago


# --- bugs the fuzzing found, kept as regression tests -------------------------------------------


@pytest.mark.parametrize("received_at", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_a_received_at_at_the_end_of_the_calendar_is_refused_not_crashed(received_at: str) -> None:
    assert_parsed_or_refused_by_field(json.dumps(VALID_INTAKE | {"received_at": received_at}), VALID_INTAKE)


def test_an_accepted_received_at_can_open_a_case() -> None:
    doc = VALID_INTAKE | {"received_at": "0001-01-01T00:00:00+00:00"}
    assert_parsed_or_refused_by_field(json.dumps(doc), doc)


@pytest.mark.parametrize("key", ["a\nb", "x\r\nreceived_at: fine", "\u2028", "\x1b[2J"])
def test_unknown_key_with_a_line_break_stays_on_one_error_line(key: str) -> None:
    with pytest.raises(IntakeRejected) as refused:
        parse_intake(json.dumps(VALID_INTAKE | {key: 1}))
    for line in refused.value.errors:
        assert one_line(line) and "\x1b" not in line, line
