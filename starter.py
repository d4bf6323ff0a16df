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
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from pydantic import ValidationError
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.archive import CaseArchive
from codec.converter import EncryptionRequiredError
from connection import connect, run_cli
from domain import search_attributes as sa
from domain.calendar import WorkingCalendar
from domain.models import (
    CaseInput,
    CaseStage,
    CaseState,
    CaseSummary,
    ComplaintIntake,
    ComplaintPolicy,
    Customer,
    NotSatisfied,
    field_errors,
)
from domain.ownership import can_reopen, reopen_by
from domain.reference import legacy_reference_for_intake, new_reference, reference_for_intake
from ops import stores
from ops.contact_keys import configured_secret, contact_keys
from ops.reference_registry import ReferenceRegistry, ReferenceRegistryError
from ops.secrets_file import WeakSecretError
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
    registry: ReferenceRegistry | None = None,
    archive: CaseArchive | None = None,
    contact_key_secret: str | None = None,
) -> FiledCase:
    """Start the case for a validated complaint, at most once per `intake_id`.

    `contact_key_secret` (default: COMPLAINTS_CONTACT_KEY_SECRET, if configured) keys the hashes
    of the customer's number and address set as `CustomerContactKeys`, so a reply finds the case.

    A reference is never reused: before starting, `registry` (default: the data folder in
    PipelineSettings) is asked whether the archive or a ledger has ever seen it, because Temporal's
    REJECT_DUPLICATE forgets a case once its retention ends.
    """
    # A policy built in code skips load_policy's checks; a calendar that cannot be built (a working
    # day with no working time) would fail the case's first step for ever, so refuse it here.
    WorkingCalendar.from_spec(policy.calendar, [])
    if registry is None:
        registry = ReferenceRegistry(PipelineSettings().data_dir)
    contact_key_secret = contact_key_secret or configured_secret()
    year = intake.received_at.astimezone(ZoneInfo(policy.calendar.timezone)).year
    if intake.intake_id:
        earlier = await _filed_before_widening(client, registry, year, intake.intake_id)
        if earlier is not None:
            return FiledCase(earlier, started=False)
    for attempt in range(5):
        if intake.intake_id:
            # Same intake id, same reference; a salt only on a clash with another intake.
            salt = "" if attempt == 0 else f"#{attempt}"
            reference = reference_for_intake(year, intake.intake_id + salt)
        else:
            reference = new_reference(year)
        used = registry.find(reference)
        if used is not None:
            if intake.intake_id and (
                # A retry after Temporal's retention: the archived case is this intake's.
                used.intake_id == intake.intake_id
                # A retry of a live case, which has already sent or credited something.
                or (used.intake_id is None and await _filed_from_if_known(client, reference) == intake.intake_id)
            ):
                return FiledCase(reference, started=False)
            continue  # another case's reference, even if Temporal has forgotten it
        # On PostgreSQL stores (COMPLAINTS_DATABASE_URL) the registry's data-folder files are not
        # where the archive is: the shared database's archive is asked as well.
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
                **case_start_details(reference, intake, contact_key_secret=contact_key_secret),
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


class CannotReopen(Exception):
    """The case cannot be re-opened (beyond the window, or it ended another way): one line why."""


def _too_late_to_reopen(reference: str, closed_at: datetime, policy: ComplaintPolicy, said_at: datetime | None) -> str:
    """The refusal, with the last day the closure named, on the policy's clock."""
    zone = ZoneInfo(policy.calendar.timezone)
    why = (
        f"case {reference} closed on {closed_at.astimezone(zone):%d %b %Y} and could be re-opened until the end "
        f"of {reopen_by(closed_at, policy).astimezone(zone):%d %b %Y} ({policy.reopen_window_weeks} weeks)"
    )
    if said_at is not None:
        why += f"; the customer said this on {said_at.astimezone(zone):%d %b %Y}"
    return why + ": file a new complaint"


