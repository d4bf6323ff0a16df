"""`make check` type-checks the code strictly, with the pydantic plugin: mistakes in a model's use fail it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def type_check(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    """mypy, configured as `make check` runs it, over one module of our own."""
    module = tmp_path / "complaint_note.py"
    module.write_text(source)
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(REPO / "pyproject.toml"), str(module)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_an_unannotated_function_fails_the_check(tmp_path: Path) -> None:
    checked = type_check(tmp_path, "def note_for(reference):\n    return reference\n")
    assert checked.returncode == 1
    assert "[no-untyped-def]" in checked.stdout


def test_a_misspelt_field_in_model_construct_fails_the_check(tmp_path: Path) -> None:
    # Only the pydantic plugin types model_construct's fields; without it any keyword passes.
    source = (
        "from pydantic import BaseModel\n\n\n"
        "class Note(BaseModel):\n    text: str\n\n\n"
        'note = Note.model_construct(txt="Engineer booked for Friday")\n'
    )
    checked = type_check(tmp_path, source)
    assert checked.returncode == 1
    assert 'Unexpected keyword argument "txt"' in checked.stdout


def test_a_well_typed_module_passes_quietly(tmp_path: Path) -> None:
    checked = type_check(tmp_path, "def note_for(reference: str) -> str:\n    return reference\n")
    assert checked.returncode == 0, checked.stdout


def test_make_check_runs_the_type_check() -> None:
    planned = subprocess.run(["make", "-n", "check"], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert planned.returncode == 0, planned.stderr
    assert "-m mypy" in planned.stdout
