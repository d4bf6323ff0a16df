from __future__ import annotations

import multiprocessing
import sqlite3
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

from channels.sent_log import SentLog
from domain.models import ChannelKind, DeliveryReceipt

NOW = datetime(2026, 12, 29, 16, 30, tzinfo=timezone.utc)


def receipt(key: str, provider_id: str = "SM1") -> DeliveryReceipt:
    return DeliveryReceipt(key=key, channel=ChannelKind.SMS, provider_id=provider_id, sent_at=NOW)


def test_a_recorded_receipt_is_found_by_key(tmp_path):
    log = SentLog.in_data_dir(tmp_path)
    assert log.get("k1") is None
    log.record(receipt("k1"))
    assert log.get("k1") == receipt("k1")
    assert (tmp_path / "sent-messages.sqlite3").exists()


def test_the_first_receipt_for_a_key_wins(tmp_path):
    log = SentLog(tmp_path / "ledger.sqlite3")
    assert log.record(receipt("k1", "SM-first")).provider_id == "SM-first"
    assert log.record(receipt("k1", "SM-second")).provider_id == "SM-first"
    assert log.get("k1").provider_id == "SM-first"


def test_the_ledger_survives_a_new_instance_and_uses_wal(tmp_path):
    SentLog(tmp_path / "ledger.sqlite3").record(receipt("k1"))
    assert SentLog(tmp_path / "ledger.sqlite3").get("k1") is not None
    with sqlite3.connect(tmp_path / "ledger.sqlite3") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _record_many(path: str, worker: int) -> int:
    log = SentLog(Path(path))
    for n in range(40):
        log.record(receipt(f"w{worker}-{n}"))
        log.record(receipt(f"shared-{n}", f"SM-{worker}"))
    return worker


def test_several_worker_processes_share_one_ledger(tmp_path):
    path = str(tmp_path / "ledger.sqlite3")
    # spawn: separate interpreters, as separate worker processes would be.
    with ProcessPoolExecutor(max_workers=4, mp_context=multiprocessing.get_context("spawn")) as pool:
        assert sorted(pool.map(_record_many, [path] * 4, range(4))) == [0, 1, 2, 3]
    log = SentLog(Path(path))
    assert all(log.get(f"w{w}-{n}") is not None for w in range(4) for n in range(40))
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM sent_messages WHERE key LIKE 'shared-%'").fetchone()[0] == 40