async def final_state(client: Client, summary: CaseSummary, *, archive: CaseArchive | None = None) -> CaseState:
    """A closed case's final state: its result's until v4; since v4 (a small result) the compliance
    record it archived as it closed, when `archive` holds that closing, else a query on the closed
    run, which any worker on its task queue answers from the run's history."""
    if summary.state is not None:
        return summary.state
    if archive is not None:
        record, _ = await asyncio.to_thread(archive.load, summary.reference)
        if record is not None and record.state.closed_at == summary.closed_at:
            # Archived in the closing task: `archived_at` is when the record was made.
            return record.state.model_copy(update={"archived_at": record.recorded_at})
    # The latest run: the one whose result this is (a re-opened case's new run has not started).
    return await client.get_workflow_handle_for(ComplaintCase.run, summary.reference).query(ComplaintCase.case_state)


async def reopen_case(
    client: Client,
    reference: str,
    fact: NotSatisfied,
    *,
    now: datetime | None = None,
    contact_key_secret: str | None = None,
) -> str:
    """The customer is not satisfied: escalate an open case, or re-open a closed one within the
    policy's window as a new run of the same case (same reference, its whole record carried), so
    the closure letter's promise to re-open is kept. Returns "escalated" or "re-opened".

    Why a new run rather than a workflow that waits after closure: a closed case completes, so
    "Running" keeps meaning "open" for every query, report and dashboard, and the re-open is a
    clear second run in the case's history.
    """
    handle = client.get_workflow_handle_for(ComplaintCase.run, reference)
    try:
        await handle.signal(ComplaintCase.customer_not_satisfied, fact)
        return "escalated"
    except RPCError as err:
        if err.status is not RPCStatusCode.NOT_FOUND:
            raise
    # Not running: the latest run's own history says how it ended, with what, and where it ran.
    events = (await handle.fetch_history()).events
    if not events:
        raise CannotReopen(f"there is no case {reference}")
    ended = events[-1]
    if ended.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
        how = EventType.Name(ended.event_type).removeprefix("EVENT_TYPE_WORKFLOW_EXECUTION_").lower()
        raise CannotReopen(f"case {reference} ended {how}, not closed by the customer: it cannot be re-opened")
    started = events[0].workflow_execution_started_event_attributes
    [case_input] = await client.data_converter.decode(started.input.payloads, [CaseInput])
    [summary] = await client.data_converter.decode(
        ended.workflow_execution_completed_event_attributes.result.payloads, [CaseSummary]
    )
    # The closure told the customer "contact us by <date>": when they said it decides, not when a
    # handler got to it (the managers' notice of a reply gives its time for --said-at).
    told_at = fact.said_at or now or datetime.now(UTC)
    if not can_reopen(told_at, summary.closed_at, case_input.policy):
        raise CannotReopen(_too_late_to_reopen(reference, summary.closed_at, case_input.policy, fact.said_at))
    closed = await final_state(client, summary)
    try:
        await client.start_workflow(
            ComplaintCase.run,
            CaseInput(
                reference=reference,
                intake=case_input.intake,
                policy=case_input.policy,
                carried_state=closed,
                reopened_by=fact,
            ),
            id=reference,
            task_queue=started.task_queue.name,
            # Only a completed run of this same case can be followed by another.
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            # The contact details as last corrected: a reply from the new number finds the case.
            **case_start_details(
                reference,
                case_input.intake,
                customer=closed.customer,
                contact_key_secret=contact_key_secret or configured_secret(),
            ),
        )
    except WorkflowAlreadyStartedError:
        # Re-opened a moment ago by someone else: this answer escalates the re-opened case.
        await handle.signal(ComplaintCase.customer_not_satisfied, fact)
        return "escalated"
    return "re-opened"


async def _filed_before_widening(client: Client, registry: ReferenceRegistry, year: int, intake_id: str) -> str | None:
    """The six-character case an intake was filed under before references were widened, if any.

    One extra lookup per intake with an id; remove once no such case can be retried (every
    six-character case closed and past retention).
    """
    legacy = legacy_reference_for_intake(year, intake_id)
    used = registry.find(legacy)
    if used is not None and used.intake_id == intake_id:
        return legacy
    return legacy if await _filed_from_if_known(client, legacy) == intake_id else None


