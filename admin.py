"""The case handler's tool: read a case, record the customer's answer, act on the case.

    python admin.py status CC-2026-4F7K2Q [--json]
    python admin.py satisfied CC-2026-4F7K2Q --how phone [--by ID] [--said-at 2026-11-30T10:15]
    python admin.py not-satisfied CC-2026-4F7K2Q --reason "Still no engineer visit" [--how email]
    python admin.py call CC-2026-4F7K2Q --outcome reached|voicemail|no-answer [--note TEXT]
    python admin.py agree CC-2026-4F7K2Q --every 7d --at 14:00 [--channel phone|sms|email|letter]
    python admin.py pause-updates CC-2026-4F7K2Q --until 2026-12-14 --reason "Away until the 14th"
    python admin.py contact CC-2026-4F7K2Q [--email E] [--phone P] [--address "1 High St; Leeds; LS1 4AB"]
    python admin.py reassign CC-2026-4F7K2Q --to rhys.griffiths --reason "Amara on leave"
    python admin.py close CC-2026-4F7K2Q --outcome withdrawn|no-response|duplicate|referred-to-adr --reason TEXT
    python admin.py note CC-2026-4F7K2Q "Engineer booked for Friday" --for-customer
    python admin.py schedule CC-2026-4F7K2Q --every 3d --at 14:00
    python admin.py deadlock CC-2026-4F7K2Q
    python admin.py compensate CC-2026-4F7K2Q --amount 25.00 --reason "Two missed visits"
    python admin.py list --open [--stage investigating] [--owner amara.okafor]

Every refusal exits non-zero with one line saying why; nothing about the case changes.
Exit codes: 0 done, 1 refused or Temporal unreachable, 2 invalid input, 3 sent but not yet applied.
Every wait is bounded (`--wait`, 10 s by default). Each handler command prints a request id
first; running it again with `--request-id` and the same text can never apply it twice.
Whatever records a fact says who: `--by`, by default the login name of whoever runs the command.
"""

from __future__ import annotations

import asyncio
import csv
import getpass
import hashlib
import json
import re
import secrets
import sys
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, TypeVar, overload
from zoneinfo import ZoneInfo

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import TaskQueueKind, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest, ResetActivityRequest
from temporalio.client import (
    Client,
    RPCTimeoutOrCancelledError,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
    WorkflowUpdateStage,
)

# A case as the visibility listing shows it (the name WorkflowExecution is the API's, above).
from temporalio.client import WorkflowExecution as CaseExecution
from temporalio.service import RPCError, RPCStatusCode
from temporalio.workflow import UpdateMethodMultiParam

from activities.archive import CaseArchive, evidence_document
from channels.settings import ChannelSettings
from codec.at_rest import AtRest
from codec.converter import EncryptionRequiredError
from codec.keyring import CodecSettings
from connection import connect, run_cli
from domain import search_attributes as sa
from domain.compliance_report import compliance_report, contact_details, handler_facts, outcome_from_memo
from domain.customer_loop import failed_sender_checks, vendor_says
from domain.formatting import gbp, local_label, mask_sender
from domain.models import (
    INTAKE,
    AskToClose,
    CallMade,
    CallOutcome,
    CaseClosure,
    CaseInput,
    CaseStage,
    CaseState,
    CaseSummary,
    ChannelKind,
    ClosureOutcome,
    CompensationAward,
    ComplaintIntake,
    ContactCorrection,
    ContactScheduleChange,
    Customer,
    Deadlock,
    Handler,
    HowSaid,
    IntervalUnit,
    MessageKind,
    NotSatisfied,
    ProgressNote,
    Reassignment,
    Satisfied,
    ScheduleAgreed,
    UpdatesPaused,
    field_errors,
)
from domain.reference import is_reference
from inbound.queue import InboundQueue
from ops import stores
from ops.contact_keys import configured_secret, contact_keys
from ops.purge import DataStores
from ops.purge import purge_expired as purge_data
from ops.secrets_file import WeakSecretError
from settings import ConfigError, PipelineSettings, load_roster
from starter import CannotReopen, final_state, reopen_case
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
P = TypeVar("P")
Payload = TypeVar("Payload", bound=BaseModel)
LONDON = ZoneInfo("Europe/London")


class Refused(Exception):
    """The action does not fit the case; the message is what the handler reads."""


# --- plumbing -------------------------------------------------------------------------------------

# How long any one step may wait on Temporal (connect, describe, query, an update's acceptance).
# A handler at a terminal gets a one-line answer instead of a command that hangs.
DEFAULT_WAIT_SECONDS = 10.0
_wait = timedelta(seconds=DEFAULT_WAIT_SECONDS)

# Exit code for "sent, not yet applied": not a refusal (nothing was wrong with the command).
EXIT_PENDING = 3
# With --json, stdout holds only the answer's JSON object: "sent, not yet applied" goes to stderr.
_pending_to_stderr = False


@app.callback()
def _options(
    wait: Annotated[
        float, typer.Option("--wait", min=0.5, max=600, help="Seconds to wait on Temporal before answering")
    ] = DEFAULT_WAIT_SECONDS,
) -> None:
    global _wait, _pending_to_stderr
    _wait = timedelta(seconds=wait)
    _pending_to_stderr = False


class Pending(Exception):
    """The command reached Temporal but is not applied yet; the message says what happens next."""


class Unreachable(Exception):
    """The Temporal server did not answer; the message names the address and the reason."""


def _one_line(text: object, limit: int = 200) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _run(action: Callable[[Client], Awaitable[T]]) -> T:
    settings = PipelineSettings()
    address = settings.temporal_address

    async def go() -> T:
        try:
            client = await asyncio.wait_for(connect(settings), _wait.total_seconds())
        except EncryptionRequiredError as exc:
            raise Refused(str(exc)) from None
        except (RuntimeError, OSError) as exc:
            raise Unreachable(f"cannot reach the Temporal server at {address}: {_one_line(exc)}") from None
        except TimeoutError:
            raise Unreachable(
                f"cannot reach the Temporal server at {address}: no answer within {_wait.total_seconds():g} s"
            ) from None
        try:
            return await action(client)
        except RPCError as exc:
            # Connected, then the server went away or stopped answering mid-command.
            if exc.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED):
                raise Unreachable(
                    f"cannot reach the Temporal server at {address}: {_one_line(exc.message or exc.status.name)}"
                ) from None
            raise Refused(
                f"Temporal refused the request: {exc.status.name if exc.status else 'error'}: {_one_line(exc.message)}"
            ) from None

    try:
        return asyncio.run(go())
    except Refused as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(1) from None
    except Unreachable as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    except WeakSecretError as exc:  # COMPLAINTS_CONTACT_KEY_SECRET, read when a command needs it
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(1) from None
    except Pending as exc:
        typer.echo(str(exc), err=_pending_to_stderr)
        raise typer.Exit(EXIT_PENDING) from None


def _check_reference(reference: str) -> None:
    """Before connecting: a typo'd reference is the handler's mistake, not Temporal being down."""
    if not is_reference(reference):
        typer.echo(f"refused: {reference!r} is not a case reference (they look like CC-2026-4F7K2QXY)", err=True)
        raise typer.Exit(1)


def _invalid(exc: ValidationError) -> typer.Exit:
    for line in field_errors(exc):
        # A check across fields has no path ("(complaint)" at intake); its message names the field.
        typer.echo(f"invalid: {line.removeprefix('(complaint): ')}", err=True)
    return typer.Exit(2)


