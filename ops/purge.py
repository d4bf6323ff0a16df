"""`admin.py purge-expired`: every copy of an expired case's personal data, in every store we write.

The archive decides what has expired (its retention runs from when the record was written); this
module then clears that case from the other stores, which each hold a copy of some of it:

| store | holds | done at expiry |
|---|---|---|
| archive (`archive/case-records.sqlite3`) | the whole record | record deleted, tombstone keeps the reference |
| billing ledger (`billing-ledger.sqlite3`) | account number, reason | redacted; credit id and amount kept |
| outbox (`outbox/<reference>/`) | every message as sent (.eml, .sms.json, .pdf) | folder deleted |
| post room (`post-room/<day>/`) | letter PDFs, manifest rows (name, postcode) | PDFs deleted, rows removed |
| alerts (`alerts/*.json`) | subject and detail of internal alerts | files deleted |
| staff mailbox (`outbox/staff/<address>/`) | work notices, reminders and alerts as emailed to staff | files deleted |
| sent-message ledger (`sent-messages.sqlite3`) | message keys and proof of dispatch only | kept: it is what stops a reference being reused |
| inbound queue (`inbound.sqlite3`) | delivery events, customers' replies, the unmatched list | the case's rows deleted; any forwarded or unmatched older than the retention too |

Each run also sweeps references purged by earlier runs, so files a previous version left behind
are cleared too; every step is idempotent.
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import os
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from activities.archive import CaseArchive
from activities.billing import BillingActivities
from channels.base import safe_file_stem
from channels.letters import MANIFEST_NAME
from codec.at_rest import AtRest
from inbound.queue import InboundQueue


@dataclass
class PurgeReport:
    expired: list[str] = field(default_factory=list)  # records whose retention ended in this run
    credits_redacted: int = 0
    files_removed: int = 0
    manifest_rows_removed: int = 0
    inbound_rows_removed: int = 0


@dataclass(frozen=True)
class DataStores:
    """Where the pipeline writes; built from the same settings the worker uses."""

    data_dir: Path
    post_room_dir: Path
    # The billing ledger: None for the data folder's SQLite file, else where `ops.stores.locate`
    # puts it (a database URL with COMPLAINTS_DATABASE_URL).
    billing: str | Path | None = None
    # The inbound queue, the same way.
    inbound: str | Path | None = None

    @property
    def archive_path(self) -> Path:
        return self.data_dir / "archive" / "case-records.sqlite3"

    @property
    def billing_path(self) -> Path:
        return self.data_dir / "billing-ledger.sqlite3"

    @property
    def billing_location(self) -> str | Path | None:
        """The ledger to redact, or None when there is none yet (a SQLite file never created)."""
        if self.billing is not None and not isinstance(self.billing, Path):
            return self.billing
        path = self.billing or self.billing_path
        return path if path.exists() else None

    @property
    def inbound_location(self) -> str | Path | None:
        if self.inbound is not None and not isinstance(self.inbound, Path):
            return self.inbound
        path = self.inbound or self.data_dir / "inbound.sqlite3"
        return path if path.exists() else None

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    @property
    def alerts_dir(self) -> Path:
        return self.data_dir / "alerts"

    @property
    def sent_log_path(self) -> Path:
        return self.data_dir / "sent-messages.sqlite3"


def purge_expired(stores: DataStores, archive: CaseArchive, now: datetime | None = None) -> PurgeReport:
    report = PurgeReport(expired=archive.purge_expired(now))
    references = set(archive.purged_references())
    if stores.inbound_location is not None:
        # Also when nothing expired: unmatched replies and forwarded items age out on their own.
        cutoff = (now or datetime.now(UTC)) - archive.retention
        report.inbound_rows_removed = InboundQueue(stores.inbound_location, AtRest(None)).purge(references, cutoff)
    if not references:
        return report
    if stores.billing_location is not None:
        report.credits_redacted = BillingActivities(stores.billing_location).redact(sorted(references))
    report.files_removed += _remove_outbox_folders(stores.outbox_dir, references)
    removed, rows = _purge_post_room(stores.post_room_dir, references)
    report.files_removed += removed
    report.manifest_rows_removed = rows
    report.files_removed += _remove_alerts(stores.alerts_dir, references)
    report.files_removed += _remove_staff_mail(stores.outbox_dir / "staff", references)
    return report


def _remove_staff_mail(staff: Path, references: set[str]) -> int:
    """Staff notices are named by alert key, `<reference>/alert-<n>` made file-safe."""
    if not staff.is_dir():
        return 0
    stems = {safe_file_stem(r) for r in references}
    removed = 0
    for path in staff.glob("*/*.eml"):
        if _belongs_to(path.stem, stems):
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def _remove_outbox_folders(outbox: Path, references: set[str]) -> int:
    removed = 0
    for reference in references:
        folder = outbox / safe_file_stem(reference)
        if folder.is_dir():
            removed += sum(1 for p in folder.rglob("*") if p.is_file())
            shutil.rmtree(folder)
    return removed


def _belongs_to(name: str, stems: set[str]) -> bool:
    # Letter files are named by message key, `<reference>/<n>-<kind>-<channel>` made file-safe.
    return any(name.startswith(stem + "_") or name == stem for stem in stems)


def _purge_post_room(post_room: Path, references: set[str]) -> tuple[int, int]:
    if not post_room.is_dir():
        return 0, 0
    stems = {safe_file_stem(reference) for reference in references}
    removed = rows_removed = 0
    for day in sorted(p for p in post_room.iterdir() if p.is_dir()):
        manifest = day / MANIFEST_NAME
        listed: set[str] = set()
        if manifest.exists():
            listed, dropped = _drop_manifest_rows(manifest, references)
            rows_removed += dropped
        for letter in day.iterdir():
            if letter.name != MANIFEST_NAME and (letter.name in listed or _belongs_to(letter.name, stems)):
                letter.unlink(missing_ok=True)
                removed += 1
    return removed, rows_removed


def _drop_manifest_rows(manifest: Path, references: set[str]) -> tuple[set[str], int]:
    """Rewrite the day's manifest without the expired cases' rows, in place under the same lock
    the post-room channel appends under (replacing the file would strand a concurrent append)."""
    with open(manifest, "r+", newline="", encoding="utf-8") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            rows = list(csv.DictReader(io.StringIO(handle.read())))
            keep = [row for row in rows if row.get("reference", "").lstrip("'") not in references]
            dropped = [row for row in rows if row not in keep]
            if not dropped:
                return set(), 0
            fields = list(rows[0].keys())
            out = io.StringIO()
            writer = csv.DictWriter(out, fieldnames=fields)
            writer.writeheader()
            writer.writerows(keep)
            handle.seek(0)
            handle.truncate()
            handle.write(out.getvalue())
            handle.flush()
            os.fsync(handle.fileno())
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
    return {row.get("file", "") for row in dropped}, len(dropped)


def _remove_alerts(alerts: Path, references: set[str]) -> int:
    if not alerts.is_dir():
        return 0
    removed = 0
    for path in alerts.glob("*.json"):
        try:
            reference = json.loads(path.read_text(encoding="utf-8")).get("reference")
        except (OSError, ValueError):
            continue  # half-written or not ours: left for a person to look at
        if reference in references:
            path.unlink(missing_ok=True)
            removed += 1
    return removed
