"""Files and folders holding customers' personal data: created 0600 and 0700, whatever the umask.

The archive, ledgers, outbox, post room and alerts all hold names, addresses and account numbers;
on a shared host a 0644 file in a 0755 folder is readable by every local user and service.
Only what the pipeline creates is set: an operator's existing folder keeps the mode they chose.
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create `path` and any missing parents with mode 0700 (mkdir(parents=True) would use 0777)."""
    path = Path(path)
    missing = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:
            continue  # another worker made it first
        os.chmod(folder, PRIVATE_DIR_MODE)  # the umask cannot widen 0700, but a custom mkdir could
    return path


def private_opener(path: str, flags: int) -> int:
    """`open(..., opener=private_opener)`: a file it creates is 0600 from the first byte."""
    return os.open(path, flags, PRIVATE_FILE_MODE)


def create_private_file(path: Path) -> None:
    """Create an empty 0600 file if absent (SQLite then gives its -wal and -shm files that mode too)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))
    except FileExistsError:
        pass