def _payload(model: type[Payload], **fields: Any) -> Payload:
    return _checked_input(model, fields)


def _checked_input(model: type[Payload], data: dict[str, Any]) -> Payload:
    """A person's input read like the intake reads it: email-validator, phonenumbers and the
    one-line rule for text customers' messages quote run only with the INTAKE context, and only
    here, so the case records plain, already-checked data."""
    try:
        return model.model_validate(data, context=INTAKE)
    except ValidationError as exc:
        raise _invalid(exc) from None


ByOption = Annotated[
    str | None, typer.Option("--by", help="Who is recording it (default: the login name of whoever runs this)")
]


def _recorded_by(given: str | None) -> str:
    """Who records the fact: the record always says who, so with no --by it is the login name."""
    if given is not None:
        return given
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in this environment (some containers)
        typer.echo("invalid: --by: there is no login name to record; say who you are with --by", err=True)
        raise typer.Exit(2) from None


def _choice(text: str, option: str, choices: dict[str, T]) -> T:
    """One of a few words as typed ('no-answer' or 'no_answer'), or one line saying which are allowed."""
    key = text.strip().lower().replace("_", "-")
    if key not in choices:
        words = list(choices)
        typer.echo(f"invalid: {option}: {text!r}: use {', '.join(words[:-1])} or {words[-1]}", err=True)
        raise typer.Exit(2)
    return choices[key]


def _label(value: Any) -> str:
    return str(getattr(value, "value", value)).replace("_", " ")


async def _open_case(client: Client, reference: str) -> WorkflowHandle[Any, Any]:
    """The case's workflow, refusing unknown references and closed cases."""
    handle = await _any_case(client, reference)
    description = await handle.describe(rpc_timeout=_wait)
    if description.status is not WorkflowExecutionStatus.RUNNING:
        when = local_label(description.close_time) if description.close_time else "earlier"
        status = description.status.name.lower() if description.status else "closed"
        raise Refused(f"case {reference} is closed ({status} {when}); nothing was changed")
    return handle


async def _any_case(client: Client, reference: str) -> WorkflowHandle[Any, Any]:
    if not is_reference(reference):
        raise Refused(f"{reference!r} is not a case reference (they look like CC-2026-4F7K2QXY)")
    handle = client.get_workflow_handle_for(ComplaintCase.run, reference)
    try:
        await handle.describe(rpc_timeout=_wait)
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise Refused(f"no case {reference} was found") from None
        raise
    return handle


# --- idempotent handler commands ------------------------------------------------------------------

_REQUEST_ID = re.compile(r"[0-9a-f]{8,32}")


def new_request_id() -> str:
    return secrets.token_hex(4)


def update_id(command: str, reference: str, payload: Any, request_id: str) -> str:
    """The Temporal update id for one command as typed: the same request id and text, the same id.

    Temporal applies an update id at most once in a run, so a retry after a timeout (or a second
    terminal) with the same request id returns the first outcome instead of acting again. Different
    text under the same request id is a different command, and gets a different id.
    """
    typed = payload.model_dump(mode="json") if payload is not None else None
    digest = hashlib.sha256(json.dumps([command, reference, typed], sort_keys=True).encode()).hexdigest()[:16]
    return f"{command}/{request_id}/{digest}"


def _request_id(given: str | None, *, as_json: bool = False) -> str:
    """The request id, printed before anything is sent. With --json it goes to stderr, so stdout
    is the one JSON object the command answers with."""
    if given is None:
        request = new_request_id()
    elif _REQUEST_ID.fullmatch(given.strip().lower()):
        request = given.strip().lower()
    else:
        typer.echo("invalid: --request-id: use the id a previous run printed (8 to 32 hex digits)", err=True)
        raise typer.Exit(2)
    # Printed before anything is sent, so even an interrupted run leaves the id to retry with.
    typer.echo(f"request id: {request} (to retry this exact command: --request-id {request})", err=as_json)
    return request


def _json_mode(on: bool) -> None:
    global _pending_to_stderr
    _pending_to_stderr = on


JsonOption = Annotated[
    bool, typer.Option("--json", help="Answer with one JSON object on stdout (the request id goes to stderr)")
]


def _answer(as_json: bool, reference: str, command: str, result: Any, line: str, request: str | None = None) -> None:
    """The command's answer: one line for a person, or one JSON object for other tools."""
    if not as_json:
        typer.echo(line)
        return
    if hasattr(result, "model_dump"):
        result = result.model_dump(mode="json")
    answer = {
        "reference": reference,
        "command": command,
        **({"request_id": request} if request else {}),
        "result": result,
    }
    typer.echo(json.dumps(answer, indent=2))


RequestIdOption = Annotated[
    str | None,
    typer.Option("--request-id", help="Retry a command a previous run printed the request id of; it applies once"),
]


async def _no_answer_reason(client: Client, handle: WorkflowHandle[Any, Any]) -> str:
    """Why a running case did not answer: is any worker polling its task queue?"""
    try:
        description = await handle.describe(rpc_timeout=_wait)
        queue = description.task_queue or ""
        polled = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=client.namespace,
                task_queue=TaskQueue(name=queue, kind=TaskQueueKind.TASK_QUEUE_KIND_NORMAL),
                task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
            ),
            timeout=_wait,
        )
    except RPCError:
        return "no worker answered"
    if not polled.pollers:
        return f"no worker is running (none polls task queue {queue})"
    last = max(p.last_access_time.ToDatetime(tzinfo=UTC) for p in polled.pollers)
    return (
        f"no worker answered (task queue {queue} was last polled {local_label(last)}; a worker may have just stopped)"
    )


# temporalio types a handler declared with @workflow.update(name=...) by what its method returns,
# which for an async handler is a coroutine; the update's result is what that coroutine returns.
@overload
async def _update(
    client: Client,
    handle: WorkflowHandle[Any, Any],
    update: UpdateMethodMultiParam[[Any], Awaitable[T]],
    *,
    id: str | None = None,
) -> T: ...
@overload
async def _update(
    client: Client,
    handle: WorkflowHandle[Any, Any],
    update: UpdateMethodMultiParam[[Any, P], Awaitable[T]],
    arg: P,
    /,
    *,
    id: str | None = None,
) -> T: ...
@overload
async def _update(
    client: Client,
    handle: WorkflowHandle[Any, Any],
    update: UpdateMethodMultiParam[[Any, P], T],
    arg: P,
    /,
    *,
    id: str | None = None,
) -> T: ...
async def _update(
    client: Client,
    handle: WorkflowHandle[Any, Any],
    update: Any,
    *args: Any,
    id: str | None = None,
) -> Any:
    """Run a handler command as a Temporal update, waiting a bounded time for each stage.

    An update becomes durable (written to history) only once a worker accepts it; until then the
    server holds it in memory and hands it to the next worker that polls, and a server restart
    loses it. So "not accepted in time" is reported as sent but not applied, with the request id to
    send it again: Temporal deduplicates update ids within a run, so the retry never applies twice.
    """
    wait = _wait.total_seconds()
    again = f"run the same command with --request-id {id.split('/')[1]}" if id else "run the same command"
    try:
        started = await asyncio.wait_for(
            handle.start_update(update, *args, id=id, wait_for_stage=WorkflowUpdateStage.ACCEPTED, rpc_timeout=_wait),
            wait,
        )
    except (RPCTimeoutOrCancelledError, TimeoutError):
        reason = await _no_answer_reason(client, handle)
        # The server holds the command in memory and hands it to the next worker that polls; only a
        # server restart before then loses it. The same update id makes a retry safe either way.
        raise Pending(
            f"{handle.id}: sent; not yet applied because {reason}: it applies once, when a worker runs, "
            f"unless the Temporal server restarts first. To be sure, once a worker runs, {again}: it applies once"
        ) from None
    except RPCError as exc:
        if exc.status is RPCStatusCode.NOT_FOUND:
            raise Refused(f"case {handle.id} closed before the action reached it") from None
        raise
    try:
        return await asyncio.wait_for(started.result(rpc_timeout=_wait), wait)
    except WorkflowUpdateFailedError as exc:
        raise Refused(str(exc.cause.message if hasattr(exc.cause, "message") else exc.cause)) from None
    except (RPCTimeoutOrCancelledError, TimeoutError):
        # Accepted updates are in history: the case will finish it (a credit waits on billing).
        raise Pending(
            f"{handle.id}: accepted and recorded; still in progress after {wait:g} s: the case will finish it. "
            f"`admin.py status {handle.id}` shows the outcome, or {again}: it applies once"
        ) from None


