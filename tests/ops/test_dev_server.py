"""The embedded server's SQLite file (`make run`'s data/temporal.sqlite) holds customers' details:
private to its owner from the first byte, whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from ops.dev_server import start_dev_server


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A host's usual umask (022), under which a new file is readable by every local user."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def modes(folder: Path) -> dict[str, int]:
    return {path.name: stat.S_IMODE(path.stat().st_mode) for path in folder.iterdir()}


def test_the_dev_servers_database_and_log_are_created_0600(tmp_path: Path, open_umask: None) -> None:
    server = start_dev_server(db_file=tmp_path / "temporal.sqlite", log_file=tmp_path / "temporal-server.log")
    server.stop()
    found = modes(tmp_path)
    assert "temporal.sqlite" in found
    assert found == dict.fromkeys(found, 0o600), found


def test_a_database_left_readable_by_an_earlier_run_is_made_private_at_start(tmp_path: Path, open_umask: None) -> None:
    database = tmp_path / "temporal.sqlite"
    start_dev_server(db_file=database).stop()
    database.chmod(0o644)  # as a server started before this rule left it
    start_dev_server(db_file=database).stop()
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
