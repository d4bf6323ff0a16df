"""The case handler's tool: read a case, record the customer's answer, act on the case.

    python admin.py status CC-2026-4F7K2Q [--json]
    python admin.py satisfied CC-2026-4F7K2Q
    python admin.py not-satisfied CC-2026-4F7K2Q --reason "Still no engineer visit"
    python admin.py note CC-2026-4F7K2Q "Engineer booked for Friday"
    python admin.py schedule CC-2026-4F7K2Q --every 3d --at 14:00
    python admin.py deadlock CC-2026-4F7K2Q
    python admin.py compensate CC-2026-4F7K2Q --amount 25.00 --reason "Two missed visits"
    python admin.py list --open [--stage investigating] [--owner amara.okafor]

Every refusal exits non-zero with one line saying why; nothing about the case changes.
"""

from __future__ import annotations

import asyncio
import csv
import json
import re
import sys
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import ResetActivityRequest
from temporalio.service import RPCError, RPCStatusCode
from zoneinfo import ZoneInfo

from activities.archive import CaseArchive, evidence_document

from connection import connect, run_cli
from ops import stores
from domain import search_attributes as sa
from domain.compliance_report import compliance_report
from domain.formatting import local_label
from domain.models import (
    CaseStage,
    CaseState,
    CaseSummary,
    CompensationAward,
    ContactScheduleChange,
    Deadlock,
    IntervalUnit,
    NotSatisfied,
    ProgressNote,
    field_errors,
)
from domain.reference import is_reference
from settings import PipelineSettings
from workflows.complaint_case import ComplaintCase

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Steer complaint cases.",
    # Locals in a traceback would print customer data to a shared terminal.
    pretty_exceptions_show_locals=False,
)
# Piped output (scripts, tests) gets wide tables rather than references cut to "CC-2026-…".
console = Console(width=None if sys.stdout.isatty() else 250)
T = TypeVar("T")
LONDON = ZoneInfo("Europe/London")


class Refused(Exception):
    """The action does not fit the case; the message is what the handler reads."""


# --- plumbing -------------------------------------------------------------------------------------


def _run(action: Callable[[Client], Awaitable[T]]) -> T:
    settings = PipelineSettings()

    async def go() -> T:
        try:
            client = await connect(settings)
        except RuntimeError as exc:
            raise Refused(f"cannot reach Temporal at {settings.temporal_address}: {exc}") from None
        return await action(client)

    try:
        return asyncio.run(go())
    except Refused as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(1) from None


def _check_reference(reference: str) -> None:
    """Before connecting: a typo'd reference is the handler's mistake, not Temporal being down."""
    if not is_reference(reference):
        typer.echo(f"refused: {reference!r} is not a case reference (they look like CC-2026-4F7K2Q)", err=True)
        raise typer.Exit(1)


def _payload(model: type[T], **fields: Any) -> T:
    try:
        return model(**fields)  # type: ignore[call-arg]
    except ValidationError as exc:
        for line in field_errors(exc):
            typer.echo(f"invalid: {line}", err=True)
        raise typer.Exit(2) from None


async def _open_case(client: Client, reference: str) -> WorkflowHandle[Any, Any]:
    """The case's workflow, refusing unknown references and closed cases."""
    handle = await _any_case(client, reference)
    description = await handle.describe()
    if description.status is not WorkflowExecutionStatus.RUNNING:
        when = local_label(description.close_time) if description.close_time else "earlier"
        status = description.status.name.lower() if description.status else "closed"
        raise Refused(f"case {reference} is closed ({status} {when}); nothing was changed")
    return handle


async def _any_case(client: Client, reference: str) -> WorkflowHandle[Any, Any]:
    if not is_reference(reference):
        raise Refused(f"{reference!r} is not a case reference (they look like CC-2026-4F7K2Q)")
    handle = client.get_workflow_handle_for(ComplaintCase.run, reference)
    try:
        await handle.describe()
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise Refused(f"no case {reference} was found") from None
        raise
    return handle