# Overloaded as `_update` is, so each command gets what its update returns (a Call, a Handler, ...)
# without a cast: the first for an async handler, the second for a sync one (add_note, ask_to_close).
# `check` runs on the open case before the update is sent, and refuses (Refused) what the case
# alone cannot judge (another case a duplicate names).
CaseCheck = Callable[[Client, WorkflowHandle[Any, Any]], Awaitable[None]]


@overload
def _apply(
    reference: str,
    command: str,
    update: UpdateMethodMultiParam[[Any, Payload], Awaitable[T]],
    payload: Payload,
    request: str,
    *,
    check: CaseCheck | None = None,
) -> T: ...
@overload
def _apply(
    reference: str,
    command: str,
    update: UpdateMethodMultiParam[[Any, Payload], T],
    payload: Payload,
    request: str,
    *,
    check: CaseCheck | None = None,
) -> T: ...
def _apply(
    reference: str, command: str, update: Any, payload: BaseModel, request: str, *, check: CaseCheck | None = None
) -> Any:
    """One handler command on an open case, as typed: the update id comes from the command's name,
    the reference, the payload and the request id, so running it again with the same request id
    and text returns the first outcome instead of acting twice."""

    async def action(client: Client) -> Any:
        handle = await _open_case(client, reference)
        if check is not None:
            await check(client, handle)
        return await _update(client, handle, update, payload, id=update_id(command, reference, payload, request))

    return _run(action)


async def _state(client: Client, handle: WorkflowHandle[Any, Any]) -> CaseState:
    description = await handle.describe(rpc_timeout=_wait)
    if description.status is WorkflowExecutionStatus.COMPLETED:
        # A closed case's final state: its result until v4, readable with no worker running; since
        # v4 the result is small and the state is the archive record the case wrote as it closed
        # (no worker needed either), else a query on the closed run.
        summary: CaseSummary = await asyncio.wait_for(handle.result(rpc_timeout=_wait), _wait.total_seconds())
        try:
            archive: CaseArchive | None = _archive(PipelineSettings())
        except ConfigError:
            archive = None  # the query on the closed run answers instead
        return await asyncio.wait_for(final_state(client, summary, archive=archive), _wait.total_seconds())
    try:
        return await asyncio.wait_for(handle.query(ComplaintCase.case_state, rpc_timeout=_wait), _wait.total_seconds())
    except (RPCError, TimeoutError, RPCTimeoutOrCancelledError) as exc:
        if isinstance(exc, RPCError) and exc.status not in (
            RPCStatusCode.FAILED_PRECONDITION,
            RPCStatusCode.DEADLINE_EXCEEDED,
            RPCStatusCode.CANCELLED,
        ):
            raise
        reason = await _no_answer_reason(client, handle)
        raise Refused(
            f"case {handle.id} is open but did not answer within {_wait.total_seconds():g} s: {reason}; start worker.py"
        ) from None


async def _filed_intake(client: Client, handle: WorkflowHandle[Any, Any]) -> ComplaintIntake | None:
    """The complaint as filed: the intake is in the first event of the case's run (a run that
    continued as new carries the same intake), so no query or worker is needed to read it."""

    async def first_event() -> ComplaintIntake | None:
        async for event in handle.fetch_history_events(page_size=1, rpc_timeout=_wait):
            payloads = event.workflow_execution_started_event_attributes.input.payloads
            if not payloads:
                return None
            case_input: CaseInput
            [case_input] = await client.data_converter.decode(payloads, [CaseInput])
            return case_input.intake
        return None

    return await asyncio.wait_for(first_event(), _wait.total_seconds())


async def _filed_customer(client: Client, handle: WorkflowHandle[Any, Any]) -> Customer | None:
    intake = await _filed_intake(client, handle)
    return intake.customer if intake is not None else None


async def _check_said_at(client: Client, handle: WorkflowHandle[Any, Any], said_at: datetime | None) -> None:
    """The customer cannot have said it before they complained: a mistyped year would otherwise go
    into the customer's closure letter ("Thank you for confirming by phone on 5 May 2019")."""
    if said_at is None:
        return
    intake = await _filed_intake(client, handle)
    if intake is not None and said_at < intake.received_at:
        raise Refused(
            f"--said-at: {said_at.astimezone(LONDON):%d %b %Y %H:%M} is before the complaint was received "
            f"({intake.received_at.astimezone(LONDON):%d %b %Y %H:%M}, UK time); nothing was changed"
        )


async def _check_duplicate_of(client: Client, handle: WorkflowHandle[Any, Any], duplicate_of: str) -> None:
    """A duplicate's closure tells the customer their complaint is handled under `duplicate_of`
    and that they will hear of it only there: true only of an open case for the same account."""
    try:
        original = await _open_case(client, duplicate_of)
    except Refused as exc:
        raise Refused(f"--duplicate-of: {exc}: the customer would be told it is handled there") from None
    this, that = await _filed_intake(client, handle), await _filed_intake(client, original)
    if this is not None and that is not None and this.account_number != that.account_number:
        raise Refused(
            f"--duplicate-of: {duplicate_of} is account {that.account_number}'s complaint, this case is account "
            f"{this.account_number}'s: a duplicate is the same customer's complaint; nothing was changed"
        )


# --- reading ------------------------------------------------------------------------------------


def note_audience(note: Any) -> str:
    """'internal' (never sent), or for the customer: sent in an update, or waiting for the next one."""
    if not note.for_customer:
        return "internal"
    return f"for the customer, sent {local_label(note.sent_at)}" if note.sent_at else "for the customer, pending"


def schedule_status(state: CaseState) -> str | None:
    """'agreed' only when a handler recorded the customer's agreement; else the schedule is offered."""
    if state.schedule is None:
        return None
    return "agreed" if state.schedule_agreed_at else "offered"