async def _filed_from_if_known(client: Client, reference: str) -> str | None:
    """`_filed_from`, or None when Temporal holds no case under that reference."""
    try:
        return await _filed_from(client, reference)
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return None
        raise


async def _filed_from(client: Client, reference: str) -> str | None:
    """The intake id a case was started for, from its first run's started event."""
    handle = client.get_workflow_handle(reference)
    async for event in handle.fetch_history_events():
        payloads = event.workflow_execution_started_event_attributes.input.payloads
        started: CaseInput
        [started] = await client.data_converter.decode(payloads, [CaseInput])
        return started.intake.intake_id
    return None


def case_start_details(
    reference: str,
    intake: ComplaintIntake,
    *,
    customer: Customer | None = None,
    contact_key_secret: str | None = None,
) -> dict[str, Any]:
    """What a case's start carries besides its input: how staff find and read it in the Web UI.

    Reference, stage, date and source only: the summary and details are user metadata, stored
    in plain text wherever a process runs without keys and shown to anyone who opens the UI, so
    the customer's name and account number stay in the (encrypted) input. With a contact-key
    secret, `CustomerContactKeys` too: keyed hashes of the customer's number and address (of
    `customer`, the details as corrected, when given), never the details themselves.
    """
    attributes: list[SearchAttributePair[Any]] = [
        SearchAttributePair(sa.CASE_REFERENCE, reference),
        SearchAttributePair(sa.CASE_STAGE, CaseStage.RECEIVED.value),
        SearchAttributePair(sa.RECEIVED_AT, intake.received_at),
    ]
    if contact_key_secret:
        who = customer or intake.customer
        keys = contact_keys(contact_key_secret, phone=who.phone, email=who.email)
        if keys:
            attributes.append(SearchAttributePair(sa.CUSTOMER_CONTACT_KEYS, keys))
    return {
        "static_summary": f"Complaint {reference}",
        "static_details": f"Stage {CaseStage.RECEIVED.value}; received {intake.received_at.isoformat()} "
        f"by {intake.source.value}",
        # Set at start so a case is findable in the Web UI before its first workflow task runs.
        "search_attributes": TypedSearchAttributes(attributes),
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
        contact_key_secret = configured_secret()
    except IntakeRejected as exc:
        typer.echo("complaint refused, nothing was started:", err=True)
        for line in exc.errors:
            typer.echo(f"  {line}", err=True)
        raise typer.Exit(2) from None
    except (ConfigError, WeakSecretError) as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(3) from None

    settings = PipelineSettings()

    # The shared database's archive (COMPLAINTS_DATABASE_URL) knows every reference ever used, after
    # Temporal has forgotten the case; with the SQLite default the registry reads the data folder's.
    archive = CaseArchive(stores.locate(settings, stores.CASE_ARCHIVE)) if settings.database_url else None

    async def run() -> FiledCase:
        client = await connect(settings)
        return await file_complaint(
            client,
            intake,
            policy=policy,
            task_queue=settings.task_queue,
            registry=ReferenceRegistry(settings.data_dir),
            archive=archive,
            contact_key_secret=contact_key_secret,
        )

    try:
        filed = asyncio.run(run())
    except EncryptionRequiredError as exc:
        typer.echo(f"complaint not filed: {exc}", err=True)
        raise typer.Exit(3) from None
    except ReferenceRegistryError as exc:
        typer.echo(f"complaint not filed: cannot check that its reference is unused: {exc}", err=True)
        raise typer.Exit(1) from None
    except RuntimeError as exc:
        typer.echo(f"could not reach Temporal at {settings.temporal_address}: {exc}", err=True)
        raise typer.Exit(1) from None
    # Intake systems log this output: the reference only, never the customer's name or the intake id.
    if filed.started:
        typer.echo("case opened")
    else:
        typer.echo("this intake was filed before; returning its case")
    typer.echo(filed.reference)


if __name__ == "__main__":
    run_cli(app)