async def _update(handle: WorkflowHandle[Any, Any], update: Any, *args: Any) -> Any:
    try:
        return await handle.execute_update(update, *args)
    except WorkflowUpdateFailedError as exc:
        raise Refused(str(exc.cause.message if hasattr(exc.cause, "message") else exc.cause)) from None
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise Refused(f"case {handle.id} closed before the action reached it") from None
        raise


async def _state(handle: WorkflowHandle[Any, Any]) -> CaseState:
    description = await handle.describe()
    if description.status is WorkflowExecutionStatus.COMPLETED:
        # A closed case's final state is its result: readable with no worker running.
        summary: CaseSummary = await handle.result()
        return summary.state
    try:
        return await handle.query(ComplaintCase.case_state)
    except RPCError as exc:
        if exc.status is RPCStatusCode.FAILED_PRECONDITION:
            raise Refused(f"case {handle.id} is open but no worker is running to answer for it: start worker.py") from None
        raise


# --- reading ------------------------------------------------------------------------------------


def status_document(state: CaseState) -> dict[str, Any]:
    document = state.model_dump(mode="json")
    owner = state.owner
    return {
        "reference": state.reference,
        "stage": state.stage.value,
        "owner": owner.name if owner else None,
        "owner_id": owner.id if owner else None,
        "owner_role": owner.role.value if owner else None,
        "escalation_level": state.escalation_level,
        "milestones": document["milestones"],
        "messages": document["messages"],
        "notes": document["notes"],
        "escalations": document["escalations"],
        "compensations": document["compensations"],
        "next_update_at": document["next_update_at"],
        "adr_letter_sent_at": document["adr_letter_sent_at"],
        "closed_at": document["closed_at"],
        "alerts": document["alerts"],
        "deadlines": document["deadlines"],
    }


@app.command()
def status(
    reference: str,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object, for other tools")] = False,
) -> None:
    """Where a case stands: stage, owner, every milestone with its due and done time."""
    _check_reference(reference)

    async def action(client: Client) -> CaseState:
        return await _state(await _any_case(client, reference))

    state = _run(action)
    if as_json:
        typer.echo(json.dumps(status_document(state), indent=2))
        return
    owner = state.owner
    console.print(f"[bold]{state.reference}[/bold]  stage: [bold]{state.stage.value}[/bold]")
    if owner:
        console.print(f"owner: {owner.name} ({owner.role.title}, level {state.escalation_level}) {owner.phone} {owner.email}")
    table = Table("milestone", "due", "done", "")
    for m in state.milestones:
        done = local_label(m.done_at) if m.done_at else "-"
        flag = "BREACHED" if m.breached else ("late" if m.done_at and not m.met else ("on time" if m.done_at else ""))
        if m.undeliverable_at:
            flag = "UNDELIVERABLE"
        table.add_row(m.name, local_label(m.due_at), done, flag)
    console.print(table)
    if state.next_update_at:
        console.print(f"next regular update: {local_label(state.next_update_at)}")
    messages = Table("sent", "message", "channel", "status", "proof")
    for r in state.messages:
        messages.add_row(local_label(r.at), r.kind.value, r.channel.value, r.status, r.provider_id or r.error or "")
    console.print(messages)
    for note in state.notes[-5:]:
        console.print(f"note {local_label(note.at)} ({note.author}): {note.text}")