def status_document(state: CaseState, filed: Customer | None = None) -> dict[str, Any]:
    """The case for other tools. `filed`: the customer as filed, shown until a handler corrects it."""
    document = state.model_dump(mode="json")
    owner = state.owner
    notes = document["notes"]
    for note, model in zip(notes, state.notes, strict=True):
        note["audience"] = "customer" if model.for_customer else "internal"
    return {
        "reference": state.reference,
        "stage": state.stage.value,
        "owner": owner.name if owner else None,
        "owner_id": owner.id if owner else None,
        "owner_role": owner.role.value if owner else None,
        "escalation_level": state.escalation_level,
        "milestones": document["milestones"],
        "messages": document["messages"],
        "notes": notes,
        "escalations": document["escalations"],
        "compensations": document["compensations"],
        "schedule": document["schedule"],
        "schedule_status": schedule_status(state),
        "schedule_agreed_at": document["schedule_agreed_at"],
        "next_update_at": document["next_update_at"],
        "adr_letter_sent_at": document["adr_letter_sent_at"],
        "closed_at": document["closed_at"],
        "alerts": document["alerts"],
        "refused": document["refused"],
        "deadlines": document["deadlines"],
        # Every owner in turn, with why (first assignment, escalation, reassignment by a handler).
        "assignments": [
            {
                "handler": a.handler.id,
                "name": a.handler.name,
                "role": a.handler.role.value,
                "reason": a.reason,
                "assigned_at": document["assignments"][i]["assigned_at"],
            }
            for i, a in enumerate(state.assignments)
        ],
        **handler_facts(state, filed),
    }


def _milestone_flag(m: Any) -> str:
    if m.superseded_at:
        return f"superseded {local_label(m.superseded_at)}"
    if m.undeliverable_at:
        return "UNDELIVERABLE"
    if m.breached:
        return "BREACHED"
    if m.done_at:
        return "on time" if m.met else "late"
    return ""


@app.command()
def status(
    reference: str,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object, for other tools")] = False,
) -> None:
    """Where a case stands: stage, owner, every milestone with its due and done time."""
    _check_reference(reference)

    async def action(client: Client) -> tuple[CaseState, Customer | None]:
        handle = await _any_case(client, reference)
        state = await _state(client, handle)
        # The details as filed are read only while no handler has corrected them.
        return state, (None if state.customer else await _filed_customer(client, handle))

    state, filed = _run(action)
    if as_json:
        typer.echo(json.dumps(status_document(state, filed), indent=2))
        return
    owner = state.owner
    # Every value is escaped: a note or a vendor's error text is data, not rich markup (an
    # unmatched "[/bold]" crashed the command, and "[link=...]" rendered as a live link).
    console.print(f"[bold]{escape(state.reference)}[/bold]  stage: [bold]{escape(state.stage.value)}[/bold]")
    if owner:
        console.print(
            escape(
                f"owner: {owner.name} ({owner.role.title}, level {state.escalation_level}) {owner.phone} {owner.email}"
            )
        )
    for a in state.assignments:
        console.print(
            f"assigned {local_label(a.assigned_at)}: {a.handler.name} ({a.handler.id}): {a.reason}", markup=False
        )
    contact = contact_details(state.customer or filed, corrected=state.customer is not None)
    if contact:
        console.print(contact_line(contact), markup=False)
    for change in state.contact_changes:
        console.print(
            f"contact corrected {local_label(change.at)} by {change.by}: {', '.join(change.fields)}", markup=False
        )
    table = Table("milestone", "due", "done", "")
    for m in state.milestones:
        done = local_label(m.done_at) if m.done_at else "-"
        table.add_row(escape(m.name), local_label(m.due_at), done, _milestone_flag(m))
    console.print(table)
    if state.schedule:
        every = state.schedule.every
        unit = state.schedule.unit.value.replace("_", " ")
        agreed = (
            f"agreed {local_label(state.schedule_agreed_at)}" if state.schedule_agreed_at else "offered, not agreed"
        )
        if state.schedule_recorded_by:
            agreed += f", recorded by {state.schedule_recorded_by}"
        console.print(
            f"update schedule: every {every} {unit} at {state.schedule.contact_time:%H:%M} ({agreed})", markup=False
        )
        console.print(f"updates by: {update_channel_label(state.update_channel, state.customer or filed)}")
    if state.updates_paused_until:
        console.print(
            f"updates paused until {state.updates_paused_until:%a %d %b %Y}: {state.updates_pause_reason or ''} "
            "(the 8-week clock runs on)",
            markup=False,
        )
    if state.next_update_at:
        console.print(f"next regular update: {local_label(state.next_update_at)}")
    if state.calls:
        calls = Table("call", "by", "outcome", "met", "note")
        for c in state.calls:
            calls.add_row(local_label(c.at), escape(c.by), _label(c.outcome), c.met or "", escape(c.note or ""))
        console.print(calls)
    messages = Table("sent", "message", "channel", "status", "proof", "posted", "expected", "vendor says")
    for r in state.messages:
        messages.add_row(
            local_label(r.at),
            r.kind.value
            + (f" (again: {r.fallback_for.rsplit('/', 1)[-1][:3]} not delivered)" if r.fallback_for else ""),
            r.channel.value,
            escape(r.status),
            escape(r.provider_id or r.error or ""),
            local_label(r.dispatched_at) if r.dispatched_at else "",
            local_label(r.expected_delivery_at) if r.expected_delivery_at else "",
            escape(vendor_says(r)),
        )
    console.print(messages)
    for reply in state.customer_replies[-5:]:
        who = (
            ", not from the customer's own number or address"
            if not reply.from_customer
            else ", giving the customer's address but failed the sender checks (SPF/DKIM): not acted on"
            if failed_sender_checks(reply)
            else ""
        )
        console.print(
            f"reply {local_label(reply.received_at)} by {reply.channel.value} ({reply.meaning}{who}): {reply.text}",
            markup=False,
        )
    for note in state.notes[-5:]:
        console.print(f"note {local_label(note.at)} ({note.author}, {note_audience(note)}): {note.text}", markup=False)
    for refusal in state.refused:
        console.print(f"refused: {refusal}", markup=False)
    for reopening in state.reopenings:
        console.print(
            f"re-opened {local_label(reopening.reopened_at)} (closed {local_label(reopening.closed_at)}): "
            f"{reopening.reason}",
            markup=False,
        )
    for award in [*state.compensations, *state.pending_compensations]:
        credited = f"credited ({award.credit_id})" if award.credit_id else "not credited yet: billing is retrying"
        who = f", recorded by {award.recorded_by}" if award.recorded_by else ""
        console.print(
            f"compensation {local_label(award.recorded_at)}: {gbp(award.amount_gbp)} {credited}{who}: {award.reason}",
            markup=False,
        )
    if state.closure:
        duplicate = f" (handled under {state.closure.duplicate_of})" if state.closure.duplicate_of else ""
        console.print(
            f"closed as {_label(state.closure.outcome)}{duplicate}, recorded by {state.closure.recorded_by}: "
            f"{state.closure.reason}",
            markup=False,
        )
    if state.confirmation:
        said = state.confirmation.said_at
        console.print(
            f"customer confirmed satisfied: by {_label(state.confirmation.how)}, recorded by "
            f"{state.confirmation.recorded_by}, said {local_label(said) if said else 'when recorded'}",
            markup=False,
        )


def update_channel_label(channel: ChannelKind | None, customer: Customer | None = None) -> str:
    # None is what the case does unless the customer agreed a channel: phone, then in writing.
    if channel is None:
        return "phone first, then in writing"
    if customer is not None and not reaches(customer, channel):
        # The case keeps the agreed channel but cannot use it (a corrected number is a landline):
        # it sends phone first, then in writing, and the handler should ask the customer again.
        return f"phone first, then in writing ({channel.value} was agreed, but the details held do not reach it)"
    return f"{channel.value} (as agreed)"


def reaches(customer: Customer, channel: ChannelKind) -> bool:
    """Whether `channel` can reach the customer on the details held (as ComplaintCase._reachable judges it)."""
    return {
        ChannelKind.SMS: customer.has_mobile,
        ChannelKind.EMAIL: bool(customer.email),
        ChannelKind.LETTER: customer.address is not None,
    }[channel]


