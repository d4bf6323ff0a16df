"""With COMPLAINTS_REQUIRE_ENCRYPTION on, no process starts without keys (before it reaches Temporal)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from settings import REPO

REQUIRED_WITHOUT_KEYS = {
    "COMPLAINTS_REQUIRE_ENCRYPTION": "true",
    # Nothing listens here: a process that got as far as connecting would say so instead.
    "TEMPORAL_ADDRESS": "127.0.0.1:9",
}


def _run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPLAINTS_CODEC_")} | REQUIRED_WITHOUT_KEYS
    env.pop("COMPLAINTS_SECRETS_FILE", None)
    return subprocess.run(
        [sys.executable, *args], env=env, cwd=REPO, input=stdin, capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize(
    ("args", "exit_code"),
    [
        (["worker.py"], 2),
        (["starter.py", "examples/broadband-outage-email.json"], 3),
        (["admin.py", "status", "CC-2026-4F7K2QXY"], 1),
        (["-m", "codec.server"], 2),
        (["-m", "ops.run_local"], 2),
        (["-m", "inbound"], 2),
    ],
)
def test_every_process_refuses_to_start_without_keys_when_encryption_is_required(
    args: list[str], exit_code: int
) -> None:
    result = _run(*args)

    assert result.returncode == exit_code, result.stdout + result.stderr
    said = (result.stdout + result.stderr).lower()
    assert "no codec keys" in said or "no keys configured" in said, said
    assert "could not reach" not in said and "cannot reach" not in said
