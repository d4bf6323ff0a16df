"""The embedded default's local stores (sent-message ledger, billing ledger, case archive).

SQLite in WAL mode, shared by every worker process on one machine. Switching a new file to WAL
takes an exclusive lock that does not wait on the busy timeout, so workers starting together
retry that step; WAL is then a property of the file and every later connection uses it.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from pathlib import Path

from ops.private_files import create_private_file, private_dir


def connect(path: Path, busy_timeout: float = 30.0) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None)
    # FULL: a record acknowledged to Temporal survives a power cut too.
    conn.execute("PRAGMA synchronous=FULL")
    return conn


def initialise(path: Path, schema: str, busy_timeout: float = 30.0) -> None:
    """Create the folder, the file in WAL mode and the schema; safe to race with other workers."""
    # 0700 folder, 0600 file: the stores hold personal data. SQLite creates -wal and -shm with the
    # database file's mode, so they are private too.
    private_dir(path.parent)
    create_private_file(path)
    deadline = time.monotonic() + busy_timeout
    delay = 0.01
    while True:
        try:
            with closing(connect(path, busy_timeout)) as conn:
                if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
                    if mode.lower() != "wal":
                        raise RuntimeError(f"SQLite would not use WAL for {path} (got {mode})")
                conn.executescript(schema)
            return
        except sqlite3.OperationalError as exc:
            if ("locked" not in str(exc) and "busy" not in str(exc)) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)


class LocalStore:
    """One store file: set up (WAL, schema) on first use, then a fresh connection per operation."""

    def __init__(self, path: Path, schema: str, busy_timeout: float = 30.0) -> None:
        self.path = path
        self._schema = schema
        self._busy_timeout = busy_timeout
        self._ready = False

    def connect(self) -> sqlite3.Connection:
        if not self._ready:
            initialise(self.path, self._schema, self._busy_timeout)
            self._ready = True
        return connect(self.path, self._busy_timeout)