def contact_line(contact: dict[str, Any]) -> str:
    """One line of how the case reaches the customer now (as filed, or as a handler corrected it)."""
    parts = []
    if contact["email"]:
        parts.append(f"email {contact['email']}")
    if contact["phone"]:
        kind = {True: " (mobile)", False: " (no texts)"}.get(contact["phone_is_mobile"], "")
        parts.append(f"phone {contact['phone']}{kind}")
    if contact["address"]:
        parts.append("address " + ", ".join([*contact["address"]["lines"], contact["address"]["postcode"]]))
    parts.append(f"in writing by {contact['preferred_written_channel']}")
    return f"contact ({contact['source']}): " + "; ".join(parts)


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
    # A case is its latest run: a run that continued as new is not a case of its own.
    clauses = ['WorkflowType = "ComplaintCase"', 'ExecutionStatus != "ContinuedAsNew"']
    if stage:
        clauses.append(f'{sa.CASE_STAGE.name} = "{stage.value}"')
    if owner:
        if not re.fullmatch(r"[\w.\-]+", owner):
            typer.echo("invalid: --owner: a handler id has letters, digits, dots and dashes only", err=True)
            raise typer.Exit(2)
        clauses.append(f'{sa.CASE_OWNER.name} = "{owner}"')
    now = datetime.now(UTC)
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

    async def action(client: Client) -> list[tuple[CaseExecution, Mapping[str, Any]]]:
        latest: dict[str, CaseExecution] = {}
        async for w in client.list_workflows(query, limit=limit, rpc_timeout=_wait):
            # A re-opened case has a closed run and a newer one under the same reference.
            if w.id not in latest or w.start_time > latest[w.id].start_time:
                latest[w.id] = w
        ended = [
            w.id for w in latest.values() if w.status is not WorkflowExecutionStatus.RUNNING and is_reference(w.id)
        ]
        reopened = await _running_again(client, ended)
        cases = [w for w in latest.values() if w.id not in reopened]
        return [(w, await w.memo() if attention else {}) for w in cases]

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
            *([escape(str((outcome_from_memo(memo) or {}).get("attention") or ""))] if attention else []),
        )
    console.print(table)


async def _running_again(client: Client, references: list[str]) -> set[str]:
    """Which of these cases (found by a run that ended) run again: re-opened, so that run is not
    the case's state any more ("closed" is not true of them)."""
    running: set[str] = set()
    for start in range(0, len(references), 100):
        quoted = ", ".join(f'"{reference}"' for reference in references[start : start + 100])
        query = f'WorkflowType = "ComplaintCase" AND ExecutionStatus = "Running" AND WorkflowId IN ({quoted})'
        running |= {w.id async for w in client.list_workflows(query, rpc_timeout=_wait)}
    return running


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
    if end <= start:
        # An empty period would print a report of zeros that reads as "no complaints".
        typer.echo(f"invalid: --to: {until} is before --from {since}", err=True)
        raise typer.Exit(2)
    query = (
        f'WorkflowType = "ComplaintCase" AND {sa.RECEIVED_AT.name} >= "{start.isoformat()}" '
        f'AND {sa.RECEIVED_AT.name} < "{end.isoformat()}"'
    )

    async def action(client: Client) -> list[dict[str, Any]]:
        latest: dict[str, tuple[datetime, dict[str, Any]]] = {}
        # One paged listing; each page carries the cases' memos, so no per-case round trip. A
        # re-opened case has a run per period: its latest run's outcome holds the whole record.
        async for w in client.list_workflows(query, page_size=1000, rpc_timeout=_wait):
            outcome = outcome_from_memo(await w.memo())
            if outcome and (w.id not in latest or w.start_time > latest[w.id][0]):
                latest[w.id] = (w.start_time, outcome)
        return [outcome for _, outcome in latest.values()]

    result = compliance_report(_run(action), datetime.now(UTC))
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
        if (await handle.describe(rpc_timeout=_wait)).status is WorkflowExecutionStatus.RUNNING:
            # Writing the record again is harmless, so this update needs no request id.
            await _update(client, handle, ComplaintCase.write_evidence)

    _run(action)
    record, meta = _archive(settings).load(reference)
    if record is None:
        where = "its personal data was deleted at expiry" if meta.get("purged_at") else "no record in the archive"
        typer.echo(f"refused: {reference}: {where} ({_archive(settings).where})", err=True)
        raise typer.Exit(1)
    typer.echo(json.dumps(evidence_document(record, meta, _appended(settings, reference)), indent=2))


def _appended(settings: PipelineSettings, reference: str) -> list[dict[str, Any]]:
    """What the inbound service appended after the record was archived (late events, replies)."""
    at_rest = AtRest(CodecSettings().keyring())
    return [
        {"kind": kind, "appended_at": at.isoformat(), **json.loads(at_rest.open(body))}
        for kind, at, body in _archive(settings).addenda(reference)
    ]


@app.command("purge-expired")
def purge_expired() -> None:
    """Delete the personal data of archived cases past their retention period."""
    settings = PipelineSettings()
    # Every store the worker writes, not just the archive (ops/purge.py lists them).
    post_room_dir = ChannelSettings(data_dir=settings.data_dir).post_room_dir
    assert post_room_dir is not None  # filled in by the settings validator
    data_stores = DataStores(
        settings.data_dir,
        post_room_dir,
        billing=stores.locate(settings, stores.BILLING),
        inbound=stores.locate(settings, stores.INBOUND),
    )
    report = purge_data(data_stores, _archive(settings))
    purged = report.expired
    typer.echo(f"purged {len(purged)} expired case record(s)" + (": " + ", ".join(purged) if purged else ""))
    typer.echo(
        f"removed {report.files_removed} file(s) and {report.manifest_rows_removed} post-room manifest row(s);"
        f" redacted {report.credits_redacted} invoice credit(s); deleted {report.inbound_rows_removed} inbound row(s)"
    )


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
        description = await handle.describe(rpc_timeout=_wait)
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
                    ),
                    timeout=_wait,
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


HOW_SAID = {
    "phone": HowSaid.PHONE,
    "email": HowSaid.EMAIL,
    "letter": HowSaid.LETTER,
    "sms-reply": HowSaid.SMS_REPLY,
    "in-person": HowSaid.IN_PERSON,
}
SaidAtOption = Annotated[
    str | None,
    typer.Option(
        "--said-at", help="When the customer said it: 2026-11-30T10:15 (UK time) or with an offset; default: now"
    ),
]


