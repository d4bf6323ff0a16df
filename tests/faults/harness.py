"""Real processes for the fault tests, and the counters that prove nothing was lost or duplicated.

Every process is started in its own session (process group) and registered with a `Processes`
registry, which SIGKILLs every group it still holds when the test ends, pass or fail.

What "delivered once" is counted against:
- `OutboxWrites`: the outbox replaces a file per message key, so a second send of one key leaves
  one file, not two. Counting files would hide it; this watches each case folder with inotify and
  counts every file the channel renames into place (one per send).
- the sent-message ledger (`sent-messages.sqlite3`, or the stores' PostgreSQL database): the keys
  the channels accepted, which must be the keys the case recorded;
- the case's own record (`case_state` query / workflow result): one `sent` MessageRecord per
  planned message, and no other.
Vendor sends are counted at the vendor instead (tests/faults/vendor_proxy.py).
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import select
import signal
import sqlite3
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as wall_time
from pathlib import Path
from typing import Any, TypeVar, overload
from zoneinfo import ZoneInfo

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from activities.working_calendar import bank_holidays
from channels.base import safe_file_stem
from channels.sent_log import SentLog
from codec.converter import data_converter
from codec.keyring import CodecSettings
from domain.models import CalendarSpec, CaseStage, CaseState, ComplaintIntake, ComplaintPolicy, QuietHours
from domain.reference import reference_for_intake
from ops.dev_server import DevServer, start_dev_server
from settings import REPO, load_policy

T = TypeVar("T")

EXAMPLE = REPO / "examples" / "broadband-outage-email.json"

# Variables a developer's shell may hold that would change what the child processes talk to.
_FOREIGN_PREFIXES = ("TEMPORAL_", "COMPLAINTS_")
_KEPT = ("COMPLAINTS_CODEC_",)  # the test's own client decodes with the same keys as the worker


def child_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_FOREIGN_PREFIXES) or k.startswith(_KEPT)}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(overrides)
    return env


# --- processes ------------------------------------------------------------------------------------


class Processes:
    """Every process a test starts; `close()` kills each group that is still alive."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.logs.mkdir(parents=True, exist_ok=True)
        self._live: list[subprocess.Popen] = []
        self.servers: list[DevServer] = []

    def spawn(self, name: str, argv: list[str], env: dict[str, str]) -> tuple[subprocess.Popen, Path]:
        log_path = self.logs / f"{name}.log"
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                argv,
                env=env,
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: a kill takes anything it started too
            )
        self._live.append(process)
        return process, log_path

    def start_server(self, *, port: int | None = None, db_file: Path | None = None) -> DevServer:
        server = start_dev_server(port=port, db_file=db_file, log_file=self.logs / "temporal-server.log")
        self.servers.append(server)
        return server

    @staticmethod
    def kill(process: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
        if process.poll() is None:
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                pass
        process.wait(timeout=30)

    def close(self) -> None:
        for process in self._live:
            try:
                self.kill(process)
            except Exception:  # noqa: BLE001 - keep killing the others
                pass
        for server in self.servers:
            if server.process.poll() is None:
                try:
                    os.killpg(server.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                server.process.wait(timeout=30)


@dataclass
class WorkerProcess:
    process: subprocess.Popen
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None


async def start_worker(processes: Processes, name: str, env: dict[str, str], timeout: float = 60) -> WorkerProcess:
    """`worker.py` as a deploy runs it; returns once it is polling (its log says so)."""
    process, log = processes.spawn(name, [sys.executable, str(REPO / "worker.py")], env)
    worker = WorkerProcess(process, log)
    deadline = time.monotonic() + timeout
    while "worker polling task queue" not in worker.log_text():
        if not worker.alive():
            raise AssertionError(f"{name} exited with {process.returncode}:\n{tail(log)}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} did not start polling within {timeout:g}s:\n{tail(log)}")
        await asyncio.sleep(0.1)
    return worker


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


async def connect_client(server: DevServer) -> Client:
    return await Client.connect(server.address, data_converter=data_converter(CodecSettings()))


# --- the cases ------------------------------------------------------------------------------------


def all_week_policy() -> tuple[ComplaintPolicy, dict[str, str]]:
    """The deployed policy with a calendar that works every day, all day, so the introduction goes
    out at once whatever time the tests run. Returned also as the COMPLAINTS_POLICY__ environment
    overrides that give `starter.py` the same policy.

    A bank holiday today would still push the introduction to tomorrow, so the nation (and, on a
    day that is a holiday everywhere in the UK, the time zone) is picked to avoid one.
    """
    now = datetime.now(UTC)
    for zone in ("Europe/London", "Pacific/Kiritimati", "Etc/GMT+12"):
        for nation in ("ENG", "SCT", "NIR", "WLS"):
            spec = CalendarSpec(
                timezone=zone,
                subdivision=nation,
                workdays=[0, 1, 2, 3, 4, 5, 6],
                day_start=wall_time(0, 0),
                day_end=wall_time(23, 59, 59),
            )
            days = {(now + timedelta(minutes=m)).astimezone(ZoneInfo(zone)).date() for m in (0, 30)}
            holidays = bank_holidays(spec, sorted({d.year for d in days}))
            if not days & set(holidays):
                base = load_policy()
                # Texts at any hour too: the tests expect the introduction by SMS whenever they run.
                quiet = QuietHours(start=wall_time(0, 0), end=wall_time(23, 59, 59), no_contact_days=[])
                policy = ComplaintPolicy.model_validate(
                    base.model_dump() | {"calendar": spec.model_dump(), "quiet_hours": quiet.model_dump()}
                )
                env = {
                    "COMPLAINTS_POLICY__CALENDAR__TIMEZONE": zone,
                    "COMPLAINTS_POLICY__CALENDAR__SUBDIVISION": nation,
                    "COMPLAINTS_POLICY__CALENDAR__WORKDAYS": "[0,1,2,3,4,5,6]",
                    "COMPLAINTS_POLICY__CALENDAR__DAY_START": "00:00:00",
                    "COMPLAINTS_POLICY__CALENDAR__DAY_END": "23:59:59",
                    "COMPLAINTS_POLICY__QUIET_HOURS__START": "00:00:00",
                    "COMPLAINTS_POLICY__QUIET_HOURS__END": "23:59:59",
                    "COMPLAINTS_POLICY__QUIET_HOURS__NO_CONTACT_DAYS": "[]",
                }
                return policy, env
    raise AssertionError("no UK nation and time zone without a bank holiday today")


def complaint(run: str, number: int) -> ComplaintIntake:
    """A valid complaint from the example, with its own intake id, customer email and mobile."""
    data = json.loads(EXAMPLE.read_text())
    data["intake_id"] = f"faults-{run}-{number:03d}"
    data["received_at"] = datetime.now(UTC).isoformat()
    data["customer"]["name"] = f"Customer {number:03d}"
    data["customer"]["email"] = f"customer{number:03d}.{run}@example.com"
    data["customer"]["phone"] = f"+4479111{number:05d}"
    return ComplaintIntake.from_intake(data)


def reference_of(intake: ComplaintIntake, policy: ComplaintPolicy) -> str:
    """The reference `file_complaint` will give this intake (deterministic from its intake id)."""
    assert intake.intake_id is not None
    year = intake.received_at.astimezone(ZoneInfo(policy.calendar.timezone)).year
    return reference_for_intake(year, intake.intake_id)


# --- counting -------------------------------------------------------------------------------------

_IN_MOVED_TO = 0x00000080
_IN_Q_OVERFLOW = 0x00004000
_EVENT = struct.Struct("iIII")


class OutboxWrites:
    """Counts every file the outbox renames into place, per case folder and file name."""

    def __init__(self, outbox: Path, references: Iterable[str]) -> None:
        self._libc = ctypes.CDLL(None, use_errno=True)
        self._fd = self._libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        self._folders: dict[int, str] = {}
        for reference in references:
            # Made (and watched) before the case exists, so its first send cannot be missed.
            folder = outbox / safe_file_stem(reference)
            folder.mkdir(parents=True, exist_ok=True)
            wd = self._libc.inotify_add_watch(self._fd, str(folder).encode(), _IN_MOVED_TO)
            if wd < 0:
                raise OSError(ctypes.get_errno(), f"inotify_add_watch {folder}")
            self._folders[wd] = reference
        self.counts: Counter[tuple[str, str]] = Counter()
        self.overflowed = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="outbox-writes", daemon=True)

    def __enter__(self) -> OutboxWrites:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        os.close(self._fd)

    async def settle(self) -> None:
        """Let the watch read what has happened so far (events count once they are read)."""
        await asyncio.sleep(0.3)

    def _run(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._fd], [], [], 0.05)
            if not ready:
                continue
            try:
                data = os.read(self._fd, 65536)
            except BlockingIOError:
                continue
            offset = 0
            while offset < len(data):
                wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
                name = data[offset + _EVENT.size : offset + _EVENT.size + length].rstrip(b"\0").decode()
                offset += _EVENT.size + length
                if mask & _IN_Q_OVERFLOW:
                    self.overflowed = True
                elif mask & _IN_MOVED_TO and wd in self._folders:
                    self.counts[(self._folders[wd], name)] += 1

    def for_case(self, reference: str) -> dict[str, int]:
        return {name: n for (ref, name), n in self.counts.items() if ref == reference}


