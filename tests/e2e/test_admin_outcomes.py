"""admin.py answers in bounded time with one line, and a retried command never applies twice.

Real processes: the dev server, worker.py started and stopped by the test, starter.py, admin.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import ALL_HOURS, Stack, running_stack
from tests.e2e.test_case_end_to_end import fresh_example

pytestmark = pytest.mark.e2e
WAIT = ("--wait", "3")


@pytest.fixture
def idle_stack(dev_server, tmp_path: Path) -> Iterator[Stack]:
    """A stack whose worker is not running until the test starts it."""
    with running_stack(dev_server, tmp_path, worker=False) as stack:
        yield stack


def request_id(stdout: str) -> str:
    match = re.search(r"^request id: ([0-9a-f]+) ", stdout, re.MULTILINE)
    assert match, stdout
    return match[1]


def test_a_note_with_no_worker_running_says_so_and_its_retry_applies_once(idle_stack: Stack) -> None:
    reference = idle_stack.file(fresh_example(), **ALL_HOURS)

    sent = idle_stack.run("admin.py", *WAIT, "note", reference, "Engineer booked for Friday", "--for-customer")
    assert sent.returncode == 3, sent.stdout + sent.stderr
    request = request_id(sent.stdout)
    [outcome] = [line for line in sent.stdout.splitlines() if not line.startswith("request id:")]
    assert outcome.startswith(f"{reference}: sent; not yet applied because no worker is running")
    assert f"once a worker runs, run the same command with --request-id {request}: it applies once" in outcome
    assert "Traceback" not in sent.stderr

    # The server hands the held update to the first worker that polls; the retry finds it applied.
    idle_stack.start_worker()
    retried = idle_stack.run(
        "admin.py",
        "--wait",
        "30",
        "note",
        reference,
        "Engineer booked for Friday",
        "--for-customer",
        "--request-id",
        request,
    )
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert f"{reference}: note 1 recorded (for the customer" in retried.stdout
    again = idle_stack.run(
        "admin.py",
        "--wait",
        "30",
        "note",
        reference,
        "Engineer booked for Friday",
        "--for-customer",
        "--request-id",
        request,
    )
    assert again.returncode == 0 and f"{reference}: note 1 recorded" in again.stdout, again.stdout + again.stderr

    notes = idle_stack.status(reference)["notes"]
    assert [n["text"] for n in notes if n["author"] != "deadlock"] == ["Engineer booked for Friday"]


def test_compensation_retried_with_its_request_id_credits_once(stack: Stack) -> None:
    reference = stack.file(fresh_example(), **ALL_HOURS)
    stack.wait_for(reference, lambda d: d["owner"] is not None)
    args = ("admin.py", "--wait", "30", "compensate", reference, "--amount", "25.00", "--reason", "Two missed visits")

    first = stack.run(*args)
    assert first.returncode == 0, first.stdout + first.stderr
    request = request_id(first.stdout)
    second = stack.run(*args, "--request-id", request)
    assert second.returncode == 0, second.stdout + second.stderr

    credited = [line for line in first.stdout.splitlines() if "credited" in line]
    assert credited and credited == [line for line in second.stdout.splitlines() if "credited" in line]
    assert len(stack.status(reference)["compensations"]) == 1

    # A new request (no --request-id) is a new award.
    third = stack.run(*args)
    assert third.returncode == 0 and request_id(third.stdout) != request
    assert len(stack.status(reference)["compensations"]) == 2


def test_status_right_after_the_worker_dies_gives_one_line_reason(idle_stack: Stack) -> None:
    idle_stack.start_worker()
    reference = idle_stack.file(fresh_example(), **ALL_HOURS)
    idle_stack.wait_for(reference, lambda d: d["stage"] != "received")
    idle_stack.stop_worker(kill=True)

    result = idle_stack.run("admin.py", *WAIT, "status", reference)
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"refused: case {reference} is open but did not answer within 3 s: ")
    assert "start worker.py" in lines[0]
    assert "Timeout expired" not in result.stderr and "Traceback" not in result.stderr


def test_a_server_that_is_down_gets_one_line_and_a_non_zero_exit(idle_stack: Stack) -> None:
    down = {"TEMPORAL_ADDRESS": "127.0.0.1:1"}
    for command in (("status", "CC-2026-4F7K2Q"), ("note", "CC-2026-4F7K2Q", "hello"), ("list", "--open")):
        result = idle_stack.run("admin.py", *WAIT, *command, env=down)
        assert result.returncode == 1, result.stdout + result.stderr
        assert result.stderr.startswith("cannot reach the Temporal server at 127.0.0.1:1: ")
        assert result.stderr.count("\n") == 1, result.stderr
