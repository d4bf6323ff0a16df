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

Where it lives (`ops.stores`): `<data_dir>/sent-messages.sqlite3` by default (SQLite in WAL mode,
safe for several worker processes on one machine), or the PostgreSQL database every worker shares
when `COMPLAINTS_DATABASE_URL` is set (workers on several hosts). The key is the table's primary
key, so of two workers recording one key, on one host or two, the first wins and both return it.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from domain.models import DeliveryReceipt
from ops import stores


class SentLog:
    def __init__(self, location: stores.StoreLocation, *, busy_timeout: float = 30.0) -> None:
        """`location`: the SQLite file, or a database URL (`COMPLAINTS_DATABASE_URL`)."""
        self._store = stores.open_store(stores.SENT_MESSAGES, location, busy_timeout)
        self.path = self._store.location
        self.busy_timeout = busy_timeout
        self._store.engine  # noqa: B018 - set up (or check) the schema now, not on the first send

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> SentLog:
        return cls(Path(data_dir) / stores.SQLITE_FILES[stores.SENT_MESSAGES])

    def get(self, key: str) -> DeliveryReceipt | None:
        row = self._store.fetch({"key": key})
        return DeliveryReceipt.model_validate_json(row.receipt) if row else None

    def record(self, receipt: DeliveryReceipt) -> DeliveryReceipt:
        """Store the receipt; the first one recorded for a key wins and is returned."""
        stored = receipt.model_copy(update={"duplicate": False})
        inserted = self._store.insert_if_absent(
            {
                "key": stored.key,
                "channel": stored.channel.value,
                "provider_id": stored.provider_id,
                "sent_at": stored.sent_at,
                "receipt": stored.model_dump_json(),
            }
        )
        if inserted:
            # Committed (the same transaction and fsync as before); what it holds is `stored`, so
            # it is not read back and parsed again.
            return stored
        first = self.get(stored.key)
        if first is None:  # recorded by another attempt, then purged in between: nothing to compare
            raise RuntimeError(f"sent-message ledger: {stored.key} conflicted but is not there")
        return first

    def keys(self) -> list[str]:
        """Every message key recorded (for the fault tests' counts and the migration's checks)."""
        table = stores.sent_messages
        with self._store.engine.connect() as conn:
            return list(conn.scalars(select(table.c.key).order_by(table.c.key)))