@app.command("list")
def list_cases(
    stage: Annotated[CaseStage | None, typer.Option(help="Only cases at this stage")] = None,
    owner: Annotated[str | None, typer.Option(help="Only cases owned by this handler id")] = None,
    open_only: Annotated[bool, typer.Option("--open", help="Only cases still open")] = False,
    overdue: Annotated[bool, typer.Option("--overdue", help="Open cases whose next deadline has passed")] = False,
    escalated: Annotated[bool, typer.Option("--escalated", help="Cases above the first handler")] = False,
    past_eight_weeks: Annotated[
        bool, typer.Option("--past-eight-weeks", help="Open cases received 8 or more weeks ago")
    ] = False,
    attention: Annotated[bool, typer.Option("--attention", help="Cases a person must look at now")] = False,
    breached: Annotated[bool, typer.Option("--breached", help="Cases with a missed milestone")] = False,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 200,
) -> None:
    """Cases found through the Web UI's search attributes (the same queries work in the UI)."""
    clauses = ['WorkflowType = "ComplaintCase"']
    if stage:
        clauses.append(f'{sa.CASE_STAGE.name} = "{stage.value}"')
    if owner:
        if not re.fullmatch(r"[\w.\-]+", owner):
            typer.echo("invalid: --owner: a handler id has letters, digits, dots and dashes only", err=True)
            raise typer.Exit(2)
        clauses.append(f'{sa.CASE_OWNER.name} = "{owner}"')
    now = datetime.now(timezone.utc)
    if open_only or overdue or past_eight_weeks:
        clauses.append('ExecutionStatus = "Running"')
    if overdue:
        clauses.append(f'{sa.NEXT_DEADLINE.name} < "{now.isoformat()}"')
    if escalated:
        clauses.append(f"{sa.ESCALATION_LEVEL.name} > 0")
    if past_eight_weeks:
        clauses.append(f'{sa.RECEIVED_AT.name} <= "{(now - timedelta(weeks=8)).isoformat()}"')
    if attention:
        clauses.append(f"{sa.NEEDS_ATTENTION.name} = true")
    if breached:
        clauses.append(f"{sa.BREACH.name} = true")
    query = " AND ".join(clauses)

    async def action(client: Client) -> list[tuple[Any, dict[str, Any]]]:
        found = []
        async for w in client.list_workflows(query, limit=limit):
            memo = await w.memo() if attention else {}
            found.append((w, memo))
        return found

    columns = ["reference", "stage", "owner", "level", "received", "next deadline", "status"]
    table = Table(*columns, *(["what needs attention"] if attention else []))
    for w, memo in _run(action):
        attrs = w.typed_search_attributes
        received = attrs.get(sa.RECEIVED_AT)
        deadline = attrs.get(sa.NEXT_DEADLINE)
        table.add_row(
            w.id,
            attrs.get(sa.CASE_STAGE) or "",
            attrs.get(sa.CASE_OWNER) or "",
            str(attrs.get(sa.ESCALATION_LEVEL) or 0),
            local_label(received) if received else "",
            local_label(deadline) if deadline else "",
            w.status.name.lower() if w.status else "",
            *([str((memo.get("outcome") or {}).get("attention") or "")] if attention else []),
        )
    console.print(table)


@app.command()
def report(
    since: Annotated[str, typer.Option("--from", help="First day received, YYYY-MM-DD (UK)")],
    until: Annotated[str, typer.Option("--to", help="Last day received, YYYY-MM-DD (UK), inclusive")],
    output: Annotated[str, typer.Option("--format", help="table, csv or json")] = "table",
) -> None:
    """The compliance report for complaints received in a period."""
    if output not in ("table", "csv", "json"):
        typer.echo("invalid: --format: use table, csv or json", err=True)
        raise typer.Exit(2)
    try:
        start = datetime.combine(date.fromisoformat(since), time(0), tzinfo=LONDON)
        end = datetime.combine(date.fromisoformat(until) + timedelta(days=1), time(0), tzinfo=LONDON)
    except ValueError as exc:
        typer.echo(f"invalid: --from/--to: {exc}", err=True)
        raise typer.Exit(2) from None
    query = (
        f'WorkflowType = "ComplaintCase" AND {sa.RECEIVED_AT.name} >= "{start.isoformat()}" '
        f'AND {sa.RECEIVED_AT.name} < "{end.isoformat()}"'
    )

    async def action(client: Client) -> list[dict[str, Any]]:
        outcomes = []
        # One paged listing; each page carries the cases' memos, so no per-case round trip.
        async for w in client.list_workflows(query, page_size=1000):
            outcome = (await w.memo()).get("outcome")
            if outcome:
                outcomes.append(outcome)
        return outcomes

    result = compliance_report(_run(action), datetime.now(timezone.utc))
    if output == "json":
        typer.echo(json.dumps({"from": since, "to": until, **result.as_dict()}, indent=2))
    elif output == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(["measure", "value"])
        writer.writerows(result.as_dict().items())
    else:
        table = Table("measure", "value", title=f"Complaints received {since} to {until}")
        for row in result.rows():
            table.add_row(*row)
        console.print(table)