def parse_said_at(text: str | None, now: datetime) -> datetime | None:
    """When the customer said it. Without an offset it is UK wall-clock time, as handlers read the
    clock; a time in the future is a typo (a signal cannot be refused once sent, so it is checked here)."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not a date and time like 2026-11-30T10:15 (UK time)") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=LONDON)
    if value > now + timedelta(minutes=5):
        raise ValueError(f"{text!r} is in the future")
    return value


def _said_at(text: str | None) -> datetime | None:
    try:
        return parse_said_at(text, datetime.now(UTC))
    except ValueError as exc:
        typer.echo(f"invalid: --said-at: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
def satisfied(
    reference: str,
    how: Annotated[str, typer.Option(help="How the customer told us: phone, email, letter, sms-reply or in-person")],
    by: ByOption = None,
    said_at: SaidAtOption = None,
    as_json: JsonOption = False,
) -> None:
    """The customer confirms the complaint is resolved: the case closes, and the closure says how they told us."""
    _check_reference(reference)
    _json_mode(as_json)
    answer = _payload(
        Satisfied, recorded_by=_recorded_by(by), how=_choice(how, "--how", HOW_SAID), said_at=_said_at(said_at)
    )

    async def action(client: Client) -> None:
        handle = await _open_case(client, reference)
        await _check_said_at(client, handle, answer.said_at)
        await handle.signal(ComplaintCase.customer_satisfied, answer, rpc_timeout=_wait)

    _run(action)
    _answer(
        as_json,
        reference,
        "satisfied",
        answer,
        f"{reference}: customer satisfied ({_label(answer.how)}, recorded by {answer.recorded_by}); "
        "the case is closing and the customer will be told",
    )


@app.command("not-satisfied")
def not_satisfied(
    reference: str,
    reason: Annotated[
        str,
        typer.Option(
            help="What the customer is still unhappy about, as they would put it: the escalation message quotes it"
        ),
    ],
    how: Annotated[
        str | None, typer.Option(help="How the customer told us: phone, email, letter, sms-reply or in-person")
    ] = None,
    by: ByOption = None,
    said_at: SaidAtOption = None,
    as_json: JsonOption = False,
) -> None:
    """The customer is not satisfied: the case moves up the escalation ladder; a case closed within
    the re-open window (8 weeks) is re-opened under the same reference and escalated."""
    _check_reference(reference)
    _json_mode(as_json)
    fact = _payload(
        NotSatisfied,
        reason=reason,
        recorded_by=_recorded_by(by),
        how=_choice(how, "--how", HOW_SAID) if how is not None else None,
        said_at=_said_at(said_at),
    )

    async def action(client: Client) -> str:
        handle = await _any_case(client, reference)  # an unknown reference is refused as such
        await _check_said_at(client, handle, fact.said_at)
        try:
            return await asyncio.wait_for(reopen_case(client, reference, fact), _wait.total_seconds())
        except CannotReopen as exc:
            raise Refused(str(exc)) from None
        except TimeoutError:
            # A re-open may have started: sending the answer again could escalate twice.
            raise Pending(
                f"{reference}: sent; no answer within {_wait.total_seconds():g} s. "
                f"`admin.py status {reference}` shows whether it was escalated before you send it again"
            ) from None

    outcome = _run(action)
    line = (
        f"{reference}: customer not satisfied after closure; the case is re-opened and being escalated"
        if outcome == "re-opened"
        else f"{reference}: customer not satisfied; the case is being escalated"
    )
    _answer(as_json, reference, "not-satisfied", {"outcome": outcome, **fact.model_dump(mode="json")}, line)


# --- the handler's commands -----------------------------------------------------------------------


@app.command()
def note(
    reference: str,
    text: str,
    author: Annotated[str, typer.Option(help="Who is writing")] = "case handler",
    for_customer: Annotated[
        bool, typer.Option("--for-customer", help="Progress the customer gets in the next update (default: internal)")
    ] = False,
    request_id: RequestIdOption = None,
) -> None:
    """Record a note: internal (never sent) unless --for-customer, then it goes in the next update."""
    _check_reference(reference)
    payload = _payload(ProgressNote, text=text, author=author, for_customer=for_customer)
    request = _request_id(request_id)

    count = _apply(reference, "note", ComplaintCase.add_note, payload, request)
    audience = "for the customer: it goes in the next regular update" if for_customer else "internal: never sent"
    typer.echo(f"{reference}: note {count} recorded ({audience})")


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


def _interval_options(every: str, at: str | None) -> tuple[int, IntervalUnit, time | None]:
    """`--every` and `--at` as `schedule` and `agree` take them; exits 2 naming the one that is wrong."""
    try:
        number, unit = parse_interval(every)
    except ValueError as exc:
        typer.echo(f"invalid: --every: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        return number, unit, _contact_time(at)
    except ValueError as exc:
        typer.echo(f"invalid: --at: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
def schedule(
    reference: str,
    every: Annotated[str, typer.Option(help="7d, 3wd (working days) or 2w")],
    at: Annotated[str | None, typer.Option(help="Agreed contact time, HH:MM UK time")] = None,
    proposed: Annotated[
        bool, typer.Option("--proposed", help="Not agreed yet: offer it to the customer instead")
    ] = False,
    by: ByOption = None,
    request_id: RequestIdOption = None,
) -> None:
    """Record the update interval and contact time the customer agreed; messages then say "as agreed".
    With --proposed the new schedule is offered, and messages never call it agreed."""
    _check_reference(reference)
    number, unit, contact = _interval_options(every, at)
    change = _payload(
        ContactScheduleChange,
        every=number,
        unit=unit,
        contact_time=contact,
        customer_agreed=not proposed,
        recorded_by=_recorded_by(by),
    )
    request = _request_id(request_id)

    agreed = _apply(reference, "schedule", ComplaintCase.change_update_schedule, change, request)
    how = "offered" if proposed else "agreed"
    typer.echo(
        f"{reference}: updates every {agreed.every} {agreed.unit.value.replace('_', ' ')} "
        f"at {agreed.contact_time:%H:%M} ({how})"
    )


@app.command()
def deadlock(
    reference: str,
    reason: Annotated[
        str, typer.Option(help="Why no agreement can be reached (the letter quotes it)")
    ] = Deadlock().reason,
    by: ByOption = None,
    request_id: RequestIdOption = None,
) -> None:
    """Declare deadlock: the customer gets the ADR-rights letter now, with the reason given."""
    _check_reference(reference)
    payload = _payload(Deadlock, reason=reason, recorded_by=_recorded_by(by))
    request = _request_id(request_id)

    said = _apply(reference, "deadlock", ComplaintCase.declare_deadlock, payload, request)
    typer.echo(f"{reference}: {said}")


@app.command()
def compensate(
    reference: str,
    amount: Annotated[str, typer.Option(help="Pounds, e.g. 25.00")],
    reason: Annotated[str, typer.Option(help="Why compensation is due: the customer's message quotes it")],
    by: ByOption = None,
    request_id: RequestIdOption = None,
) -> None:
    """Credit compensation to the customer's next invoice and tell them."""
    _check_reference(reference)
    try:
        pounds = Decimal(amount.strip().lstrip("£"))
    except InvalidOperation:
        typer.echo(f"invalid: --amount: {amount!r} is not an amount in pounds", err=True)
        raise typer.Exit(2) from None
    award = _payload(CompensationAward, amount_gbp=pounds, reason=reason, recorded_by=_recorded_by(by))
    # A credit is money: a retry after a timeout must find the first credit, never make a second.
    request = _request_id(request_id)

    compensation = _apply(reference, "compensate", ComplaintCase.record_compensation, award, request)
    typer.echo(f"{reference}: {gbp(compensation.amount_gbp)} credited to the next invoice ({compensation.credit_id})")


# --- facts a handler records (calls, agreements, pauses, corrected details, a new owner) ---------

CALL_OUTCOMES = {"reached": CallOutcome.REACHED, "voicemail": CallOutcome.VOICEMAIL, "no-answer": CallOutcome.NO_ANSWER}


