"""`python -m bench.replay_cost`: workflow CPU per case under each sandbox mode, from recorded histories.

    python -m bench.replay_cost                    # the 3-day case, 100 replays per mode
    python -m bench.replay_cost --history not_satisfied_twice --runs 50

Replays one of tests/histories/v2 with the Replayer (no server), so what is measured is the worker's
own work for the case: sandbox set-up, case code, payload conversion. Modes: `isolated` (re-imports
the workflow's modules per case), `shared_modules` (worker.py's default) and, for reference only,
no sandbox at all.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

import typer
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner, WorkflowRunner

from bench.report import build, machine
from settings import REPO
from workflows.complaint_case import ComplaintCase
from workflows.sandbox import workflow_runner

HISTORIES = REPO / "tests" / "histories" / "v2"
app = typer.Typer(add_completion=False, help=__doc__, pretty_exceptions_show_locals=False)


async def cpu_ms_per_case(path: Path, runner: WorkflowRunner, runs: int) -> float:
    replayer = Replayer(workflows=[ComplaintCase], data_converter=pydantic_data_converter, workflow_runner=runner)
    text = path.read_text()
    await replayer.replay_workflow(WorkflowHistory.from_json("warm-up", text))

    async def histories() -> AsyncIterator[WorkflowHistory]:
        for number in range(runs):
            yield WorkflowHistory.from_json(f"run-{number}", text)

    began = time.process_time()
    async with replayer.workflow_replay_iterator(histories()) as results:
        async for result in results:
            if result.replay_failure is not None:
                raise result.replay_failure
    return 1000 * (time.process_time() - began) / runs


@app.command()
def main(
    history: Annotated[str, typer.Option(help="A file name (or part of one) in tests/histories/v2.")] = (
        "acknowledged_introduced_and_closed"
    ),
    runs: Annotated[int, typer.Option(min=1)] = 100,
    json_out: Annotated[Path | None, typer.Option(help="Also write the figures as JSON (bench/results/).")] = None,
) -> None:
    matches = sorted(p for p in HISTORIES.glob("*.json") if history in p.stem)
    if not matches:
        raise typer.BadParameter(f"no history in {HISTORIES} matches {history!r}")
    modes: dict[str, WorkflowRunner] = {
        "isolated": workflow_runner(isolated=True),
        "shared_modules": workflow_runner(isolated=False),
        "no sandbox (reference only)": UnsandboxedWorkflowRunner(),
    }
    typer.echo(f"{matches[0].stem}: {runs} replays per mode")
    found: dict[str, float] = {}
    for name, runner in modes.items():
        found[name] = asyncio.run(cpu_ms_per_case(matches[0], runner, runs))
        typer.echo(f"  {name:28s} {found[name]:6.1f} ms CPU per case")
    if json_out:
        document = {
            "bench": "replay_cost",
            "history": matches[0].name,
            "runs": runs,
            "cpu_ms_per_case": found,
            "machine": machine() | {"loadavg_at_end": list(os.getloadavg())},
            "build": build(),
        }
        json_out.write_text(json.dumps(document, indent=1) + "\n")


if __name__ == "__main__":
    app()
