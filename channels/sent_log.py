"""The sent-message ledger: which message keys a channel has already accepted.

Temporal retries an activity whose worker died or timed out, so `send_message` may run more than
once for one key. Before sending, the activity looks the key up here; after the channel accepts
the message, it records the receipt. A retry then answers with the recorded receipt
(`duplicate=True`) instead of sending again.

The duplicate window that remains: a crash (or a lost ledger write) *after* the vendor accepted
the message and *before* `record` committed. The retry finds no record and sends again, so
delivery is at-least-once across that gap, which lasts milliseconds. The outbox and post room
overwrite by key, and the email Message-ID is derived from the key, which limits what a customer
sees from such a resend; SendGrid and Twilio offer no idempotency key on these endpoints.

SQLite in WAL mode at `<data_dir>/sent-messages.sqlite3`: safe for several worker processes on one
machine (not on a network file system). Each call opens its own connection, so it is safe from
the activity's worker threads too; writes wait up to `busy_timeout` for another writer.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from domain.models import DeliveryReceipt
from ops import sqlite_store

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sent_messages (
    key TEXT PRIMARY KEY,
    channel TEXT NOT NULL,
    provider_id TEXT,
    sent_at TEXT NOT NULL,
    receipt TEXT NOT NULL
)
"""


class SentLog:
    def __init__(self, path: Path, *, busy_timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self._initialise()

    def _initialise(self) -> None:
        sqlite_store.initialise(self.path, _SCHEMA, self.busy_timeout)

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> SentLog:
        return cls(Path(data_dir) / "sent-messages.sqlite3")

    def _connect(self) -> sqlite3.Connection:
        return sqlite_store.connect(self.path, self.busy_timeout)

    def get(self, key: str) -> DeliveryReceipt | None:
        with closing(self._connect()) as conn:
            row = conn.execute("SELECT receipt FROM sent_messages WHERE key = ?", (key,)).fetchone()
        return DeliveryReceipt.model_validate_json(row[0]) if row else None

    def record(self, receipt: DeliveryReceipt) -> DeliveryReceipt:
        """Store the receipt; the first one recorded for a key wins and is returned."""
        stored = receipt.model_copy(update={"duplicate": False})
        with closing(self._connect()) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(
                    "INSERT OR IGNORE INTO sent_messages (key, channel, provider_id, sent_at, receipt)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (
                        stored.key,
                        stored.channel.value,
                        stored.provider_id,
                        stored.sent_at.isoformat(),
                        stored.model_dump_json(),
                    ),
                )
                row = conn.execute("SELECT receipt FROM sent_messages WHERE key = ?", (stored.key,)).fetchone()
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return DeliveryReceipt.model_validate_json(row[0])