@app.command()
def call(
    reference: str,
    outcome: Annotated[str, typer.Option(help="reached, voicemail or no-answer")],
    note: Annotated[str | None, typer.Option(help="What was said (internal, never sent)")] = None,
    by: ByOption = None,
    request_id: RequestIdOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record a call to the customer; reaching them meets the introduction clock if it is still owed."""
    _check_reference(reference)
    made = _payload(
        CallMade, outcome=_choice(outcome, "--outcome", CALL_OUTCOMES), recorded_by=_recorded_by(by), note=note
    )
    _json_mode(as_json)
    request = _request_id(request_id, as_json=as_json)

    recorded = _apply(reference, "call", ComplaintCase.record_call, made, request)
    met = f"; it met the {recorded.met} clock" if recorded.met else ""
    if recorded.not_met:
        met = f"; it does not meet the introduction clock: {recorded.not_met}"
    line = f"{reference}: call recorded ({_label(recorded.outcome)}, by {recorded.by}){met}"
    _answer(as_json, reference, "call", recorded, line, request)


# "phone" is no single channel: the customer is phoned first, then written to (channel None).
UPDATE_CHANNELS: dict[str, ChannelKind | None] = {
    "phone": None,
    "sms": ChannelKind.SMS,
    "email": ChannelKind.EMAIL,
    "letter": ChannelKind.LETTER,
}


@app.command()
def agree(
    reference: str,
    every: Annotated[str, typer.Option(help="7d, 3wd (working days) or 2w")],
    at: Annotated[str, typer.Option(help="The contact time the customer agreed, HH:MM UK time")],
    channel: Annotated[
        str, typer.Option(help="phone (then in writing), sms, email or letter: how the customer wants updates")
    ] = "phone",
    by: ByOption = None,
    request_id: RequestIdOption = None,
    as_json: JsonOption = False,
) -> None:
    """Record the update schedule the customer agreed; messages then say "as agreed on <date>"."""
    _check_reference(reference)
    number, unit, contact = _interval_options(every, at)
    agreed = _payload(
        ScheduleAgreed,
        every=number,
        unit=unit,
        contact_time=contact,
        channel=_choice(channel, "--channel", UPDATE_CHANNELS),
        recorded_by=_recorded_by(by),
    )
    _json_mode(as_json)
    request = _request_id(request_id, as_json=as_json)

    schedule_ = _apply(reference, "agree", ComplaintCase.record_agreement, agreed, request)
    line = (
        f"{reference}: updates every {schedule_.every} {_label(schedule_.unit)} at {schedule_.contact_time:%H:%M} "
        f"by {update_channel_label(agreed.channel).removesuffix(' (as agreed)')}, "
        f"as agreed with the customer (recorded by {agreed.recorded_by})"
    )
    result = schedule_.model_dump(mode="json") | {"channel": agreed.channel.value if agreed.channel else None}
    _answer(as_json, reference, "agree", result, line, request)


@app.command("pause-updates")
def pause_updates(
    reference: str,
    until: Annotated[str, typer.Option(help="The day regular updates resume, YYYY-MM-DD (UK)")],
    reason: Annotated[str, typer.Option(help="Why the customer asked for the pause")],
    by: ByOption = None,
    request_id: RequestIdOption = None,
    as_json: JsonOption = False,
) -> None:
    """The customer asked for no regular updates until a date; the 8-week clock never pauses."""
    _check_reference(reference)
    try:
        day = date.fromisoformat(until.strip())
    except ValueError:
        typer.echo(f"invalid: --until: {until!r} is not a date like 2026-12-14", err=True)
        raise typer.Exit(2) from None
    # Whether the date is after today and within 8 weeks is the case's to judge, on its own clock.
    pause = _payload(UpdatesPaused, until=day, reason=reason, recorded_by=_recorded_by(by))
    _json_mode(as_json)
    request = _request_id(request_id, as_json=as_json)

    said = _apply(reference, "pause-updates", ComplaintCase.pause_updates, pause, request)
    _answer(as_json, reference, "pause-updates", said, f"{reference}: {said}", request)


def parse_address(text: str) -> dict[str, Any]:
    """'14 Bethcar Street; Ebbw Vale; NP23 6HH': the address lines then the postcode, separated by
    semicolons (commas are common inside a line: "Flat 2, 14 Bethcar Street"). A UK address."""
    parts = [" ".join(part.split()) for part in text.split(";")]
    if len(parts) < 2 or not all(parts):
        raise ValueError(
            f'{text!r}: give the lines then the postcode, separated by semicolons: "14 Bethcar Street; Ebbw Vale; NP23 6HH"'
        )
    return {"lines": parts[:-1], "postcode": parts[-1]}


@app.command()
def contact(
    reference: str,
    email: Annotated[str | None, typer.Option(help="The customer's corrected email address")] = None,
    phone: Annotated[
        str | None, typer.Option(help="The customer's corrected phone number (07911 123456 or +44...)")
    ] = None,
    address: Annotated[
        str | None, typer.Option(help='The corrected postal address: "line 1; line 2; POSTCODE"')
    ] = None,
    preferred: Annotated[
        str | None, typer.Option(help="How the customer wants written contact: letter or email")
    ] = None,
    by: ByOption = None,
    request_id: RequestIdOption = None,
    as_json: JsonOption = False,
) -> None:
    """Correct the customer's contact details; later messages use them. The old values are not kept."""
    _check_reference(reference)
    given: dict[str, Any] = {"email": email, "phone": phone, "preferred_written_channel": preferred}
    data = {name: value for name, value in given.items() if value is not None}
    if address is not None:
        try:
            data["address"] = parse_address(address)
        except ValueError as exc:
            typer.echo(f"invalid: --address: {exc}", err=True)
            raise typer.Exit(2) from None
    if not data:
        typer.echo("invalid: give at least one of --email, --phone, --address, --preferred", err=True)
        raise typer.Exit(2)
    correction = _checked_input(ContactCorrection, data | {"recorded_by": _recorded_by(by)})
    _json_mode(as_json)
    request = _request_id(request_id, as_json=as_json)

    async def action(client: Client) -> tuple[list[str], ChannelKind | None]:
        handle = await _open_case(client, reference)
        keyed = await _with_contact_keys(client, handle, correction)
        agreed = (await _state(client, handle)).update_channel
        changed = await _update(
            client,
            handle,
            ComplaintCase.correct_contact,
            keyed,
            id=update_id("contact", reference, keyed, request),
        )
        # The agreed channel may no longer reach the customer (a landline takes no texts): say so.
        lost = agreed if agreed is not None and (await _state(client, handle)).update_channel is None else None
        return changed, lost

    changed, lost = _run(action)
    line = f"{reference}: contact details corrected ({', '.join(changed)}); later messages use them"
    if lost is not None:
        line += (
            f"; the agreed update channel ({lost.value}) no longer reaches them, so updates go by phone first, "
            "then in writing: agree another with admin.py agree"
        )
    _answer(as_json, reference, "contact", {"changed": changed}, line, request)


async def _with_contact_keys(
    client: Client, handle: WorkflowHandle[Any, Any], correction: ContactCorrection
) -> ContactCorrection:
    """The correction with `contact_keys` for the customer's details as they will be after it (the
    corrected fields, the rest as they are now), so a reply from the new number finds the case and
    one from the unchanged address still does. Without COMPLAINTS_CONTACT_KEY_SECRET, unchanged."""
    secret = configured_secret()
    if not secret:
        return correction
    try:
        now = (await _state(client, handle)).customer
    except Refused:
        now = None  # no worker to answer: the details as filed are in history
    now = now or await _filed_customer(client, handle)
    keys = contact_keys(
        secret,
        phone=correction.phone or (now.phone if now else None),
        email=correction.email or (now.email if now else None),
    )
    return correction.model_copy(update={"contact_keys": keys or None})


@app.command(name="ask-to-close")
def ask_to_close(
    reference: str,
    by: ByOption = None,
    request_id: RequestIdOption = None,
) -> None:
    """Ask the customer to reply YES if the complaint is resolved, NO if not (SMS to a mobile, else
    e-mail); a YES from their own number or address closes the case as `satisfied` does."""
    _check_reference(reference)
    payload = _payload(AskToClose, recorded_by=_recorded_by(by))
    request = _request_id(request_id)

    async def action(client: Client) -> tuple[str, datetime | None]:
        handle = await _open_case(client, reference)
        # The workflow's `ask_to_close` update (v4) returns the channel it asked on.
        update = update_id("ask-to-close", reference, payload, request)
        channel = await _update(client, handle, ComplaintCase.ask_to_close, payload, id=update)
        # A text asked at night waits for the quiet hours: the customer has not been asked yet.
        state = await _state(client, handle)
        waiting = [t.not_before for t in state.deferred_texts if t.kind is MessageKind.ASK_TO_CLOSE]
        return channel, min(waiting, default=None)

    channel, not_before = _run(action)
    when = f" (a text at night waits for the quiet hours: it goes {local_label(not_before)})" if not_before else ""
    typer.echo(
        f"{reference}: asked the customer to confirm by {channel}{when}; a YES reply closes the case, NO escalates"
    )


@app.command()
def replies(
    unmatched: Annotated[bool, typer.Option("--unmatched", help="Replies that matched no open case")] = False,
    as_json: JsonOption = False,
) -> None:
    """Customer replies the inbound service could not match to one open case, newest first."""
    if not unmatched:
        typer.echo("invalid: only --unmatched is listed here; a matched reply is in `status REF`", err=True)
        raise typer.Exit(2)
    settings = PipelineSettings()
    try:
        queue = InboundQueue(stores.locate(settings, stores.INBOUND), AtRest(CodecSettings().keyring()))
        listed = queue.unmatched()
    except ValueError as exc:
        typer.echo(f"refused: {exc}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "reply_id": u.reply.reply_id,
                        "received_at": u.reply.received_at.isoformat(),
                        "channel": u.reply.channel.value,
                        "sender": mask_sender(u.reply.sender),
                        # false: an e-mail whose sender failed SPF/DKIM (it may be forged); null: not checked
                        "sender_authenticated": u.reply.sender_authenticated,
                        "text": u.reply.text,
                        "why_unmatched": u.reason,
                    }
                    for u in listed
                ],
                indent=2,
            )
        )
        return
    if not listed:
        typer.echo("no unmatched replies")
        return
    table = Table("received", "channel", "sender", "text", "why unmatched")
    for u in listed:
        table.add_row(
            local_label(u.reply.received_at),
            u.reply.channel.value,
            escape(mask_sender(u.reply.sender))
            + (" (failed the sender checks: may be forged)" if failed_sender_checks(u.reply) else ""),
            escape(u.reply.text),
            escape(u.reason),
        )
    console.print(table)


