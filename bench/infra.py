"""What every scenario needs: servers, workers (in-process and as processes), intakes, memory readings."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from datetime import time as clock_time
from pathlib import Path
from typing import Any

from temporalio import activity
from temporalio import client as temporal_client
from temporalio import worker as temporal_worker
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.worker import Worker

from bench.baseline import BaselineCase, noop, noop_local
from connection import connect
from domain.models import ComplaintPolicy, DeliveryReceipt
from ops.dev_server import DevServer, start_dev_server
from settings import REPO, PipelineSettings, load_policy
from worker import workflow_runner_for

EXAMPLE = REPO / "examples" / "broadband-outage-email.json"
READY_LINE = "polling task queue"


def progress(message: str) -> None:
    """A line on stderr: stdout is kept for the report."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class BenchError(Exception):
    """A scenario could not run (a server or worker did not come up, a bound was hit)."""


def task_queue(prefix: str) -> str:
    return f"bench-{prefix}-{uuid.uuid4().hex[:8]}"


def round_the_clock_policy() -> ComplaintPolicy:
    """The configured policy, with contact hours every day 00:00-23:59:59.

    The introduction waits for contact hours (09:00-17:00 on UK working days); with this calendar a
    case goes through its introduction at any time of day, so the bench measures the same path
    whenever it runs. Bank holidays still count as closed days.
    """
    policy = load_policy()
    calendar = policy.calendar.model_copy(
        update={"workdays": list(range(7)), "day_start": clock_time(0, 0), "day_end": clock_time(23, 59, 59)}
    )
    return policy.model_copy(update={"calendar": calendar})


def today_is_a_bank_holiday(policy: ComplaintPolicy) -> bool:
    from activities.working_calendar import bank_holidays

    today = datetime.now(UTC).date()
    return today in bank_holidays(policy.calendar, [today.year])


class IntakeTexts:
    """The example complaint as an intake system sends it: fresh `received_at`, unique intake id."""

    def __init__(self) -> None:
        self._example = json.loads(EXAMPLE.read_text())
        self._prefix = uuid.uuid4().hex[:8]
        self._count = 0

    def next(self, *, with_intake_id: bool = True) -> str:
        self._count += 1
        data = dict(self._example)
        data["received_at"] = datetime.now(UTC).isoformat()
        if with_intake_id:
            data["intake_id"] = f"bench-{self._prefix}-{self._count}"
        else:
            data.pop("intake_id", None)
        return json.dumps(data)


# --- servers -----------------------------------------------------------------------------------


@contextmanager
def dev_server(backend: str, folder: Path) -> Iterator[DevServer]:
    """`temporal server start-dev` from the venv, in memory or on a fresh SQLite file."""
    folder.mkdir(parents=True, exist_ok=True)
    db_file = folder / f"temporal-{uuid.uuid4().hex[:6]}.sqlite" if backend == "sqlite" else None
    server = start_dev_server(db_file=db_file, log_file=folder / "server.log")
    try:
        yield server
    finally:
        server.stop()


async def pipeline_client(address: str) -> Client:
    return await connect(PipelineSettings(temporal_address=address))