def outbox_files(outbox: Path, reference: str) -> list[str]:
    """What a case's folder holds, leaving out the temporary file of a write cut short by a kill."""
    folder = outbox / safe_file_stem(reference)
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith(".tmp-")) if folder.exists() else []


def ledger_keys(ledger: Path | str) -> Counter[str]:
    """The keys in the sent-message ledger: its SQLite file (a data folder's, or the file itself),
    or the stores' database URL."""
    if isinstance(ledger, Path):
        path = ledger if ledger.suffix == ".sqlite3" else ledger / "sent-messages.sqlite3"
        if not path.exists():
            return Counter()
        with closing(sqlite3.connect(path)) as conn:
            return Counter(row[0] for row in conn.execute("SELECT key FROM sent_messages"))
    return Counter(SentLog(ledger).keys())


def file_name(key: str, channel: str) -> str:
    return safe_file_stem(key) + {"email": ".eml", "sms": ".sms.json", "letter": ".pdf"}[channel]


# --- waiting --------------------------------------------------------------------------------------


# A check may be a plain function or a coroutine function; either way the caller gets its answer.
@overload
async def eventually(check: Callable[[], Awaitable[T]], *, timeout: float, what: str, every: float = 0.5) -> T: ...
@overload
async def eventually(check: Callable[[], T], *, timeout: float, what: str, every: float = 0.5) -> T: ...
async def eventually(check: Callable[[], Any], *, timeout: float, what: str, every: float = 0.5) -> Any:
    """Poll until `check` returns something truthy; fail saying `what` did not happen."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            result = check()
            if asyncio.iscoroutine(result) or isinstance(result, Awaitable):
                result = await result
            if result:
                return result
            last = result
        except Exception as exc:  # noqa: BLE001 - a server coming back answers with errors for a while
            last = exc
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout:g}s (last: {last!r})")
        await asyncio.sleep(every)


# What every case in these tests must get, once each: the acknowledgement by email, the
# introduction by phone (SMS) and then in writing (email), and the closure by email.
EXPECTED_SENDS = (
    ("acknowledgement", "email"),
    ("introduction", "sms"),
    ("introduction", "email"),
    ("closure", "email"),
)
BEFORE_CLOSURE = EXPECTED_SENDS[:3]


# --- the verdict ----------------------------------------------------------------------------------


def sent_records(state: CaseState) -> Counter[tuple[str, str]]:
    return Counter((m.kind.value, m.channel.value) for m in state.messages if m.status == "sent")


def not_sent_exactly_once(state: CaseState, expected: tuple[tuple[str, str], ...], when: str = "") -> list[str]:
    """Each expected (kind, channel) recorded as sent once, and nothing else."""
    ref, found = state.reference, []
    sent = sent_records(state)
    for send in expected:
        if sent[send] != 1:
            found.append(f"{ref}: {send[0]} by {send[1]} recorded as sent {sent[send]} times")
    extra = set(sent) - set(expected)
    if extra:
        found.append(f"{ref}: unexpected messages{when}: {sorted(extra)}")
    return found


def problems_before_closure(state: CaseState) -> list[str]:
    """A case that has been acknowledged and introduced, each exactly once per planned channel."""
    ref, found = state.reference, not_sent_exactly_once(state, BEFORE_CLOSURE, " recorded before closure")
    for name in ("acknowledgement", "introduction"):
        milestone = state.milestone(name)
        if milestone is None or milestone.done_at is None or milestone.undeliverable_at is not None:
            found.append(f"{ref}: milestone {name} not done: {milestone!r}")
    if state.stage is not CaseStage.INVESTIGATING:
        found.append(f"{ref}: stage {state.stage.value}, expected investigating")
    return found


def problems_after_closure(state: CaseState) -> list[str]:
    """A closed case: everything above once, one closure, archived, no send that failed."""
    ref, found = state.reference, not_sent_exactly_once(state, EXPECTED_SENDS)
    failed = [m.key for m in state.messages if m.status != "sent"]
    if failed:
        found.append(f"{ref}: sends recorded as failed: {failed}")
    keys = Counter(m.key for m in state.messages)
    found += [f"{ref}: message key {k} recorded {n} times" for k, n in keys.items() if n > 1]
    if state.stage is not CaseStage.CLOSED or state.closed_at is None or state.archived_at is None:
        found.append(f"{ref}: not closed and archived (stage {state.stage.value})")
    return found


def problems_in_outbox(
    state: CaseState,
    outbox: Path,
    writes: OutboxWrites,
    ledger: Counter[str],
) -> list[str]:
    """The case's record, its outbox folder, the outbox's writes and the ledger tell one story."""
    ref, found = state.reference, []
    sent = {m.key: m.channel.value for m in state.messages if m.status == "sent"}
    expected_files = sorted(file_name(key, channel) for key, channel in sent.items())
    files = outbox_files(outbox, ref)
    if files != expected_files:
        found.append(f"{ref}: outbox holds {files}, the case recorded {expected_files}")
    written = writes.for_case(ref)
    found += [f"{ref}: {name} was written to the outbox {n} times" for name, n in written.items() if n != 1]
    missing = set(expected_files) - set(written)
    if missing:
        found.append(f"{ref}: no outbox write seen for {sorted(missing)}")
    in_ledger = {k for k in ledger if k.startswith(f"{ref}/")}
    if in_ledger != set(sent):
        found.append(f"{ref}: ledger holds {sorted(in_ledger)}, the case recorded {sorted(sent)}")
    return found


async def workers_in_history(client: Client, reference: str) -> set[int]:
    """The worker processes (pids) that picked up this case's workflow tasks or activities."""
    pids: set[int] = set()
    async for event in client.get_workflow_handle(reference).fetch_history_events():
        for attributes in (
            event.workflow_task_started_event_attributes,
            event.activity_task_started_event_attributes,
        ):
            identity = attributes.identity
            if identity and identity.split("@")[0].isdigit():
                pids.add(int(identity.split("@")[0]))
    return pids