@app.command()
def reassign(
    reference: str,
    to: Annotated[str, typer.Option(help="The new owner's handler id, as in the roster (amara.okafor)")],
    reason: Annotated[str, typer.Option(help="Why (absence, a leaver, a specialist)")],
    by: ByOption = None,
    request_id: RequestIdOption = None,
    as_json: JsonOption = False,
) -> None:
    """Give the case a new owner at the same level; they introduce themselves to the customer."""
    _check_reference(reference)
    handler = _roster_handler(to)
    move = _payload(Reassignment, to=handler, reason=reason, recorded_by=_recorded_by(by))
    _json_mode(as_json)
    request = _request_id(request_id, as_json=as_json)

    owner = _apply(reference, "reassign", ComplaintCase.reassign, move, request)
    line = f"{reference}: reassigned to {owner.name} ({owner.id}, {owner.role.title})"
    _answer(as_json, reference, "reassign", owner, line, request)


def _roster_handler(handler_id: str) -> Handler:
    """The full roster entry (direct phone and email go to the customer), or a one-line refusal."""
    try:
        roster = load_roster()
    except ConfigError as exc:
        typer.echo(f"refused: {_one_line(exc)}", err=True)
        raise typer.Exit(1) from None
    found = next((h for h in roster if h.id == handler_id.strip()), None)
    if found is None:
        typer.echo(
            f"refused: --to: no handler {handler_id!r} in the roster ({PipelineSettings().roster_file}); "
            f"known: {', '.join(h.id for h in roster)}",
            err=True,
        )
        raise typer.Exit(1)
    return found


CLOSURE_OUTCOMES = {
    "withdrawn": ClosureOutcome.WITHDRAWN,
    "no-response": ClosureOutcome.NO_RESPONSE,
    "duplicate": ClosureOutcome.DUPLICATE,
    "referred-to-adr": ClosureOutcome.REFERRED_TO_ADR,
}


@app.command()
def close(
    reference: str,
    outcome: Annotated[str, typer.Option(help="withdrawn, no-response, duplicate or referred-to-adr")],
    reason: Annotated[str, typer.Option(help="Why, in the handler's words (kept in the record)")],
    duplicate_of: Annotated[
        str | None, typer.Option("--duplicate-of", help="With --outcome duplicate: the reference it is handled under")
    ] = None,
    by: ByOption = None,
    request_id: RequestIdOption = None,
    as_json: JsonOption = False,
) -> None:
    """Close the case for a reason other than the customer's confirmation; the closure message says which."""
    _check_reference(reference)
    if duplicate_of is not None and not is_reference(duplicate_of.strip()):
        typer.echo(f"invalid: --duplicate-of: {duplicate_of!r} is not a case reference", err=True)
        raise typer.Exit(2)
    closure = _payload(
        CaseClosure,
        outcome=_choice(outcome, "--outcome", CLOSURE_OUTCOMES),
        reason=reason,
        duplicate_of=duplicate_of,
        recorded_by=_recorded_by(by),
    )
    _json_mode(as_json)
    request = _request_id(request_id, as_json=as_json)

    async def duplicate_of_open(client: Client, handle: WorkflowHandle[Any, Any]) -> None:
        if closure.duplicate_of is not None:
            await _check_duplicate_of(client, handle, closure.duplicate_of)

    said = _apply(reference, "close", ComplaintCase.close_case, closure, request, check=duplicate_of_open)
    _answer(as_json, reference, "close", said, f"{reference}: {said.removeprefix(f'case {reference} ')}", request)


@app.command()
def withdraw(
    reference: str,
    reason: Annotated[str, typer.Option(help="What the customer said, in the handler's words")],
    by: ByOption = None,
    request_id: RequestIdOption = None,
    as_json: JsonOption = False,
) -> None:
    """The customer withdraws the complaint: the case closes as withdrawn, and the customer is told."""
    close(
        reference, outcome="withdrawn", reason=reason, duplicate_of=None, by=by, request_id=request_id, as_json=as_json
    )


@app.command()
def terminate(
    reference: str,
    reason: Annotated[str, typer.Option(help="Why the case is stopped without closing it (kept with the case)")],
) -> None:
    """Stop a case's workflow at once (on-call only): its compliance record is written to the
    archive first, since a terminated workflow runs no more code. Refused if it cannot be written."""
    _check_reference(reference)

    async def action(client: Client) -> None:
        handle = await _open_case(client, reference)
        await _update(client, handle, ComplaintCase.write_evidence)
        await handle.terminate(reason=f"admin.py terminate by {_recorded_by(None)}: {reason}", rpc_timeout=_wait)

    _run(action)
    typer.echo(f"{reference}: compliance record archived; case terminated")


if __name__ == "__main__":
    run_cli(app)