async def is_asleep(client: Client, workflow_id: str) -> bool:
    """Waiting only on a timer or a signal: no activity or workflow task pending.

    Describe is answered by the server alone; a query would need the worker, which may be busy.
    """
    try:
        described = await client.workflow_service.describe_workflow_execution(
            DescribeWorkflowExecutionRequest(
                namespace=client.namespace, execution=WorkflowExecution(workflow_id=workflow_id)
            )
        )
    except RPCError as err:
        # A server at full stretch sheds some describes (cancelled, unavailable): ask again later.
        if err.status in (RPCStatusCode.CANCELLED, RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            return False
        raise
    return not described.pending_activities and not described.HasField("pending_workflow_task")


class InMemorySends(temporal_client.Interceptor, temporal_worker.Interceptor):
    """Every activity is the real one except `send_message`, answered in memory as the tests' outbox does.

    Set on the worker's client, so `build_worker` wires everything else exactly as in production.
    """

    def intercept_activity(
        self, next: temporal_worker.ActivityInboundInterceptor
    ) -> temporal_worker.ActivityInboundInterceptor:
        return _AnswerSendsInMemory(next)


class _AnswerSendsInMemory(temporal_worker.ActivityInboundInterceptor):
    async def execute_activity(self, input: temporal_worker.ExecuteActivityInput) -> object:
        if activity.info().activity_type != "send_message":
            return await super().execute_activity(input)
        request = input.args[0]
        receipt = DeliveryReceipt(
            key=request.key, channel=request.channel, provider_id="in-memory", sent_at=datetime.now(UTC)
        )
        return receipt.for_case() if request.case_receipt else receipt  # as the real activity answers


# --- workers -----------------------------------------------------------------------------------


async def encrypted_client(address: str) -> Client:
    """A client whose payloads are encrypted as production's are (COMPLAINTS_CODEC_KEYS), with a
    fresh key of the bench's own."""
    from codec.converter import data_converter
    from codec.keyring import CodecSettings, generate_key

    codec = CodecSettings(keys=f"bench:{generate_key()}")
    return await Client.connect(address, namespace="default", data_converter=data_converter(codec))


@asynccontextmanager
async def pipeline_worker(
    address: str, queue: str, data_dir: Path, *, in_memory_sends: bool = False, client: Client | None = None
) -> AsyncIterator[Any]:
    """The real worker (build_worker, outbox channels) in this process, with its own connection
    (or `client`'s: the encrypted one)."""
    from worker import build_worker

    settings = PipelineSettings(
        temporal_address=address, task_queue=queue, data_dir=data_dir, graceful_shutdown_seconds=2
    )
    client = client or await connect(settings)
    if in_memory_sends:
        client = Client(
            client.service_client,
            namespace=client.namespace,
            data_converter=client.data_converter,
            interceptors=[InMemorySends()],
        )
    async with build_worker(client, settings) as worker:
        yield worker


def baseline_worker_for(client: Client, queue: str, **options: object) -> Worker:
    return Worker(
        client,
        task_queue=queue,
        workflows=[BaselineCase],
        activities=[noop, noop_local],
        # The same sandbox as the pipeline: its cost belongs to the engine, not to the case code.
        workflow_runner=workflow_runner_for(PipelineSettings()),
        **options,  # type: ignore[arg-type]
    )


@asynccontextmanager
async def baseline_worker(address: str, queue: str) -> AsyncIterator[Worker]:
    client = await pipeline_client(address)
    async with baseline_worker_for(client, queue) as worker:
        yield worker


@dataclass
class WorkerProcess:
    process: subprocess.Popen
    log_file: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss(self) -> dict[str, float]:
        return process_memory(self.pid)

    def stop(self) -> None:
        stop_all([self])


def stop_all(workers: list[WorkerProcess]) -> None:
    """SIGTERM to every worker first (each drains for up to 2 s), then wait for them together."""
    for worker in workers:
        if worker.process.poll() is None:
            worker.process.send_signal(signal.SIGTERM)
    for worker in workers:
        wait_or_kill(worker.process, 30)


def wait_or_kill(process: subprocess.Popen, timeout: float) -> None:
    """Wait for a process told to stop; SIGKILL it if it is still there after `timeout` seconds."""
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def spawn_worker(
    kind: str,
    address: str,
    queue: str,
    data_dir: Path,
    *,
    max_cached: int | None = None,
    extra_env: dict[str, str] | None = None,
) -> WorkerProcess:
    """A worker process: the real `python worker.py` for the pipeline, `bench.baseline_worker` otherwise.

    `max_cached` sets the workflow cache (COMPLAINTS_MAX_CACHED_WORKFLOWS, as a deployment would).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    if kind == "pipeline":
        command = [sys.executable, str(REPO / "worker.py")]
    else:
        command = [sys.executable, "-m", "bench.baseline_worker"]
    env = os.environ | {
        "TEMPORAL_ADDRESS": address,
        "COMPLAINTS_TASK_QUEUE": queue,
        "COMPLAINTS_DATA_DIR": str(data_dir),
        "COMPLAINTS_GRACEFUL_SHUTDOWN_SECONDS": "2",
        "PYTHONUNBUFFERED": "1",
    }
    if max_cached is not None:
        env["COMPLAINTS_MAX_CACHED_WORKFLOWS"] = str(max_cached)
    env |= extra_env or {}
    log_file = data_dir / f"worker-{uuid.uuid4().hex[:6]}.log"
    with open(log_file, "wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
    return WorkerProcess(process, log_file)


def wait_until_polling(workers: list[WorkerProcess], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    pending = list(workers)
    while pending:
        for worker in list(pending):
            if worker.process.poll() is not None:
                raise BenchError(f"worker exited with {worker.process.returncode}: {tail(worker.log_file)}")
            if READY_LINE in worker.log_file.read_text(errors="replace"):
                pending.remove(worker)
        if time.monotonic() > deadline:
            raise BenchError(f"worker not polling after {timeout:.0f}s: {tail(pending[0].log_file)}")
        time.sleep(0.1)


@contextmanager
def worker_processes(
    kind: str, count: int, address: str, queue: str, data_dir: Path, *, max_cached: int | None = None
) -> Iterator[list[WorkerProcess]]:
    workers = [spawn_worker(kind, address, queue, data_dir, max_cached=max_cached) for _ in range(count)]
    try:
        wait_until_polling(workers)
        yield workers
    finally:
        stop_all(workers)


def tail(path: Path, lines: int = 8) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"


# --- memory ------------------------------------------------------------------------------------


def process_memory(pid: int) -> dict[str, float]:
    """Resident set size now and at its peak, in MiB (psutil when installed, else /proc)."""
    try:
        import psutil  # type: ignore[import-not-found]

        info = psutil.Process(pid).memory_info()
        peak = getattr(info, "peak_wset", None)
        result = {"rss_mb": info.rss / 2**20}
        if peak:
            result["hwm_mb"] = peak / 2**20
        else:
            result["hwm_mb"] = _proc_status(pid).get("VmHWM", info.rss / 1024) / 1024
        return result
    except ImportError:
        status = _proc_status(pid)
        return {"rss_mb": status["VmRSS"] / 1024, "hwm_mb": status["VmHWM"] / 1024}


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time used so far by these processes (all their threads), from /proc."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue  # gone: counted as nothing
        total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _proc_status(pid: int) -> dict[str, float]:
    values: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = float(rest.split()[0])  # kB
    return values


# --- the vendors' peer ----------------------------------------------------------------------------

TWILIO_ACCOUNT = "AC" + "b" * 32


@contextmanager
def vendor_peer(
    folder: Path, sms_per_second: float, email_per_second: float, tls: tuple[Path, Path] | None = None
) -> Iterator[str]:
    """`tests/peers/rate_limited.py` in a process of its own, its log in `folder`; yields its URL.
    Over HTTPS with `tls` (certificate, key)."""
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "vendor-peer.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.peers.rate_limited",
                "--sms-per-second",
                f"{sms_per_second:g}",
                "--email-per-second",
                f"{email_per_second:g}",
                *(["--tls-cert", str(tls[0]), "--tls-key", str(tls[1])] if tls else []),
            ],
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=os.environ | {"PYTHONUNBUFFERED": "1"},
        )
    try:
        deadline = time.monotonic() + 30
        while "listening on " not in log.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"vendor peer did not start: {log.read_text()[-500:]}")
            time.sleep(0.1)
        yield log.read_text().split("listening on ", 1)[1].split()[0]
    finally:
        process.terminate()
        wait_or_kill(process, 10)


def vendor_env(url: str, sms_per_second: float, email_per_second: float) -> dict[str, str]:
    """The worker's settings for real Twilio and SendGrid clients pointed at the peer."""
    return {
        "COMPLAINTS_TWILIO_ACCOUNT_SID": TWILIO_ACCOUNT,
        "COMPLAINTS_TWILIO_AUTH_TOKEN": "bench-token",
        "COMPLAINTS_TWILIO_FROM_NUMBER": "+447700900000",
        "COMPLAINTS_TWILIO_BASE_URL": url,
        "COMPLAINTS_SENDGRID_API_KEY": "SG.bench",
        "COMPLAINTS_SENDGRID_HOST": url,
        "COMPLAINTS_EMAIL_FROM": "complaints@iss.example.com",
        "COMPLAINTS_SMS_PER_SECOND": f"{sms_per_second:g}",
        "COMPLAINTS_EMAIL_PER_SECOND": f"{email_per_second:g}",
        "COMPLAINTS_SEND_WORKERS": "1",
    }
