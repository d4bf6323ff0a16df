"""Files a complaint: validates it, gives it a case reference and starts its workflow.

    python starter.py examples/broadband-outage-email.json
    cat complaint.json | python starter.py -

The case reference is the last line of stdout. Bad input exits 2 with one line per wrong field,
and starts nothing. Intake systems can import `file_complaint` instead of running the script.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from temporalio.client import Client
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from zoneinfo import ZoneInfo

from activities.archive import CaseArchive
from connection import connect, run_cli
from domain import search_attributes as sa
from domain.models import CaseInput, CaseStage, ComplaintIntake, ComplaintPolicy, field_errors
from domain.reference import new_reference, reference_for_intake
from ops import stores
from settings import ConfigError, PipelineSettings, load_policy
from workflows.complaint_case import ComplaintCase


@dataclass(frozen=True)
class FiledCase:
    reference: str
    started: bool  # False: this intake was filed before, and that case is returned


class IntakeRejected(Exception):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


def parse_intake(text: str | bytes) -> ComplaintIntake:
    """Validate a complaint as JSON text; IntakeRejected lists each wrong field."""
    try:
        return ComplaintIntake.from_intake(text)
    except ValidationError as exc:
        raise IntakeRejected(field_errors(exc)) from None


async def file_complaint(
    client: Client,
    intake: ComplaintIntake,
    *,
    policy: ComplaintPolicy,
    task_queue: str,
    archive: CaseArchive | None = None,
) -> FiledCase:
    """Start the case for a validated complaint, at most once per `intake_id`."""
    year = intake.received_at.astimezone(ZoneInfo(policy.calendar.timezone)).year
    for attempt in range(5):
        if intake.intake_id:
            # Same intake id, same reference; a salt only on the (1 in 10^9) clash with another intake.
            salt = "" if attempt == 0 else f"#{attempt}"
            reference = reference_for_intake(year, intake.intake_id + salt)
        else:
            reference = new_reference(year)
        # With the case archive (what starter.py passes), a reference the archive holds is refused
        # too: Temporal forgets a closed case after its retention, the archive keeps its reference
        # for years, and a reused reference would put a second case's record over the first's.
        if archive is not None:
            archived, archived_intake = await asyncio.to_thread(archive.filed_from, reference)
            if archived:
                if intake.intake_id is not None and archived_intake == intake.intake_id:
                    return FiledCase(reference, started=False)  # filed before; archived since
                continue  # another case's reference (or one whose record was purged): draw another
        try:
            handle = await client.start_workflow(
                ComplaintCase.run,
                CaseInput(reference=reference, intake=intake, policy=policy),
                id=reference,
                task_queue=task_queue,
                # A reference is never reused, even after the case closes; a clash is answered below.
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                **case_start_details(reference, intake),
            )
        except WorkflowAlreadyStartedError:
            if intake.intake_id is None:
                continue  # a random reference clashed: draw another
            # Filed before (a retry), or another intake's reference: the case's own input says which.
            # Only this path reads it, so filing a new complaint is one round trip carrying nothing
            # the case does not need.
            if await _filed_from(client, reference) == intake.intake_id:
                return FiledCase(reference, started=False)
            continue
        return FiledCase(handle.id, started=True)
    raise RuntimeError("could not find a free case reference after 5 attempts")


async def _filed_from(client: Client, reference: str) -> str | None:
    """The intake id a case was started for, from its first run's started event."""
    handle = client.get_workflow_handle(reference)
    async for event in handle.fetch_history_events():
        payloads = event.workflow_execution_started_event_attributes.input.payloads
        [started] = await client.data_converter.decode(payloads, [CaseInput])
        return started.intake.intake_id
    return None


def case_start_details(reference: str, intake: ComplaintIntake) -> dict[str, Any]:
    """What a case's start carries besides its input: how staff find and read it in the Web UI."""
    return {
        "static_summary": f"Complaint {reference} from {intake.customer.name}",
        "static_details": f"Received {intake.received_at.isoformat()} by {intake.source.value}; "
        f"account {intake.account_number}",
        # Set at start so a case is findable in the Web UI before its first workflow task runs.
        "search_attributes": TypedSearchAttributes(
            [
                SearchAttributePair(sa.CASE_REFERENCE, reference),
                SearchAttributePair(sa.CASE_STAGE, CaseStage.RECEIVED.value),
                SearchAttributePair(sa.RECEIVED_AT, intake.received_at),
            ]
        ),
    }


app = typer.Typer(add_completion=False, help=__doc__, pretty_exceptions_show_locals=False)


@app.command()
def main(
    complaint_file: Annotated[str, typer.Argument(help="JSON complaint file, or - for stdin")],
) -> None:
    """File one complaint and print its case reference."""
    try:
        text = sys.stdin.read() if complaint_file == "-" else Path(complaint_file).read_text()
    except OSError as exc:
        typer.echo(f"cannot read {complaint_file}: {exc.strerror}", err=True)
        raise typer.Exit(2) from None
    try:
        intake = parse_intake(text)
        policy = load_policy()
    except IntakeRejected as exc:
        typer.echo("complaint refused, nothing was started:", err=True)
        for line in exc.errors:
            typer.echo(f"  {line}", err=True)
        raise typer.Exit(2) from None
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(3) from None

    settings = PipelineSettings()

    # The archive the workers write (the data folder's, or COMPLAINTS_DATABASE_URL's): it knows
    # every reference ever used, after Temporal has forgotten the case.
    archive = CaseArchive(stores.locate(settings, stores.CASE_ARCHIVE))

    async def run() -> FiledCase:
        client = await connect(settings)
        return await file_complaint(client, intake, policy=policy, task_queue=settings.task_queue, archive=archive)

    try:
        filed = asyncio.run(run())
    except RuntimeError as exc:
        typer.echo(f"could not reach Temporal at {settings.temporal_address}: {exc}", err=True)
        raise typer.Exit(1) from None
    if filed.started:
        typer.echo(f"case opened for {intake.customer.name}")
    else:
        typer.echo(f"intake {intake.intake_id} was filed before; returning its case")
    typer.echo(filed.reference)


if __name__ == "__main__":
    run_cli(app)
