"""Moving a single-host deployment's stores (SQLite files in its data folder) to PostgreSQL."""

from __future__ import annotations

import re
import sqlite3
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import delete

from activities.archive import CaseArchive
from activities.billing import BillingActivities
from channels.sent_log import SentLog
from codec.at_rest import AtRest
from domain.models import ChannelKind, CustomerReply, InvoiceCredit
from inbound.queue import InboundQueue
from ops import migrate_stores, stores
from tests.channels.test_sent_log import receipt
from tests.test_case_archive import NOW, record


def credit(n: int) -> InvoiceCredit:
    return InvoiceCredit(
        key=f"CC-2026-4F7K2Q/credit-{n}",
        reference="CC-2026-4F7K2Q",
        account_number="ISS-204871",
        amount_gbp=Decimal("10.00") + n,
        reason="Missed visit",
    )


async def test_a_single_host_deployment_moves_to_postgresql_and_a_second_run_catches_up(tmp_path, postgres, capsys):
    data = tmp_path / "data"
    data.mkdir()
    # The ledger as the code before migrations made it: the copy reads it as it is.
    with sqlite3.connect(data / "sent-messages.sqlite3") as conn:
        conn.execute(
            "CREATE TABLE sent_messages (key TEXT PRIMARY KEY, channel TEXT NOT NULL, provider_id TEXT,"
            " sent_at TEXT NOT NULL, receipt TEXT NOT NULL)"
        )
        conn.executemany(
            "INSERT INTO sent_messages VALUES (?, ?, 'SM-old', ?, ?)",
            [
                (f"old-{n:04d}", "sms", NOW.isoformat(), receipt(f"old-{n:04d}", "SM-old").model_dump_json())
                for n in range(1200)
            ],
        )
    ledger = SentLog.in_data_dir(data)
    billing = BillingActivities(data / "billing-ledger.sqlite3")
    archive = CaseArchive(data / "archive" / "case-records.sqlite3", retention=timedelta(days=30))
    given = [await billing.credit_invoice(credit(n)) for n in range(3)]
    await archive.archive_case(record("CC-2026-AAAAAA", NOW - timedelta(days=40), name="Olwen Expired"))
    await archive.archive_case(record("CC-2026-BBBBBB", NOW))
    await archive.archive_case(record("CC-2026-CCCCCC", NOW))
    assert archive.purge_expired(NOW) == ["CC-2026-AAAAAA"]

    target = postgres.new_database()  # empty: the command migrates it
    assert migrate_stores.main(["--from", f"sqlite:///{data}", "--to", target]) == 0
    out = capsys.readouterr().out
    assert re.search(r"sent_messages +source +1200 +copied +1200 ", out) and "MISSING" not in out

    moved = CaseArchive(target, retention=timedelta(days=30))
    assert SentLog(target).get("old-0042") == ledger.get("old-0042")
    assert BillingActivities(target).credits_for("CC-2026-4F7K2Q") == billing.credits_for("CC-2026-4F7K2Q")
    assert moved.load("CC-2026-BBBBBB") == archive.load("CC-2026-BBBBBB")
    gone, meta = moved.load("CC-2026-AAAAAA")
    assert gone is None and meta["purged_at"]  # purged stays purged

    # The single host kept working until its workers were stopped; meanwhile a worker on the new
    # database recorded one of the same keys (its record stands) and archived a case afresh.
    ledger.record(receipt("late-1", "SM-late"))
    SentLog(target).record(receipt("late-2", "SM-new-host"))
    ledger.record(receipt("late-2", "SM-old-host"))
    late_credit = await billing.credit_invoice(credit(9))
    await archive.archive_case(record("CC-2026-BBBBBB", NOW + timedelta(days=1)))  # newer: replaces
    await moved.archive_case(record("CC-2026-CCCCCC", NOW + timedelta(days=2)))  # newer in target: kept
    await archive.archive_case(record("CC-2026-DDDDDD", NOW - timedelta(days=31), name="Dilys Purged"))
    await moved.archive_case(record("CC-2026-DDDDDD", NOW - timedelta(days=31), name="Dilys Purged"))
    assert archive.purge_expired(NOW) == ["CC-2026-DDDDDD"]

    assert migrate_stores.main(["--from", f"sqlite:///{data}", "--to", target]) == 0
    assert migrate_stores.main(["--from", f"sqlite:///{data}", "--to", target]) == 0  # and again: nothing to do
    assert "copied       0  updated     0" in capsys.readouterr().out.splitlines()[-1]
    assert SentLog(target).get("late-1").provider_id == "SM-late"
    assert SentLog(target).get("late-2").provider_id == "SM-new-host"
    assert (late_credit.credit_id, 1900) in BillingActivities(target).credits_for("CC-2026-4F7K2Q")
    assert len(SentLog(target).keys()) == 1202
    assert moved.load("CC-2026-BBBBBB")[0].recorded_at == NOW + timedelta(days=1)
    assert moved.load("CC-2026-CCCCCC")[0].recorded_at == NOW + timedelta(days=2)
    assert moved.load("CC-2026-DDDDDD")[0] is None  # the source's purge reached the copy
    assert [g.credit_id for g in given] == [c for c, _ in BillingActivities(target).credits_for("CC-2026-4F7K2Q")][:3]