@app.command()
def evidence(reference: str) -> None:
    """Print the case's compliance record from the case archive (written now if the case is open)."""
    _check_reference(reference)
    settings = PipelineSettings()

    async def action(client: Client) -> None:
        handle = await _any_case(client, reference)
        if (await handle.describe()).status is WorkflowExecutionStatus.RUNNING:
            await _update(handle, ComplaintCase.write_evidence)

    _run(action)
    record, meta = _archive(settings).load(reference)
    if record is None:
        where = "its personal data was deleted at expiry" if meta.get("purged_at") else "no record in the archive"
        typer.echo(f"refused: {reference}: {where} ({_archive(settings).where})", err=True)
        raise typer.Exit(1)
    typer.echo(json.dumps(evidence_document(record, meta), indent=2))


@app.command("purge-expired")
def purge_expired() -> None:
    """Delete the personal data of archived cases past their retention period."""
    purged = _archive(PipelineSettings()).purge_expired()
    typer.echo(f"purged {len(purged)} expired case record(s)" + (": " + ", ".join(purged) if purged else ""))


def _archive(settings: PipelineSettings) -> CaseArchive:
    """The archive the workers write: the data folder's SQLite file, or COMPLAINTS_DATABASE_URL."""
    return CaseArchive(
        stores.locate(settings, stores.CASE_ARCHIVE), retention=timedelta(days=settings.archive_retention_days)
    )


@app.command()
def retry(reference: str) -> None:
    """After fixing the cause: run the case's failing steps again now, not at their next backoff."""
    _check_reference(reference)

    async def action(client: Client) -> list[str]:
        handle = await _open_case(client, reference)
        description = await handle.describe()
        retried = []
        for pending in description.raw_description.pending_activities:
            if pending.attempt <= 1 and not pending.HasField("last_failure"):
                continue  # running normally: nothing to retry
            # Reset, not a new send: the same activity and message key, so an accepted message
            # is never sent twice.
            try:
                await client.workflow_service.reset_activity(
                    ResetActivityRequest(
                        namespace=client.namespace,
                        execution=WorkflowExecution(workflow_id=reference),
                        id=pending.activity_id,
                        identity="admin.py retry",
                    )
                )
            except RPCError as exc:
                if exc.status is not RPCStatusCode.NOT_FOUND:
                    raise
                retried.append(f"{pending.activity_type.name}: it completed on its own meanwhile")
                continue
            retried.append(
                f"{pending.activity_type.name} (attempt {pending.attempt}, last error: "
                f"{pending.last_failure.message or 'none'})"
            )
        return retried

    retried = _run(action)
    if not retried:
        typer.echo(f"{reference}: nothing is failing; no step was retried")
        return
    for line in retried:
        typer.echo(f"{reference}: retrying {line}")


# --- the customer's answer ------------------------------------------------------------------------


@app.command()
def satisfied(reference: str) -> None:
    """The customer confirms the complaint is resolved: the case closes."""
    _check_reference(reference)

    async def action(client: Client) -> None:
        handle = await _open_case(client, reference)
        await handle.signal(ComplaintCase.customer_satisfied)

    _run(action)
    typer.echo(f"{reference}: customer satisfied; the case is closing and the customer will be told")


@app.command("not-satisfied")
def not_satisfied(
    reference: str,
    reason: Annotated[str, typer.Option(help="What the customer is still unhappy about")],
) -> None:
    """The customer is not satisfied: the case re-opens and moves up the escalation ladder."""
    _check_reference(reference)
    fact = _payload(NotSatisfied, reason=reason)

    async def action(client: Client) -> None:
        handle = await _open_case(client, reference)
        await handle.signal(ComplaintCase.customer_not_satisfied, fact)

    _run(action)
    typer.echo(f"{reference}: customer not satisfied; the case is being escalated")


