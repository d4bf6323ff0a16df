"""Personal data on disk: private modes at creation, and nothing of an expired case left after a purge.

Each store is written through the class the worker uses, with the customer's details where the
real pipeline puts them; then every file under the data folder is read back byte by byte.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from activities.alerts import AlertActivities
from activities.archive import CaseArchive
from activities.billing import BillingActivities
from channels.letters import PostRoomChannel
from channels.outbox import OutboxChannel
from channels.rendering import render
from channels.sent_log import SentLog
from codec.at_rest import AtRest
from domain.models import (
    AlertRequest,
    CaseRecord,
    CaseRole,
    CaseState,
    ChannelKind,
    CustomerReply,
    InvoiceCredit,
    MessageContext,
    MessageKind,
    PostalAddress,
    Recipient,
    SendRequest,
)
from inbound.queue import InboundQueue
from ops.purge import DataStores, purge_expired
from settings import load_policy
from tests.workflows.harness import intake_at

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
EXPIRED_REF = "CC-2024-EXP1RD"
KEPT_REF = "CC-2026-KEPT22"

EXPIRED = {
    "name": "Olwen Expiredsson",
    "email": "olwen.expiredsson@example.com",
    "phone": "+447700900777",
    "line": "7 Retention Lane",
    "postcode": "NP23 7XX",
    "account": "ISS-990011",
}
KEPT = {
    "name": "Gwen Pritchard",
    "email": "gwen.pritchard@example.com",
    "phone": "+447911123456",
    "line": "14 Bethcar Street",
    "postcode": "NP23 6HH",
    "account": "ISS-204871",
}


def _request(reference: str, person: dict[str, str], kind: MessageKind, channel: ChannelKind) -> SendRequest:
    return SendRequest(
        key=f"{reference}/001-{kind.value}-{channel.value}",
        kind=kind,
        channel=channel,
        recipient=Recipient(
            name=person["name"],
            email=person["email"],
            phone=person["phone"],
            address=PostalAddress(lines=[person["line"], "Ebbw Vale"], postcode=person["postcode"]),
        ),
        context=MessageContext(reference=reference, customer_name=person["name"], received_at=NOW),
    )


async def _write_every_store(
    stores: DataStores, archive: CaseArchive, reference: str, person: dict[str, str], recorded_at: datetime
) -> None:
    """What one case leaves on disk: messages, a letter, a credit, an alert, its archive record."""
    outbox_email = OutboxChannel(ChannelKind.EMAIL, stores.outbox_dir)
    outbox_sms = OutboxChannel(ChannelKind.SMS, stores.outbox_dir)
    post_room = PostRoomChannel(stores.post_room_dir, clock=lambda: NOW)
    sent_log = SentLog(stores.sent_log_path)
    for channel, sender in (
        (ChannelKind.EMAIL, outbox_email),
        (ChannelKind.SMS, outbox_sms),
        (ChannelKind.LETTER, post_room),
    ):
        request = _request(reference, person, MessageKind.ACKNOWLEDGEMENT, channel)
        receipt = sender.send(request, render(request))
        sent_log.record(receipt)
    await BillingActivities(stores.billing_path).credit_invoice(
        InvoiceCredit(
            key=f"{reference}/credit-1",
            reference=reference,
            account_number=person["account"],
            amount_gbp=Decimal("25.00"),
            reason=f"Outage at {person['line']}",
        )
    )
    await AlertActivities(stores.alerts_dir).raise_internal_alert(
        AlertRequest(
            key=f"{reference}/breach-1",
            reference=reference,
            to_role=CaseRole.CUSTOMER_SERVICE_MANAGER,
            subject="Acknowledgement failed",
            detail=f"SMS to {person['name']} on {person['phone']} bounced",
        )
    )
    # A reply by text, forwarded to the case, and one the inbound service matched to no case.
    queue = InboundQueue(stores.data_dir / "inbound.sqlite3", AtRest(None))
    reply = CustomerReply(
        reply_id=f"SM-{reference}",
        channel=ChannelKind.SMS,
        received_at=recorded_at,
        sender=person["phone"],
        text=f"Still down at {person['line']}",
    )
    queue.accept([(f"twilio-sms:{reply.reply_id}", reply, None)])
    queue.settle([(f"twilio-sms:{reply.reply_id}", "signalled", f"signalled {reference}", reference)])
    queue.add_unmatched(
        reply.model_copy(update={"reply_id": f"SM-lost-{reference}", "received_at": recorded_at}), "no open case"
    )
    intake = intake_at(
        recorded_at - timedelta(days=30),
        name=person["name"],
        email=person["email"],
        address={"lines": [person["line"], "Ebbw Vale"], "postcode": person["postcode"]},
    )
    intake = intake.model_copy(update={"account_number": person["account"]})
    await archive.archive_case(
        CaseRecord(
            reference=reference,
            intake=intake,
            state=CaseState(reference=reference),
            policy=load_policy(),
            recorded_at=recorded_at,
        )
    )


def _every_file(folder: Path) -> Iterator[Path]:
    return (path for path in folder.rglob("*") if path.is_file())


def _spellings(person: dict[str, str]) -> list[bytes]:
    national = person["phone"].replace("+44", "0")
    values = [
        person["name"],
        person["email"],
        person["phone"],
        national,
        f"{national[:5]} {national[5:]}",
        person["line"],
        person["postcode"],
        person["account"],
    ]
    return [value.encode() for value in values]


@pytest.fixture
def default_umask() -> Iterator[None]:
    # What a service manager typically gives a process; the stores must not rely on a tighter one.
    previous = os.umask(0o022)
    yield
    os.umask(previous)


@pytest.fixture
def stores(tmp_path: Path) -> DataStores:
    return DataStores(data_dir=tmp_path / "data", post_room_dir=tmp_path / "data" / "post-room")


async def test_every_store_is_created_private(stores: DataStores, default_umask: None) -> None:
    archive = CaseArchive(stores.archive_path, retention=timedelta(days=730))
    await _write_every_store(stores, archive, KEPT_REF, KEPT, NOW)

    files = list(_every_file(stores.data_dir))
    folders = [stores.data_dir, *(p for p in stores.data_dir.rglob("*") if p.is_dir())]
    assert {p.name for p in files} >= {
        "manifest.csv",
        "case-records.sqlite3",
        "billing-ledger.sqlite3",
        "sent-messages.sqlite3",
    }
    assert any(p.suffix == ".eml" for p in files) and any(p.parent.name == "alerts" for p in files)
    wrong = {
        str(p.relative_to(stores.data_dir)): oct(stat.S_IMODE(p.stat().st_mode))
        for p in files
        if stat.S_IMODE(p.stat().st_mode) != 0o600
    }
    wrong |= {str(p): oct(stat.S_IMODE(p.stat().st_mode)) for p in folders if stat.S_IMODE(p.stat().st_mode) != 0o700}
    assert not wrong, f"not private: {wrong}"


async def test_purge_leaves_no_copy_of_an_expired_customers_details_in_any_file(stores: DataStores) -> None:
    archive = CaseArchive(stores.archive_path, retention=timedelta(days=730))
    await _write_every_store(stores, archive, EXPIRED_REF, EXPIRED, NOW - timedelta(days=731))
    await _write_every_store(stores, archive, KEPT_REF, KEPT, NOW - timedelta(days=10))
    everything = b"".join(p.read_bytes() for p in _every_file(stores.data_dir))
    assert all(value in everything for value in _spellings(EXPIRED)[:2])  # the test sees what is there

    report = purge_expired(stores, archive, NOW)

    assert report.expired == [EXPIRED_REF]
    for path in _every_file(stores.data_dir):
        content = path.read_bytes()
        for value in _spellings(EXPIRED):
            assert value not in content, f"{value!r} still in {path.relative_to(stores.data_dir)}"
        assert not path.name.startswith(EXPIRED_REF), f"{path} belongs to the expired case"
    # The other case keeps everything, and the expired one keeps what is not personal.
    remaining = b"".join(p.read_bytes() for p in _every_file(stores.data_dir))
    for kept in (KEPT["name"], KEPT["email"], KEPT["phone"], KEPT["line"], KEPT["account"]):
        assert kept.encode() in remaining, f"{kept!r} of a live case was purged"
    assert BillingActivities(stores.billing_path).credits_for(EXPIRED_REF)  # the credit, without the account
    assert SentLog(stores.sent_log_path).get(f"{EXPIRED_REF}/001-acknowledgement-email") is not None

    again = purge_expired(stores, archive, NOW)
    assert again.expired == [] and again.files_removed == 0 and again.credits_redacted == 0


async def test_admin_purge_expired_clears_every_store(stores: DataStores) -> None:
    import subprocess
    import sys

    from settings import REPO

    archive = CaseArchive(stores.archive_path, retention=timedelta(days=1))
    await _write_every_store(stores, archive, EXPIRED_REF, EXPIRED, datetime.now(UTC) - timedelta(days=2))
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPLAINTS_")} | {
        "COMPLAINTS_DATA_DIR": str(stores.data_dir),
        "COMPLAINTS_POST_ROOM_DIR": str(stores.post_room_dir),
        "COMPLAINTS_ARCHIVE_RETENTION_DAYS": "1",
    }

    result = subprocess.run(
        [sys.executable, "admin.py", "purge-expired"], env=env, cwd=REPO, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
    assert f"purged 1 expired case record(s): {EXPIRED_REF}" in result.stdout
    assert "redacted 1 invoice credit(s)" in result.stdout
    for path in _every_file(stores.data_dir):
        assert EXPIRED["name"].encode() not in path.read_bytes(), path
