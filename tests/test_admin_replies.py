"""admin.py's side of the customer loop: replies in `status --json`, the unmatched list."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import admin
from codec.at_rest import AtRest
from codec.keyring import CodecSettings
from domain.models import CaseState, ChannelKind, CustomerReply, CustomerReplyRecord
from inbound.queue import InboundQueue
from ops import stores
from settings import PipelineSettings

AT = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


def test_status_json_shows_each_reply_with_its_channel_time_and_text() -> None:
    state = CaseState(
        reference="CC-2026-T7MH3PQR",
        customer_replies=[
            CustomerReplyRecord(
                reply_id="SM1", channel=ChannelKind.SMS, received_at=AT, text="YES thanks", meaning="yes"
            )
        ],
    )
    document = json.loads(json.dumps(admin.status_document(state)))  # as --json prints it
    [reply] = document["customer_replies"]
    assert (reply["channel"], reply["text"], reply["meaning"]) == ("sms", "YES thanks", "yes")
    assert datetime.fromisoformat(reply["received_at"]) == AT


def test_status_names_an_email_that_failed_the_sender_checks_and_that_it_was_not_acted_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    forged = CustomerReplyRecord(
        reply_id="<f1@mail.example.net>",
        channel=ChannelKind.EMAIL,
        received_at=AT,
        text="YES",
        meaning="yes",
        sender_authenticated=False,
    )
    state = CaseState(reference="CC-2026-T7MH3PQR", customer_replies=[forged])

    async def fake_state(client: object, handle: object) -> CaseState:
        return state

    async def nothing(*args: object) -> None:
        return None

    async def client() -> object:
        return object()

    monkeypatch.setattr(admin, "_state", fake_state)
    monkeypatch.setattr(admin, "_any_case", nothing)
    monkeypatch.setattr(admin, "_filed_customer", nothing)
    monkeypatch.setattr(admin, "connect", lambda settings: client())
    result = CliRunner().invoke(admin.app, ["status", "CC-2026-T7MH3PQR"])
    assert result.exit_code == 0, result.output
    assert (
        "(yes, giving the customer's address but failed the sender checks (SPF/DKIM): not acted on): YES"
    ) in " ".join(result.stdout.split())
    document = admin.status_document(state)
    assert document["customer_replies"][0]["sender_authenticated"] is False


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("COMPLAINTS_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("COMPLAINTS_DATABASE_URL", raising=False)
    return tmp_path


def listed_unmatched(why: str, **reply: Any) -> CustomerReply:
    """A reply the inbound service put on the unmatched list (in the data folder's own queue)."""
    queue = InboundQueue(stores.locate(PipelineSettings(), stores.INBOUND), AtRest(CodecSettings().keyring()))
    unmatched = CustomerReply(received_at=AT, **reply)
    queue.add_unmatched(unmatched, why)
    return unmatched


def test_unmatched_replies_are_listed_for_staff_with_the_sender_masked(data_dir: Path) -> None:
    reply = listed_unmatched(
        "no open case has this sender's contact details",
        reply_id="SM7",
        channel=ChannelKind.SMS,
        sender="+447700900123",
        text="Is anyone there? My line is still down",
    )

    result = CliRunner().invoke(admin.app, ["replies", "--unmatched"])
    assert result.exit_code == 0, result.output
    assert "Is anyone there? My line is still down" in result.stdout
    assert "+447700900123" not in result.stdout and "+44*******123" in result.stdout
    assert "no open case" in result.stdout

    as_json = CliRunner().invoke(admin.app, ["replies", "--unmatched", "--json"])
    [listed] = json.loads(as_json.stdout)
    assert (listed["channel"], listed["sender"], listed["text"]) == ("sms", "+44*******123", reply.text)


def test_an_unmatched_email_that_failed_the_sender_checks_is_listed_as_possibly_forged(data_dir: Path) -> None:
    listed_unmatched(
        "case CC-2026-T7MH3PQR is closed",
        reply_id="<f2@mail.example.net>",
        channel=ChannelKind.EMAIL,
        sender="gwen.pritchard@example.com",
        text="Please re-open my case",
        sender_authenticated=False,
    )
    result = CliRunner().invoke(admin.app, ["replies", "--unmatched"], terminal_width=200)
    assert "(failed the sender checks: may be forged)" in " ".join(result.stdout.split())
    [listed] = json.loads(CliRunner().invoke(admin.app, ["replies", "--unmatched", "--json"]).stdout)
    assert listed["sender_authenticated"] is False


def test_no_unmatched_replies_says_so(data_dir: Path) -> None:
    result = CliRunner().invoke(admin.app, ["replies", "--unmatched"])
    assert (result.exit_code, result.output.strip()) == (0, "no unmatched replies")