async def test_a_copy_cut_short_is_finished_by_running_it_again(tmp_path, postgres, monkeypatch):
    data = tmp_path / "data"
    ledger = SentLog.in_data_dir(data)
    for n in range(50):
        ledger.record(receipt(f"k-{n:03d}"))
    billing = BillingActivities(data / "billing-ledger.sqlite3")
    await billing.credit_invoice(credit(1))
    target = postgres.new_database()

    copy = migrate_stores.copy_store

    def cut_short(store, source, into, cutoff):
        if store == stores.BILLING:
            raise OSError("connection lost")
        return copy(store, source, into, cutoff)

    monkeypatch.setattr(migrate_stores, "BATCH", 7)
    monkeypatch.setattr(migrate_stores, "copy_store", cut_short)
    assert migrate_stores.main(["--from", f"sqlite:///{data}", "--to", target]) == 2
    assert len(SentLog(target).keys()) == 50 and BillingActivities(target).credits_for("CC-2026-4F7K2Q") == []
    monkeypatch.setattr(migrate_stores, "copy_store", copy)
    assert migrate_stores.main(["--from", f"sqlite:///{data}", "--to", target]) == 0
    assert BillingActivities(target).credits_for("CC-2026-4F7K2Q") == billing.credits_for("CC-2026-4F7K2Q")


def test_the_count_check_finds_a_key_the_target_lacks(tmp_path, postgres):
    data = tmp_path / "data"
    ledger = SentLog.in_data_dir(data)
    for n in range(5):
        ledger.record(receipt(f"k-{n}"))
    target = postgres.new_database()
    assert migrate_stores.main(["--from", f"sqlite:///{data}", "--to", target]) == 0
    with stores.engine_for(target).begin() as conn:
        conn.execute(delete(stores.sent_messages).where(stores.sent_messages.c.key == "k-3"))
    assert (
        migrate_stores._missing(
            stores.sent_messages,
            data / "sent-messages.sqlite3",
            stores.open_store(stores.SENT_MESSAGES, target),
            datetime.now(UTC) - timedelta(days=730),
        )
        == 1
    )


def test_only_a_sqlite_source_is_taken(tmp_path, postgres, capsys):
    assert migrate_stores.main(["--from", postgres.url(), "--to", postgres.url()]) == 2
    assert migrate_stores.main(["--from", f"sqlite:///{tmp_path / 'nowhere'}", "--to", postgres.url()]) == 2
    assert "neither a data folder nor a SQLite file" in capsys.readouterr().err


def reply(reply_id: str, received_at: datetime) -> CustomerReply:
    return CustomerReply(
        reply_id=reply_id, channel=ChannelKind.SMS, received_at=received_at, sender="+447700900123", text="Still down"
    )


async def test_the_unmatched_replies_and_closed_cases_addenda_move_and_a_purge_takes_its_addenda(
    tmp_path, postgres, capsys, monkeypatch
):
    monkeypatch.setenv("COMPLAINTS_ARCHIVE_RETENTION_DAYS", "30")
    now = datetime.now(UTC)
    data = tmp_path / "data"
    archive = CaseArchive(data / "archive" / "case-records.sqlite3", retention=timedelta(days=30))
    queue = InboundQueue(data / "inbound.sqlite3", AtRest(None))
    await archive.archive_case(record("CC-2026-AAAAAA", NOW))
    archive.append("CC-2026-AAAAAA", "sendgrid:ev-late-bounce", "delivery_event", "sealed bounce")
    archive.append("CC-2026-AAAAAA", "twilio-sms:SM-thanks", "customer_reply", "sealed thanks")
    await archive.archive_case(record("CC-2026-BBBBBB", NOW - timedelta(days=31), name="Bryn Expiring"))
    archive.append("CC-2026-BBBBBB", "twilio-sms:SM-bryn", "customer_reply", "sealed words of Bryn")
    queue.accept([("twilio-sms:SM-bryn", reply("SM-bryn", now), "CC-2026-BBBBBB")])
    queue.settle([("twilio-sms:SM-bryn", "archived", "appended to CC-2026-BBBBBB", "CC-2026-BBBBBB")])
    for n in range(3):
        queue.add_unmatched(reply(f"SM-lost-{n}", now - timedelta(days=n)), "no open case for this number")
    # Past the retention: the next purge deletes it, so the move must not bring it to a new home.
    queue.add_unmatched(reply("SM-lost-long-ago", now - timedelta(days=31)), "no open case for this number")

    target = postgres.new_database()
    assert migrate_stores.main(["--from", f"sqlite:///{data}", "--to", target]) == 0
    out = capsys.readouterr().out
    assert re.search(r"unmatched_replies +source +4 +copied +3 ", out), out
    assert re.search(r"case_record_addenda +source +3 +copied +3 ", out), out
    moved_archive = CaseArchive(target, retention=timedelta(days=30))
    moved_queue = InboundQueue(target, AtRest(None))
    assert moved_archive.addenda("CC-2026-AAAAAA") == archive.addenda("CC-2026-AAAAAA")
    assert [u.reply.reply_id for u in moved_queue.unmatched()] == ["SM-lost-0", "SM-lost-1", "SM-lost-2"]
    assert moved_queue.unmatched() == queue.unmatched()[:3]
    assert moved_archive.addenda("CC-2026-BBBBBB") != []

    # Bryn's record expires on the old host before the final run: its purge reaches the copy, and
    # his reply goes with it (from the archive's addenda and from the inbound queue).
    assert archive.purge_expired(NOW) == ["CC-2026-BBBBBB"]
    assert migrate_stores.main(["--from", f"sqlite:///{data}", "--to", target]) == 0
    assert moved_archive.load("CC-2026-BBBBBB")[0] is None
    assert moved_archive.addenda("CC-2026-BBBBBB") == []
    assert moved_queue.state_of("twilio-sms:SM-bryn") is None
    assert moved_archive.addenda("CC-2026-AAAAAA") == archive.addenda("CC-2026-AAAAAA")


