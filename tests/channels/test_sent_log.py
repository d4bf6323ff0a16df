from __future__ import annotations

import multiprocessing
import sqlite3
import threading
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from channels.sent_log import SentLog
from domain.models import ChannelKind, DeliveryReceipt

NOW = datetime(2026, 12, 29, 16, 30, tzinfo=UTC)


def receipt(key: str, provider_id: str = "SM1") -> DeliveryReceipt:
    return DeliveryReceipt(key=key, channel=ChannelKind.SMS, provider_id=provider_id, sent_at=NOW)


def test_a_recorded_receipt_is_found_by_key(tmp_path):
    log = SentLog.in_data_dir(tmp_path)
    assert log.get("k1") is None
    log.record(receipt("k1"))
    assert log.get("k1") == receipt("k1")
    assert (tmp_path / "sent-messages.sqlite3").exists()


def test_the_first_receipt_for_a_key_wins(store_at):
    log = SentLog(store_at("ledger.sqlite3"))
    assert log.record(receipt("k1", "SM-first")).provider_id == "SM-first"
    assert log.record(receipt("k1", "SM-second")).provider_id == "SM-first"
    assert log.get("k1").provider_id == "SM-first"
    assert log.get("k1").sent_at == NOW


def test_the_ledger_survives_a_new_instance(store_at):
    SentLog(store_at("ledger.sqlite3")).record(receipt("k1"))
    assert SentLog(store_at("ledger.sqlite3")).get("k1") is not None


def test_the_sqlite_ledger_uses_wal(tmp_path):
    SentLog(tmp_path / "ledger.sqlite3").record(receipt("k1"))
    with sqlite3.connect(tmp_path / "ledger.sqlite3") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_ledger_written_before_migrations_is_adopted(tmp_path):
    """A single-host deployment's existing file (made by the code before Alembic) keeps its receipts."""
    path = tmp_path / "sent-messages.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE sent_messages (key TEXT PRIMARY KEY, channel TEXT NOT NULL, provider_id TEXT,"
            " sent_at TEXT NOT NULL, receipt TEXT NOT NULL)"
        )
        conn.execute(
            "INSERT INTO sent_messages VALUES (?, ?, ?, ?, ?)",
            ("old-1", "sms", "SM-old", NOW.isoformat(), receipt("old-1", "SM-old").model_dump_json()),
        )
    log = SentLog(path)
    assert log.get("old-1").provider_id == "SM-old"
    assert log.record(receipt("old-1", "SM-new")).provider_id == "SM-old"
    assert log.keys() == ["old-1"]


def _record_many(location: str, worker: int) -> int:
    log = SentLog(Path(location) if "://" not in location else location)
    for n in range(40):
        log.record(receipt(f"w{worker}-{n}"))
        log.record(receipt(f"shared-{n}", f"SM-{worker}"))
    return worker


def test_several_worker_processes_share_one_ledger(store_at):
    location = str(store_at("ledger.sqlite3"))
    # spawn: separate interpreters, as separate worker processes (or hosts) would be.
    with ProcessPoolExecutor(max_workers=4, mp_context=multiprocessing.get_context("spawn")) as pool:
        assert sorted(pool.map(_record_many, [location] * 4, range(4))) == [0, 1, 2, 3]
    log = SentLog(store_at("ledger.sqlite3"))
    assert all(log.get(f"w{w}-{n}") is not None for w in range(4) for n in range(40))
    assert len([k for k in log.keys() if k.startswith("shared-")]) == 40


def test_workers_racing_to_record_one_key_record_it_once(store_at):
    """Round after round, four connections record the same new key at the same moment: one receipt
    is stored, and every racer is answered with that one."""
    racers, rounds = 4, 150
    logs = [SentLog(store_at("ledger.sqlite3")) for _ in range(racers)]
    barrier = threading.Barrier(racers)

    def race(worker: int) -> list[str]:
        answers = []
        for n in range(rounds):
            barrier.wait(timeout=30)
            answers.append(logs[worker].record(receipt(f"race-{n}", f"SM-{worker}")).provider_id)
        return answers

    with ThreadPoolExecutor(racers) as pool:
        answers = list(pool.map(race, range(racers)))
    log = logs[0]
    assert len(log.keys()) == rounds
    for n in range(rounds):
        stored = log.get(f"race-{n}").provider_id
        assert {a[n] for a in answers} == {stored}, f"round {n}: racers were told {[a[n] for a in answers]}"


def test_a_recorded_receipt_is_what_the_ledger_then_holds(store_at):
    """`record` no longer reads a receipt it inserted back: what it returns must still be, field for
    field, what a later `get` (another worker's retry) finds, and never marked a duplicate."""
    log = SentLog(store_at("ledger.sqlite3"))
    sent = receipt("k1").model_copy(
        update={"duplicate": True, "sent_at": datetime(2026, 12, 29, 16, 30, 5, 123456, UTC)}
    )
    recorded = log.record(sent)
    assert recorded == log.get("k1") == sent.model_copy(update={"duplicate": False})
    assert recorded.sent_at.tzinfo is not None
