"""The embedded default's SQLite files (sent-message ledger, billing ledger, case archive).

The one place a store's SQLite file is created and connected to; `ops.stores` builds every SQLite
engine on these two functions, so a rule about the files (their mode, their journal) lives here.

SQLite in WAL mode, shared by every worker process on one machine, and only on one machine: its
locks do not hold across hosts (nor on network file systems), which is what PostgreSQL is for
(`COMPLAINTS_DATABASE_URL`). Switching a new file to WAL takes an exclusive lock that does not
wait on the busy timeout, so workers starting together retry that step; WAL is then a property of
the file and every later connection uses it.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from pathlib import Path

from ops.private_files import create_private_file, private_dir


def connect(path: Path, busy_timeout: float = 30.0) -> sqlite3.Connection:
    # isolation_level=None: the driver opens no transaction behind the caller's back; SQLAlchemy
    # issues BEGIN itself (ops.stores), so a statement's transaction is exactly the one asked for.
    conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
    # FULL: a record acknowledged to Temporal survives a power cut too.
    conn.execute("PRAGMA synchronous=FULL")
    # Freed pages are zeroed: a purged case record, or a record replaced by a newer one, leaves no
    # readable copy of the customer's details in free pages.
    conn.execute("PRAGMA secure_delete=ON")
    return conn


def create_file(path: Path, busy_timeout: float = 30.0) -> None:
    """Create the folder and the file in WAL mode; safe to race with other workers."""
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
            return
        except sqlite3.OperationalError as exc:
            if ("locked" not in str(exc) and "busy" not in str(exc)) or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
