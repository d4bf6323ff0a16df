"""What the scripts print: nothing an intake system's log should not hold, and no markup injection."""

from __future__ import annotations

import json

import pytest

from tests.e2e.conftest import Stack
from tests.e2e.test_case_end_to_end import fresh_example

pytestmark = pytest.mark.e2e


def test_the_starter_prints_the_reference_but_not_the_customer_or_the_intake_id(stack: Stack) -> None:
    complaint = fresh_example(intake_id="crm-7f3a-leak-check")
    name = json.loads(complaint)["customer"]["name"]

    for _ in range(2):  # the first filing, then the retry that finds the case
        filed = stack.run("starter.py", "-", stdin=complaint)
        assert filed.returncode == 0, filed.stderr
        assert name not in filed.stdout
        assert "crm-7f3a-leak-check" not in filed.stdout
        assert filed.stdout.strip().splitlines()[-1].startswith("CC-")


def test_admin_status_prints_a_note_with_rich_markup_literally(stack: Stack) -> None:
    reference = stack.file(fresh_example())
    stack.wait_for(reference, lambda d: d["stage"] != "received")
    note = "Customer wrote [/bold] and [link=https://evil.example]click here[/link]"
    added = stack.run("admin.py", "note", reference, note)
    assert added.returncode == 0, added.stderr

    shown = stack.run("admin.py", "status", reference)

    assert shown.returncode == 0, shown.stderr
    assert "[/bold]" in shown.stdout
    assert "[link=https://evil.example]" in shown.stdout
    assert "\x1b]8;" not in shown.stdout  # no terminal hyperlink escape
