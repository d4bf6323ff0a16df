"""The admin script under fuzzed arguments, with no Temporal server behind it.

TEMPORAL_ADDRESS points at a closed port and `admin.connect` is wrapped in a spy, so a test can
tell input that was refused *before* any connection (exit 2, `invalid: field: ...`) from input
that got as far as dialling Temporal (exit 1, `cannot reach the Temporal server at ...`).
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from datetime import time
from decimal import Decimal, InvalidOperation
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from typer.testing import CliRunner

import admin
import connection
from domain.models import INTAKE, CompensationAward, ContactScheduleChange, Deadlock, NotSatisfied, ProgressNote
from domain.reference import ALPHABET, is_reference

from .strategies import FUZZ, hostile_text

CLOSED_PORT = "127.0.0.1:1"
UNREACHABLE = f"cannot reach the Temporal server at {CLOSED_PORT}: "
REFERENCE = "CC-2026-4F7K2Q"
# Each invocation builds a Typer app run and, for valid input, one refused TCP connect.
ADMIN = settings(FUZZ, max_examples=20)
INVALID_LINE = re.compile(r"^invalid: (--every|--at|--amount|--owner|[a-z_]+): \S")


class Spy:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        return await REAL_CONNECT(*args, **kwargs)


REAL_CONNECT = connection.connect


@pytest.fixture(scope="module")
def cli() -> Iterator[Any]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TEMPORAL_ADDRESS", CLOSED_PORT)
        patch.delenv("COMPLAINTS_TEMPORAL_ADDRESS", raising=False)
        spy = Spy()
        patch.setattr(admin, "connect", spy)
        runner = CliRunner()

        def invoke(*args: str) -> tuple[Any, int]:
            before = spy.calls
            result = runner.invoke(admin.app, list(args))
            if result.exception is not None and not isinstance(result.exception, SystemExit):
                raise AssertionError(f"admin {args!r} crashed: {result.exception!r}") from result.exception
            return result, spy.calls - before

        yield invoke


def assert_invalid(result: Any, connections: int, option: str | None = None) -> None:
    assert result.exit_code == 2, (result.exit_code, result.output)
    assert connections == 0, "invalid input must be refused before connecting"
    lines = [line for line in result.stderr.splitlines() if line]
    assert lines, result.output
    for line in lines:
        assert INVALID_LINE.match(line), line
    if option:
        assert lines[0].startswith(f"invalid: {option}: "), lines
    assert result.stdout == "", "nothing may be reported as done"


def assert_reached_temporal(result: Any, connections: int) -> None:
    assert result.exit_code == 1, (result.exit_code, result.output)
    assert connections == 1
    assert result.stderr.startswith(UNREACHABLE), result.stderr
    assert result.stderr.count("\n") == 1, "one line saying why"


def model_refuses(model: type[BaseModel], **fields: Any) -> bool:
    try:
        model.model_validate(fields, context=INTAKE)  # as admin.py reads a person's input
    except ValidationError:
        return True
    return False


references = st.builds(
    lambda year, code: f"CC-{year}-{code}",
    st.integers(1000, 9999),
    st.text(ALPHABET, min_size=6, max_size=6),
)
malformed_references = (
    st.sampled_from(
        [
            "",
            "nope",
            "cc-2026-4F7K2Q",
            "CC-26-4F7K2Q",
            "CC-2026-4F7K2O",
            "CC-2026-4F7K2",
            "CC-2026-4F7K2QQ",
            "CC-2026-4F7K2Q ",
            " CC-2026-4F7K2Q",
            "CC–2026–4F7K2Q",
            "CC-٢٠٢٦-4F7K2Q",
            "CC-2026-4f7k2q",
            "CC-2026-4F7K2Q\n",
            "-CC-2026-4F7K2Q",
            "CC-2026-4F7K2Q'; --",
            "../../etc/passwd",
        ]
    )
    | st.text(max_size=20)
).filter(lambda text: not is_reference(text))


# --- compensate ----------------------------------------------------------------------------------

amounts = st.one_of(
    st.sampled_from(
        [
            "25.00",
            "£25.00",
            " 25 ",
            "0",
            "-5",
            "0.001",
            "5000",
            "5000.01",
            "1e3",
            "1E+10",
            "NaN",
            "sNaN",
            "Infinity",
            "-Infinity",
            "abc",
            "",
            "£",
            "££5",
            "25,00",
            "1_000",
            "٢٥",
            "25.00\n",
            "0x19",
            "9" * 400,
        ]
    ),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.text(string.digits + ".-+eE£ ,_", max_size=12),
    st.text(max_size=12),
)
reasons = st.one_of(st.sampled_from(["", " ", "\t\n", "x" * 2001]), hostile_text, st.text(max_size=40))


def compensate_oracle(amount: str, reason: str) -> str | None:
    """Which option the refusal must name, or None when the award is valid."""
    try:
        pounds = Decimal(amount.strip().lstrip("£"))
    except InvalidOperation:
        return "--amount"
    return "model" if model_refuses(CompensationAward, amount_gbp=pounds, reason=reason) else None


@ADMIN
@given(amount=amounts, reason=reasons)
@example(amount="abc", reason="Two missed visits")
@example(amount="25.00", reason="")
@example(amount="0.001", reason="x")
@example(amount="sNaN", reason="x")
def test_compensate_refuses_bad_amounts_and_reasons_before_connecting(cli, amount: str, reason: str) -> None:
    result, connections = cli("compensate", f"--amount={amount}", f"--reason={reason}", "--", REFERENCE)
    expected = compensate_oracle(amount, reason)
    if expected is None:
        assert_reached_temporal(result, connections)
    else:
        assert_invalid(result, connections, "--amount" if expected == "--amount" else None)


# --- schedule ------------------------------------------------------------------------------------

everies = st.one_of(
    st.sampled_from(
        [
            "1d",
            "60d",
            "61d",
            "0d",
            "8w",
            "9w",
            "1wd",
            "60wd",
            "61wd",
            "7",
            "d",
            "7x",
            "7 d",
            " 7D ",
            "-1d",
            "1.5d",
            "٣d",
            "99999999999999999999d",
            "",
            "7dd",
            "wd",
        ]
    ),
    st.from_regex(r"\A\s?[0-9]{1,3}\s?(d|wd|w|x|)\s?\Z"),
    st.text(max_size=8),
)
ats = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "14:00",
            "00:00",
            "23:59",
            "24:00",
            "25:00",
            "14:60",
            "2pm",
            "14",
            "14:00:00.5",
            "",
            "T14:00",
            "14:00+01:00",
            "14:00Z",
        ]
    ),
    st.times().map(lambda t: t.isoformat(timespec="minutes")),
    st.text(max_size=8),
)


def schedule_oracle(every: str, at: str | None) -> str | None:
    try:
        number, unit = admin.parse_interval(every)
    except ValueError:
        return "--every"
    # The documented contract: HH:MM or HH on the UK wall clock; offsets, seconds and blanks refused.
    contact = None
    if at is not None:
        match = re.fullmatch(r"\s*(\d{1,2})(?::(\d{2}))?\s*", at)
        if not match or int(match[1]) > 23 or int(match[2] or 0) > 59:
            return "--at"
        contact = time(int(match[1]), int(match[2] or 0))
    refused = model_refuses(ContactScheduleChange, every=number, unit=unit, contact_time=contact)
    return "model" if refused else None


@ADMIN
@given(every=everies, at=ats.filter(lambda at: at is None or "unit" not in at.lower()))
@example(every="0d", at=None)
@example(every="61d", at=None)
@example(every="9w", at="10:00")
@example(every="7x", at="10:00")
@example(every="7d", at="25:00")
def test_schedule_refuses_bad_intervals_and_times_before_connecting(cli, every: str, at: str | None) -> None:
    args = ["schedule", f"--every={every}"] + ([] if at is None else [f"--at={at}"]) + ["--", REFERENCE]
    result, connections = cli(*args)
    expected = schedule_oracle(every, at)
    if expected is None:
        assert_reached_temporal(result, connections)
    else:
        assert_invalid(result, connections, None if expected == "model" else expected)


def test_a_bad_at_is_always_reported_as_at(cli) -> None:
    result, connections = cli("schedule", "--every=7d", "--at=unit", "--", REFERENCE)
    assert_invalid(result, connections, "--at")


# --- the free-text commands --------------------------------------------------------------------------


@ADMIN
@given(text=reasons, author=st.none() | reasons)
def test_note_refuses_empty_or_oversized_text_before_connecting(cli, text: str, author: str | None) -> None:
    args = ["note"] + ([] if author is None else [f"--author={author}"]) + ["--", REFERENCE, text]
    result, connections = cli(*args)
    fields = {"text": text} | ({} if author is None else {"author": author})
    if model_refuses(ProgressNote, **fields):
        assert_invalid(result, connections)
    else:
        assert_reached_temporal(result, connections)


@ADMIN
@given(command=st.sampled_from(["not-satisfied", "deadlock"]), reason=reasons)
def test_reasons_are_checked_before_connecting(cli, command: str, reason: str) -> None:
    result, connections = cli(command, f"--reason={reason}", "--", REFERENCE)
    model = NotSatisfied if command == "not-satisfied" else Deadlock
    if model_refuses(model, reason=reason):
        assert_invalid(result, connections)
    else:
        assert_reached_temporal(result, connections)


@ADMIN
@given(owner=st.text(max_size=16) | st.sampled_from(['x" OR WorkflowType = "y', "a b", "amara.okafor", "-"]))
def test_list_refuses_an_owner_that_would_change_the_query(cli, owner: str) -> None:
    result, connections = cli("list", f"--owner={owner}")
    if owner and not re.fullmatch(r"[\w.\-]+", owner):
        assert_invalid(result, connections, "--owner")
    else:
        assert_reached_temporal(result, connections)


# --- references ---------------------------------------------------------------------------------

COMMANDS_WITH_VALID_PAYLOADS = [
    ["status"],
    ["satisfied", "--how=phone"],
    ["not-satisfied", "--reason=Still no engineer visit"],
    ["note", "--author=case handler"],  # the note text follows the reference
    ["schedule", "--every=3d", "--at=14:00"],
    ["deadlock"],
    ["compensate", "--amount=25.00", "--reason=Two missed visits"],
]


def command_for(args: list[str], reference: str) -> list[str]:
    tail = [reference, "Engineer booked for Friday"] if args[0] == "note" else [reference]
    return [*args, "--", *tail]


@settings(FUZZ, max_examples=15)
@given(reference=references, command=st.sampled_from(COMMANDS_WITH_VALID_PAYLOADS))
def test_a_well_formed_reference_with_valid_input_goes_on_to_temporal(cli, reference: str, command: list[str]) -> None:
    result, connections = cli(*command_for(command, reference))
    assert_reached_temporal(result, connections)


MALFORMED_EXAMPLES = [
    "nope",
    "cc-2026-4F7K2Q",
    "CC-2026-4F7K2O",
    "CC-2026-4F7K2Q\n",
    "",
    "-CC-2026-4F7K2Q",
    "CC-26-4F7K2Q",
]


@pytest.mark.parametrize(
    ("command", "reference"),
    list(zip(COMMANDS_WITH_VALID_PAYLOADS, MALFORMED_EXAMPLES, strict=True)),
    ids=[f"{c[0]}-{r!r}" for c, r in zip(COMMANDS_WITH_VALID_PAYLOADS, MALFORMED_EXAMPLES, strict=True)],
)
def test_a_malformed_reference_is_refused_before_connecting(cli, reference: str, command: list[str]) -> None:
    result, connections = cli(*command_for(command, reference))
    assert result.exit_code == 1, result.output
    assert "not a case reference" in result.stderr, result.stderr
    assert connections == 0


@settings(FUZZ, max_examples=15)
@given(reference=malformed_references, command=st.sampled_from(COMMANDS_WITH_VALID_PAYLOADS))
def test_a_malformed_reference_is_never_acted_on(cli, reference: str, command: list[str]) -> None:
    # What holds today, whatever the reason given: refused with exit 1, one line, nothing done.
    result, _ = cli(*command_for(command, reference))
    assert result.exit_code == 1 and result.stderr.startswith("refused: ") and result.stdout == ""
