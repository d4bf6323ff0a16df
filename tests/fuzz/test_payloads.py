"""Every signal and update payload: arbitrary input is either a valid model or a pydantic
ValidationError that `field_errors` turns into one `field: message` line per problem."""

from __future__ import annotations

from datetime import time
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from temporalio.contrib.pydantic import pydantic_data_converter

from domain.models import (
    CompensationAward,
    ContactScheduleChange,
    Deadlock,
    IntervalUnit,
    NotSatisfied,
    ProgressNote,
    field_errors,
    field_label,
)

from .strategies import FUZZ, hostile_text, json_values, one_line, safe_keys

PAYLOADS: list[type[BaseModel]] = [NotSatisfied, ProgressNote, ContactScheduleChange, Deadlock, CompensationAward]

# Values aimed at each field: the edges of its constraints, wrong types and hostile text.
edge_numbers = st.sampled_from(
    [
        0,
        1,
        60,
        61,
        -1,
        2**63,
        "7",
        "7d",
        1.5,
        7.0,
        True,
        None,
        "NaN",
        "Infinity",
        "-0",
        "1e3",
        "5000.00",
        "5000.01",
        "0.01",
        "0.001",
        "9999999.99",
        "99999999.99",
        "1E+2",
        "sNaN",
        " 25.00 ",
        "£25",
    ]
)
field_values = st.one_of(
    json_values,
    edge_numbers,
    hostile_text,
    st.text(min_size=1990, max_size=2010, alphabet="ab "),
    st.text(max_size=30),
    st.just("x" * 5001),
    st.sampled_from(list(IntervalUnit) + ["weeks", "WORKING_DAYS", ""]),
    st.times().map(time.isoformat),
    st.times(timezones=st.timezones()).map(time.isoformat),
    st.sampled_from(["25:00", "10:60", "noon", "10", "10:00:00.1234567"]),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.decimals(min_value=Decimal("-10000"), max_value=Decimal("10000"), places=2),
)


@st.composite
def payload_documents(draw: st.DrawFn, model: type[BaseModel]) -> dict[str, Any]:
    keys = list(model.model_fields)
    doc: dict[str, Any] = {}
    for key in keys:
        if draw(st.integers(0, 9)) > 0:  # usually present, sometimes missing
            doc[key] = draw(field_values)
    if draw(st.integers(0, 9)) == 0:
        doc[draw(safe_keys)] = draw(json_values)
    return doc


def assert_valid_or_refused_by_field(model: type[BaseModel], data: Any, via_json: bool) -> None:
    try:
        if via_json:
            import json

            parsed = model.model_validate_json(json.dumps(data, default=str))
        else:
            parsed = model.model_validate(data)
    except ValidationError as exc:
        lines = field_errors(exc)
        assert lines and len(lines) == exc.error_count()
        allowed = {"(complaint)", *model.model_fields}
        if isinstance(data, dict):
            allowed |= {field_label(key) for key in data}
        for line in lines:
            assert one_line(line), f"error spans lines: {line!r}"
            assert any(line.startswith(f"{field}: ") for field in allowed), f"no field: {line!r}"
        return
    # A valid payload survives the trip through history unchanged, and stays valid.
    converter = pydantic_data_converter.payload_converter
    [decoded] = converter.from_payloads(converter.to_payloads([parsed]), [model])
    assert decoded == parsed
    assert model.model_validate(parsed.model_dump()) == parsed
    for name, value in parsed.model_dump().items():
        if isinstance(value, str):
            # Trimmed of (at least) ASCII whitespace; pydantic trims Unicode White_Space, not \x1c-\x1f.
            assert value == value.strip(" \t\n\r"), f"{name} not stripped"
            assert value, f"{name} empty"
    if isinstance(parsed, CompensationAward):
        assert parsed.amount_gbp.is_finite() and parsed.amount_gbp > 0
        assert parsed.amount_gbp == parsed.amount_gbp.quantize(Decimal("0.01"))
    if isinstance(parsed, ContactScheduleChange):
        assert 1 <= parsed.every <= 60


@pytest.mark.parametrize("model", PAYLOADS, ids=lambda m: m.__name__)
@settings(FUZZ, max_examples=40)
@given(data=st.data(), via_json=st.booleans())
def test_payload_is_valid_or_refused_field_by_field(
    model: type[BaseModel], data: st.DataObject, via_json: bool
) -> None:
    document = data.draw(payload_documents(model) | json_values, label="document")
    assert_valid_or_refused_by_field(model, document, via_json)


@pytest.mark.parametrize(
    ("model", "document", "expected"),
    [
        (NotSatisfied, {"reason": ""}, "reason: String should have at least 1 character"),
        (NotSatisfied, {"reason": "   "}, "reason: String should have at least 1 character"),
        (NotSatisfied, {"reason": 42}, "reason: Input should be a valid string"),
        (NotSatisfied, {}, "reason: Field required"),
        (ProgressNote, {"text": "x" * 5001}, "text: String should have at most 5000 characters"),
        (ProgressNote, {"text": "ok", "author": ""}, "author: String should have at least 1 character"),
        (ProgressNote, {"text": "ok \udcff"}, "text: Input should be a valid string"),
        (ContactScheduleChange, {"every": 0}, "every: Input should be greater than or equal to 1"),
        (ContactScheduleChange, {"every": 61}, "every: Input should be less than or equal to 60"),
        (ContactScheduleChange, {"every": 7, "unit": "weeks"}, "unit: Input should be"),
        (ContactScheduleChange, {"every": 7, "contact_time": "25:00"}, "contact_time: Input should be in a valid time"),
        (Deadlock, {"reason": "x" * 2001}, "reason: String should have at most 2000 characters"),
        (CompensationAward, {"amount_gbp": "0", "reason": "x"}, "amount_gbp: Input should be greater than 0"),
        (CompensationAward, {"amount_gbp": "NaN", "reason": "x"}, "amount_gbp: Input should be a finite number"),
        (
            CompensationAward,
            {"amount_gbp": "0.001", "reason": "x"},
            "amount_gbp: Decimal input should have no more than 2 decimal places",
        ),
        (
            CompensationAward,
            {"amount_gbp": "1E+10", "reason": "x"},
            "amount_gbp: Decimal input should have no more than 9 digits",
        ),
        (
            CompensationAward,
            {"amount_gbp": "25", "reason": "x", "credit_id": "c"},
            "credit_id: Extra inputs are not permitted",
        ),
    ],
)
def test_each_payload_mistake_is_named_by_its_field(model: type[BaseModel], document: dict, expected: str) -> None:
    with pytest.raises(ValidationError) as refused:
        model.model_validate(document)
    assert any(line.startswith(expected) for line in field_errors(refused.value)), field_errors(refused.value)


@pytest.mark.parametrize(
    ("model", "document"),
    [
        (ContactScheduleChange, {"every": 1}),
        (ContactScheduleChange, {"every": 60, "unit": "working_days", "contact_time": "23:59:59"}),
        (CompensationAward, {"amount_gbp": "0.01", "reason": "Loss of service"}),
        (CompensationAward, {"amount_gbp": "9999999.99", "reason": "At the type's limit"}),
        (Deadlock, {}),
        (ProgressNote, {"text": "{{ 7*7 }} \u202e \U0001f600"}),
    ],
)
def test_edge_values_that_are_valid_are_accepted(model: type[BaseModel], document: dict) -> None:
    assert_valid_or_refused_by_field(model, document, via_json=False)
    model.model_validate(document)
