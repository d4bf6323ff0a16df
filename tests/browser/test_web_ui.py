"""A manager finds a new complaint in the Temporal Web UI by its reference and sees its stage.

Real processes throughout: the dev server with its UI, worker.py, starter.py, admin.py, and a
headless Chromium reading the pages a person would read. Screenshots land in test-artifacts/browser/.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from domain.reference import is_reference
from tests.browser.chromium import Chromium
from tests.e2e.conftest import Stack
from tests.e2e.test_case_end_to_end import fresh_example

pytestmark = pytest.mark.e2e

# In UI 2.x the list is filtered by a visibility query in `?query=`; the rows link each workflow id
# to /namespaces/<ns>/workflows/<id>/<run id>/..., and the run page has a Search Attributes tab
# rendering the attributes as JSON in a read-only CodeMirror editor.
NAMESPACE = "default"
SETTLED = "No Workflows Found"


def workflows_url(stack: Stack, query: str) -> str:
    return f"http://127.0.0.1:{stack.server.ui_port}/namespaces/{NAMESPACE}/workflows?query={quote(query)}"


def link_to_case(reference: str) -> str:
    """JS: the <a> in the results table that opens this case, or null."""
    return (
        f"[...document.querySelectorAll('a')].find(a => a.innerText.trim() === {json.dumps(reference)}"
        f" && (a.getAttribute('href') || '').includes('/workflows/' + {json.dumps(reference)} + '/')) || null"
    )


async def find_in_list(browser: Chromium, url: str, reference: str, timeout: float = 20) -> None:
    """Open the filtered list until the case's row is there; visibility is eventually consistent."""
    deadline = time.monotonic() + timeout
    row = f"!!({link_to_case(reference)})"
    while True:
        await browser.goto(url)
        outcome = await browser.wait_until(
            f"{row} ? 'found' : (document.body.innerText.includes({json.dumps(SETTLED)}) ? 'empty' : '')",
            timeout=max(deadline - time.monotonic(), 1),
            what=f"the workflow list for {url}",
        )
        if outcome == "found":
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{reference} is not in the list at {url}:\n{await browser.text()}")
        await asyncio.sleep(0.5)


async def shown_case_stage(browser: Chromium) -> str:
    """The CaseStage value on the Search Attributes tab that is open."""
    block = await browser.wait_until(
        "[...document.querySelectorAll('main .cm-content')]"
        ".map(e => e.innerText).find(t => t.includes('\"CaseStage\"')) || ''",
        what="the CaseStage search attribute",
    )
    match = re.search(r'"CaseStage"\s*:\s*"([^"]*)"', block)
    assert match, block
    return match.group(1)


def file_a_complaint(stack: Stack) -> str:
    filed = stack.run("starter.py", "-", stdin=fresh_example())
    assert filed.returncode == 0, filed.stderr
    reference = filed.stdout.strip().splitlines()[-1]
    assert is_reference(reference), filed.stdout
    return reference


async def test_a_manager_finds_a_new_complaint_and_its_stage_in_the_web_ui(
    chromium_executable: str, stack: Stack, artifacts: Path
) -> None:
    reference = file_a_complaint(stack)
    status = await asyncio.to_thread(stack.wait_for, reference, lambda d: d["stage"] != "received")
    assert status["stage"] != "received", status

    async with Chromium(chromium_executable, log_file=artifacts / "chromium.log") as browser:
        try:
            # 1. The workflows list filtered by the case reference shows the case.
            await find_in_list(browser, workflows_url(stack, f'CaseReference="{reference}"'), reference)
            assert "ComplaintCase" in await browser.text()
            await browser.screenshot(artifacts / "case-list-by-reference.png")

            # 2. Clicking the workflow id opens the case; its Search Attributes tab shows the stage.
            await browser.evaluate(f"({link_to_case(reference)}).click()")
            await browser.wait_until(
                "[...document.querySelectorAll('a')].some(a => a.innerText.trim() === 'Search Attributes')",
                what="the case page's Search Attributes tab",
            )
            await browser.wait_until(
                f"(document.querySelector('h1') || {{innerText: ''}}).innerText.includes({json.dumps(reference)})",
                what=f"{reference} as the page heading",
            )
            tab = await browser.evaluate(
                "[...document.querySelectorAll('a')].find(a => a.innerText.trim() === 'Search Attributes').href"
            )
            deadline = time.monotonic() + 20
            while True:  # the stage can move on (acknowledged -> investigating) while we look
                await browser.goto(tab)
                shown = await shown_case_stage(browser)
                stage = (await asyncio.to_thread(stack.status, reference))["stage"]
                if shown == stage or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)
            assert shown == stage, f"the UI shows CaseStage {shown!r}, admin.py says {stage!r}"
            assert shown != "received"
            assert f'"CaseReference": "{reference}"' in await browser.text()
            await browser.screenshot(artifacts / "case-search-attributes.png")

            # 3. Filtering by stage, as a manager's saved view would, finds the same case.
            await find_in_list(
                browser, workflows_url(stack, f'CaseStage="{stage}" AND CaseReference="{reference}"'), reference
            )
            await browser.screenshot(artifacts / "case-list-by-stage.png")
        except BaseException:
            with contextlib.suppress(Exception):  # the failure itself is what must surface
                await browser.screenshot(artifacts / "failure.png")
            raise