async def test_a_case_the_new_host_purged_gets_none_of_its_replies_back_from_the_old_host(tmp_path, postgres):
    data = tmp_path / "data"
    archive = CaseArchive(data / "archive" / "case-records.sqlite3", retention=timedelta(days=30))
    queue = InboundQueue(data / "inbound.sqlite3", AtRest(None))
    await archive.archive_case(record("CC-2026-CCCCCC", NOW - timedelta(days=29), name="Cerys Expiring"))
    target = postgres.new_database()
    assert migrate_stores.main(["--from", f"sqlite:///{data}", "--to", target]) == 0
    # The new host's purge runs before the old host's: Cerys's late reply is still on the old host.
    moved_archive = CaseArchive(target, retention=timedelta(days=30))
    assert moved_archive.purge_expired(NOW + timedelta(days=2)) == ["CC-2026-CCCCCC"]
    archive.append("CC-2026-CCCCCC", "twilio-sms:SM-cerys", "customer_reply", "sealed words of Cerys")
    queue.accept([("twilio-sms:SM-cerys", reply("SM-cerys", datetime.now(UTC)), "CC-2026-CCCCCC")])

    # Withheld, and not counted as missing: the run succeeds.
    assert migrate_stores.main(["--from", f"sqlite:///{data}", "--to", target]) == 0
    assert moved_archive.addenda("CC-2026-CCCCCC") == []
    assert InboundQueue(target, AtRest(None)).state_of("twilio-sms:SM-cerys") is None


async def test_a_reply_the_old_host_forwarded_after_the_first_run_is_not_forwarded_again(tmp_path, postgres):
    data = tmp_path / "data"
    queue = InboundQueue(data / "inbound.sqlite3", AtRest(None))
    queue.accept([("twilio-sms:SM-yes", reply("SM-yes", datetime.now(UTC)), "CC-2026-AAAAAA")])
    target = postgres.new_database()
    assert migrate_stores.main(["--from", f"sqlite:///{data}", "--to", target]) == 0
    moved = InboundQueue(target, AtRest(None))
    assert [item.item_id for item in moved.due(10)] == ["twilio-sms:SM-yes"]

    queue.settle([("twilio-sms:SM-yes", "signalled", "signalled CC-2026-AAAAAA", "CC-2026-AAAAAA")])
    assert migrate_stores.main(["--from", f"sqlite:///{data}", "--to", target]) == 0
    assert moved.state_of("twilio-sms:SM-yes") == "signalled" and moved.due(10) == []


def test_a_table_left_short_is_named_and_the_command_exits_1(tmp_path, postgres, monkeypatch, capsys):
    data = tmp_path / "data"
    queue = InboundQueue(data / "inbound.sqlite3", AtRest(None))
    queue.add_unmatched(reply("SM-lost", datetime.now(UTC)), "no open case for this number")
    queue.accept([("twilio-sms:SM-other", reply("SM-other", datetime.now(UTC)), None)])
    target = postgres.new_database()
    copy = migrate_stores.copy_table

    def skip_unmatched(table, source, into, cutoff):
        if table is stores.unmatched_replies:
            return migrate_stores.Copied(
                table.name, missing_in_target=migrate_stores._missing(table, source, into, cutoff)
            )
        return copy(table, source, into, cutoff)

    monkeypatch.setattr(migrate_stores, "copy_table", skip_unmatched)
    assert migrate_stores.main(["--from", f"sqlite:///{data}", "--to", target]) == 1
    captured = capsys.readouterr()
    assert "incomplete: unmatched_replies; run it again" in captured.err
    assert re.search(r"unmatched_replies .* MISSING 1 in the target", captured.out)
    assert re.search(r"inbound_items .* ok", captured.out)
