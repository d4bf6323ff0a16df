"""Has a case reference ever been used? Asked by the starter before it opens a case.

Temporal's `REJECT_DUPLICATE` only sees cases it still retains (30 days after closing by
default). After that, a reference lives on in the stores the pipeline writes: the case archive
(record or tombstone, for two years and more), the sent-message ledger (keys begin with the
reference) and the billing ledger. Reusing one would make the ledger answer the new case's
acknowledgement as "already sent" and mix two customers' evidence, so any trace makes the
reference used.

Read-only: the starter never creates a store. Where the starter cannot see the data folder (an
intake host without the worker's volume), this finds nothing and the 8-character code plus
Temporal's own check are what remains (docs/security.md).
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from domain.models import CaseRecord


class ReferenceRegistryError(Exception):
    """A store exists but cannot be read: no case is opened rather than one that may reuse a reference."""


@dataclass(frozen=True)
class ReferenceUse:
    where: str  # which store holds it, for the log line and the test
    intake_id: str | None = None  # the archived case's intake id, when the archive holds its record


class ReferenceRegistry:
    def __init__(self, data_dir: Path) -> None:
        self._data = Path(data_dir)
        # One read-only connection per store, opened once the store exists and then kept: an intake
        # system files complaint after complaint, and opening a store (reading its schema) cost more
        # than the look-up itself (issue #15). In autocommit mode each read sees every commit so far.
        self._stores: dict[Path, sqlite3.Connection] = {}
        self._lock = threading.Lock()  # file_complaint may be called from several threads

    def close(self) -> None:
        with self._lock:
            for db in self._stores.values():
                db.close()
            self._stores.clear()

    def find(self, reference: str) -> ReferenceUse | None:
        archived = self._archive(reference)
        if archived is not None:
            return archived
        if self._any_row(
            self._data / "sent-messages.sqlite3",
            # The primary key's index answers a range query: keys are `<reference>/<...>`.
            "SELECT 1 FROM sent_messages WHERE key >= ? AND key < ? LIMIT 1",
            (reference + "/", reference + "0"),  # '0' is the character after '/'
        ):
            return ReferenceUse("sent-message ledger")
        if self._any_row(
            self._data / "billing-ledger.sqlite3",
            "SELECT 1 FROM invoice_credits WHERE reference = ? LIMIT 1",
            (reference,),
        ):
            return ReferenceUse("billing ledger")
        return None

    def _archive(self, reference: str) -> ReferenceUse | None:
        rows = self._rows(
            self._data / "archive" / "case-records.sqlite3",
            "SELECT record FROM case_records WHERE reference = ?",
            (reference,),
        )
        if not rows:
            return None
        record = rows[0][0]
        if record is None:  # purged: the reference is spent, whose it was is forgotten
            return ReferenceUse("archive (purged)")
        try:
            intake_id = CaseRecord.model_validate_json(record).intake.intake_id
        except ValidationError:
            intake_id = None
        return ReferenceUse("archive", intake_id)

    def _any_row(self, path: Path, query: str, args: tuple[str, ...]) -> bool:
        return bool(self._rows(path, query, args))

    def _rows(self, path: Path, query: str, args: tuple[str, ...]) -> list[tuple[Any, ...]]:
        # mode=ro: looking never creates or changes a store. A store that exists but cannot be read
        # is an error: better no case than a case that may reuse a reference.
        with self._lock:
            try:
                db = self._stores.get(path)
                if db is None:
                    if not path.exists():
                        return []
                    db = sqlite3.connect(
                        f"{path.resolve().as_uri()}?mode=ro",
                        uri=True,
                        timeout=30,
                        isolation_level=None,
                        check_same_thread=False,
                    )
                    self._stores[path] = db
                return db.execute(query, args).fetchall()
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):
                    return []
                self._forget(path)
                raise ReferenceRegistryError(f"cannot read {path}: {exc}") from None
            except (OSError, sqlite3.Error) as exc:
                self._forget(path)
                raise ReferenceRegistryError(f"cannot read {path}: {exc}") from None

    def _forget(self, path: Path) -> None:
        """After a failure the store is opened afresh next time (it may have been replaced)."""
        db = self._stores.pop(path, None)
        if db is not None:
            db.close()