# --- the handler's commands -----------------------------------------------------------------------


@app.command()
def note(
    reference: str,
    text: str,
    author: Annotated[str, typer.Option(help="Who is writing")] = "case handler",
) -> None:
    """Record progress; the next regular update carries the latest note."""
    _check_reference(reference)
    payload = _payload(ProgressNote, text=text, author=author)

    async def action(client: Client) -> int:
        return await _update(await _open_case(client, reference), ComplaintCase.add_note, payload)

    count = _run(action)
    typer.echo(f"{reference}: note {count} recorded")


def parse_interval(text: str) -> tuple[int, IntervalUnit]:
    """'7d' elapsed days, '3wd' working days, '2w' weeks."""
    match = re.fullmatch(r"\s*(\d+)\s*(d|wd|w)\s*", text.lower())
    if not match:
        raise ValueError("use a number and a unit: 7d (days), 3wd (working days) or 2w (weeks)")
    number, unit = int(match[1]), match[2]
    if unit == "w":
        return number * 7, IntervalUnit.ELAPSED_DAYS
    return number, IntervalUnit.WORKING_DAYS if unit == "wd" else IntervalUnit.ELAPSED_DAYS


def _contact_time(text: str | None) -> time | None:
    """14:00 or 14, on the UK wall clock. An offset or seconds would be silently wrong: refused."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*(\d{1,2})(?::(\d{2}))?\s*", text)
    if not match:
        raise ValueError(f"{text!r} is not a time of day like 14:00 (UK time)")
    return time(int(match[1]), int(match[2] or 0))  # ValueError names an hour or minute out of range


@app.command()
def schedule(
    reference: str,
    every: Annotated[str, typer.Option(help="7d, 3wd (working days) or 2w")],
    at: Annotated[str | None, typer.Option(help="Agreed contact time, HH:MM UK time")] = None,
) -> None:
    """Agree a new update interval and contact time with the customer."""
    _check_reference(reference)
    try:
        number, unit = parse_interval(every)
    except ValueError as exc:
        typer.echo(f"invalid: --every: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        contact = _contact_time(at)
    except ValueError as exc:
        typer.echo(f"invalid: --at: {exc}", err=True)
        raise typer.Exit(2) from None
    change = _payload(ContactScheduleChange, every=number, unit=unit, contact_time=contact)

    async def action(client: Client) -> Any:
        return await _update(await _open_case(client, reference), ComplaintCase.change_update_schedule, change)

    agreed = _run(action)
    typer.echo(f"{reference}: updates every {agreed.every} {agreed.unit.value.replace('_', ' ')} at {agreed.contact_time:%H:%M}")


@app.command()
def deadlock(
    reference: str,
    reason: Annotated[str, typer.Option(help="Why no agreement can be reached")] = Deadlock().reason,
) -> None:
    """Declare deadlock: the customer gets the ADR-rights letter now."""
    _check_reference(reference)
    payload = _payload(Deadlock, reason=reason)

    async def action(client: Client) -> str:
        return await _update(await _open_case(client, reference), ComplaintCase.declare_deadlock, payload)

    typer.echo(f"{reference}: {_run(action)}")


@app.command()
def compensate(
    reference: str,
    amount: Annotated[str, typer.Option(help="Pounds, e.g. 25.00")],
    reason: Annotated[str, typer.Option(help="Why compensation is due")],
) -> None:
    """Credit compensation to the customer's next invoice and tell them."""
    _check_reference(reference)
    try:
        pounds = Decimal(amount.strip().lstrip("£"))
    except InvalidOperation:
        typer.echo(f"invalid: --amount: {amount!r} is not an amount in pounds", err=True)
        raise typer.Exit(2) from None
    award = _payload(CompensationAward, amount_gbp=pounds, reason=reason)

    async def action(client: Client) -> Any:
        return await _update(await _open_case(client, reference), ComplaintCase.record_compensation, award)

    compensation = _run(action)
    typer.echo(f"{reference}: £{compensation.amount_gbp} credited to the next invoice ({compensation.credit_id})")


if __name__ == "__main__":
    run_cli(app)
