"""The image's build context leaves out secret files wherever they sit, not only at the top."""

from __future__ import annotations

import re

import pytest

from settings import REPO


def _pattern(text: str) -> re.Pattern[str]:
    """Docker's .dockerignore matching: from the context root, `*` within a folder, `**` across."""
    text = text.strip().lstrip("/")
    out = ""
    i = 0
    while i < len(text):
        if text.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif text.startswith("**", i):
            out, i = out + ".*", i + 2
        elif text[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif text[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(text[i]), i + 1
    # A matched folder excludes everything under it.
    return re.compile(out + "(?:/.*)?")


def excluded(path: str) -> bool:
    verdict = False
    for line in (REPO / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        if _pattern(line[1:] if negated else line).fullmatch(path):
            verdict = not negated  # the last matching line wins, as in Docker
    return verdict


@pytest.mark.parametrize(
    "path",
    [
        ".env",
        "secrets.env",
        "deploy/.env",
        "deploy/secrets.env",
        "config/production.env",
        "deploy/.env.production",
        "deploy/codec.keys",
        "deploy/tls/client.key",
        "deploy/tls/client.pem",
        "data/archive/case-records.sqlite3",
    ],
)
def test_secret_files_in_subfolders_stay_out_of_the_image(path: str) -> None:
    assert excluded(path), f"{path} would be copied into the image"


@pytest.mark.parametrize(
    "path",
    [
        "mutants/domain/models.py",
        "mutants/run.log",
        "bench/results/2026-11-30-cost.json",
        "bench/infra.py",
        "test-artifacts/e2e/worker.log",
        "tests/e2e/conftest.py",
    ],
)
def test_development_folders_stay_out_of_the_image(path: str) -> None:
    assert excluded(path), f"{path} would be copied into the image"


@pytest.mark.parametrize(
    "path",
    [
        "worker.py",
        "codec/keyring.py",
        "deploy/.env.example",
        "config/policy.toml",
        "pyproject.toml",
        "deploy/healthcheck.py",
        "inbound/__main__.py",
        "channels/templates/closure.txt.j2",
        "ops/store_migrations/script.py.mako",
    ],
)
def test_the_code_the_image_needs_is_kept(path: str) -> None:
    assert not excluded(path)