async def polling_workers(client: Client, task_queue: str) -> set[int]:
    """The worker processes (pids) the server has seen polling `task_queue` for workflow tasks."""
    from temporalio.api.taskqueue.v1 import TaskQueue
    from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

    described = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(namespace=client.namespace, task_queue=TaskQueue(name=task_queue))
    )
    return {int(p.identity.split("@")[0]) for p in described.pollers if p.identity.split("@")[0].isdigit()}


async def interruptions(client: Client, reference: str) -> Counter[str]:
    """What faults left in a case's history: timed-out workflow tasks and activity attempts."""
    seen: Counter[str] = Counter()
    async for event in client.get_workflow_handle(reference).fetch_history_events():
        name = EventType.Name(event.event_type)
        if name.endswith(("_TIMED_OUT", "_FAILED")):
            seen[name.removeprefix("EVENT_TYPE_").lower()] += 1
        if event.activity_task_started_event_attributes.attempt > 1:
            seen["activity_retried"] += 1
    return seen


# --- the one duplicate the design admits ----------------------------------------------------------

# channels/sent_log.py: a worker that dies after a channel accepted a message and before the
# ledger committed its receipt leaves no record. For the outbox and post room the written file is
# the proof (channels/outbox.py returns it instead of writing again), so the outbox tests here are
# strict. For a vendor with no idempotency key (SendGrid) Temporal's retry sends again: the one
# duplicate the design admits, documented in docs/channels.md and reproduced on purpose by
# tests/faults/test_ledger_gap.py (a strict xfail while VENDOR_GAP_OPEN is True).
VENDOR_GAP_OPEN = True


class DuplicateDelivery(AssertionError):
    """A message the vendor (or the outbox) accepted more than once."""


def delivery_problems(
    final: dict[str, CaseState], data_dir: Path, writes: OutboxWrites, ledger_at: Path | str | None = None
) -> list[str]:
    """Everything wrong with a closed batch: every send exactly once, in the case, outbox and ledger
    (the data folder's, unless `ledger_at` names another: the stores' database)."""
    ledger = ledger_keys(data_dir if ledger_at is None else ledger_at)
    outbox = data_dir / "outbox"
    problems = [p for state in final.values() for p in problems_after_closure(state)]
    problems += [p for state in final.values() for p in problems_in_outbox(state, outbox, writes, ledger)]
    if writes.overflowed:
        problems.append("the outbox watch overflowed: writes were not all counted")
    if sum(ledger.values()) != len(final) * len(EXPECTED_SENDS):
        problems.append(f"the ledger holds {sum(ledger.values())} sends for {len(final)} cases")
    return problems
