"""The e2e stack with the Temporal Web UI switched on, and a headless Chromium to look at it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from ops.dev_server import DevServer, free_port, start_dev_server
from settings import REPO
from tests.browser.chromium import find_chromium
from tests.e2e.conftest import Stack, stack  # noqa: F401  (`stack` is a fixture: it uses our `dev_server`)

ARTIFACTS = REPO / "test-artifacts" / "browser"
INSTALL_HINT = "apt-get install -y --no-install-recommends chromium"


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    """Overrides the e2e server: the same real server, plus the Web UI on a free port."""
    folder = tmp_path_factory.mktemp("temporal-ui")
    server = start_dev_server(ui_port=free_port(), db_file=folder / "temporal.sqlite", log_file=folder / "server.log")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    """Debian's chromium; missing is a failure in CI (it must be installed there) and a skip on a laptop."""
    found = find_chromium()
    if found is None:
        message = f"headless Chromium is not installed: `{INSTALL_HINT}` (Debian package `chromium`)"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return found


@pytest.fixture
def artifacts() -> Path:
    """Screenshots for a person to look at; last run's are removed so none is mistaken for this run's."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in [*ARTIFACTS.glob("*.png"), *ARTIFACTS.glob("*.log")]:
        old.unlink()
    return ARTIFACTS
