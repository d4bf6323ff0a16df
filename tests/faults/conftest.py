"""A dev server, workers and a batch of complaints per scenario, all real processes on loopback.

Each scenario gets its own server (on a free port), task queue and data folder, so the folder runs
beside a `make run`. Every process it starts is killed when it ends, whatever the outcome.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle

from domain.models import CaseState, CaseSummary, ComplaintIntake, ComplaintPolicy
from ops import stores
from ops.dev_server import DevServer
from ops.stores import StoreLocation
from settings import REPO
from starter import file_complaint, final_state
from tests.faults.harness import (
    Processes,
    WorkerProcess,
    all_week_policy,
    child_env,
    complaint,
    connect_client,
    eventually,
    reference_of,
    start_worker,
)
from tests.faults.vendor_proxy import PRISM
from tests.postgres import PostgresCluster
from workflows.complaint_case import ComplaintCase


@dataclass
class FaultStack:
    processes: Processes
    server: DevServer
    client: Client
    data_dir: Path
    task_queue: str
    policy: ComplaintPolicy
    policy_env: dict[str, str]
    server_db_file: Path | None = None
    # The stores' shared database (ops.stores); None: SQLite files in the data folder.
    database_url: str | None = None
    # Each worker its own data folder, as if on its own host: then nothing but the database (and the
    # outbox, which stands in for the customer's inbox) is shared between them.
    separate_hosts: bool = False
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    worker_env: dict[str, str] = field(default_factory=dict)

    @property
    def outbox(self) -> Path:
        return self.data_dir / "outbox"

    @property
    def ledger(self) -> StoreLocation:
        """Where the sent-message ledger the workers share is."""
        return stores.location_for(stores.SENT_MESSAGES, data_dir=self.data_dir, database_url=self.database_url)

    def host_data_dir(self, worker: str) -> Path:
        return self.data_dir.parent / "hosts" / worker

    @property
    def env(self) -> dict[str, str]:
        """What every script of this stack runs with: this server, queue, data folder and stores."""
        return child_env(
            TEMPORAL_ADDRESS=self.server.address,
            COMPLAINTS_TASK_QUEUE=self.task_queue,
            COMPLAINTS_DATA_DIR=str(self.data_dir),
            # A SIGTERM'd worker drains quickly: the tests kill with SIGKILL when they mean to.
            COMPLAINTS_GRACEFUL_SHUTDOWN_SECONDS="2",
            **({"COMPLAINTS_DATABASE_URL": self.database_url} if self.database_url else {}),
        )

    def intakes(self, count: int) -> list[ComplaintIntake]:
        return [complaint(self.run, n) for n in range(1, count + 1)]

    def reference(self, intake: ComplaintIntake) -> str:
        return reference_of(intake, self.policy)

    async def start_worker(self, name: str) -> WorkerProcess:
        host: dict[str, str] = {}
        if self.separate_hosts:
            host = {
                "COMPLAINTS_DATA_DIR": str(self.host_data_dir(name)),
                "COMPLAINTS_OUTBOX_DIR": str(self.outbox),
            }
        return await start_worker(self.processes, name, self.env | self.worker_env | host)

    async def file(self, intake: ComplaintIntake) -> str:
        filed = await file_complaint(self.client, intake, policy=self.policy, task_queue=self.task_queue)
        assert filed.started, f"{intake.intake_id} was already filed"
        return filed.reference

    async def file_with_starter(self, intake: ComplaintIntake) -> str:
        """Through `starter.py`, with the all-week calendar given as environment overrides."""
        out = await self.script("starter.py", "-", stdin=intake.model_dump_json(), extra_env=self.policy_env)
        return out.strip().splitlines()[-1]

    async def script(
        self, name: str, *args: str, stdin: str | None = None, extra_env: dict[str, str] | None = None
    ) -> str:
        """Run one of the project's scripts against this stack; fails on a non-zero exit."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(REPO / name),
            *args,
            env=self.env | (extra_env or {}),
            cwd=REPO,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(process.communicate(stdin.encode() if stdin else None), 60)
        except BaseException:
            process.kill()
            await process.wait()
            raise
        assert process.returncode == 0, f"{name} {' '.join(args)} exited {process.returncode}: {err.decode()}"
        return out.decode()

    def handle(self, reference: str) -> WorkflowHandle[Any, CaseSummary]:
        return self.client.get_workflow_handle_for(ComplaintCase.run, reference)

    async def state(self, reference: str) -> CaseState:
        return await self.handle(reference).query(ComplaintCase.case_state, rpc_timeout=timedelta(seconds=5))

    async def status_json(self, reference: str) -> dict[str, Any]:
        return json.loads(await self.script("admin.py", "status", reference, "--json"))

    async def wait_for_states(
        self, references: Iterable[str], done: Any, *, timeout: float, what: str
    ) -> dict[str, CaseState]:
        """Query each case until `done(state)` holds for all of them; returns the last states."""
        pending, states = set(references), {}

        async def check() -> bool:
            for reference in sorted(pending):
                try:
                    state = await self.state(reference)
                except Exception:  # noqa: BLE001 - a dead sticky worker or a restarting server
                    continue
                states[reference] = state
                if done(state):
                    pending.discard(reference)
            return not pending

        try:
            await eventually(check, timeout=timeout, what=what, every=1.0)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; still waiting on {sorted(pending)}") from None
        return states

    async def close_all(self, references: list[str], *, through_admin: int = 2) -> dict[str, CaseState]:
        """The customer is satisfied: the first few through `admin.py satisfied`, the rest by signal.
        Returns each case's final state, its workflow result."""
        by_admin, by_signal = references[:through_admin], references[through_admin:]
        await asyncio.gather(
            *(self.script("admin.py", "satisfied", r, "--how", "phone") for r in by_admin),
            *(self.handle(r).signal(ComplaintCase.customer_satisfied) for r in by_signal),
        )
        summaries = await asyncio.wait_for(asyncio.gather(*(self.handle(r).result() for r in references)), timeout=120)
        # Since v4 the result is small: each closed run's final state is a query away.
        states = await asyncio.wait_for(asyncio.gather(*(final_state(self.client, s) for s in summaries)), timeout=120)
        return {s.reference: state for s, state in zip(summaries, states, strict=True)}


# --- running the scenarios side by side ----------------------------------------------------------

# A scenario is mostly waiting on Temporal's own clocks (a send held by a killed worker is retried
# when its 60 s start-to-close runs out; a vendor outage waits out the retry backoff), not on the
# CPU. So every selected scenario starts together, each on its own server, queue and data folder,
# and each test awaits its own: the folder takes about as long as its slowest scenario.
SCENARIO_TIMEOUT = 300


@dataclass
class Scenarios:
    tmp: pytest.TempPathFactory
    request: pytest.FixtureRequest
    tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    # Why a scenario could not start (no PostgreSQL here): raised in its own test only.
    unavailable: dict[str, BaseException] = field(default_factory=dict)

    def start(self, item: pytest.Item) -> None:
        marker = item.get_closest_marker("fault_scenario")
        assert marker is not None, f"{item.nodeid} has no @pytest.mark.fault_scenario(...)"
        scenario, options = marker.args[0], dict(marker.kwargs)
        if options.pop("stores", "sqlite") == "postgresql":
            # The session's throwaway cluster (tests/postgres.py): a skip here (a failure under CI)
            # belongs to this test, not to every scenario sharing the fixture.
            try:
                options["postgres"] = self.request.getfixturevalue("postgres")
            except (pytest.skip.Exception, pytest.fail.Exception) as exc:
                self.unavailable[item.nodeid] = exc
                return
        folder = self.tmp.mktemp(scenario.__name__)
        self.tasks[item.nodeid] = asyncio.create_task(run_scenario(scenario, folder, **options))

    async def outcome(self, item: pytest.Item) -> None:
        if item.nodeid not in self.tasks and item.nodeid not in self.unavailable:
            self.start(item)
        if item.nodeid in self.unavailable:
            raise self.unavailable[item.nodeid]
        await asyncio.wait_for(asyncio.shield(self.tasks[item.nodeid]), SCENARIO_TIMEOUT)


async def run_scenario(
    scenario: Callable[[FaultStack], Awaitable[None]],
    folder: Path,
    *,
    server_db: bool = False,
    postgres: PostgresCluster | None = None,
    separate_hosts: bool = False,
) -> None:
    """One scenario on its own dev server (on a SQLite file if `server_db`, for restarts), with the
    stores in a fresh database of the `postgres` cluster when given, migrated as the setup step
    would, and each worker on its own data folder if `separate_hosts`."""
    processes = Processes(folder / "logs")
    db_file = folder / "temporal.sqlite" if server_db else None
    try:
        # In a thread: waiting for the port must not hold up the scenarios already running.
        server = await asyncio.to_thread(processes.start_server, db_file=db_file)
        policy, policy_env = all_week_policy()
        database_url = None
        if postgres is not None:
            database_url = await asyncio.to_thread(postgres.new_database, "faults")
            await asyncio.to_thread(stores.upgrade, database_url)
        stack = FaultStack(
            processes=processes,
            server=server,
            client=await connect_client(server),
            data_dir=folder / "data",
            task_queue=f"faults-{uuid.uuid4().hex[:8]}",
            policy=policy,
            policy_env=policy_env,
            server_db_file=db_file,
            database_url=database_url,
            separate_hosts=separate_hosts,
        )
        await scenario(stack)
    except BaseException as exc:
        exc.add_note(f"server and worker logs: {processes.logs}")
        raise
    finally:
        processes.close()


@pytest.fixture(scope="session")
async def scenarios(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Scenarios]:
    """Starts the scenario of every selected test at once (only those selected, e.g. with -k)."""
    running = Scenarios(tmp_path_factory, request)
    for item in request.session.items:
        if item.get_closest_marker("fault_scenario"):
            running.start(item)
    try:
        yield running
    finally:
        for task in running.tasks.values():
            task.cancel()
        # Each scenario kills its processes as it unwinds.
        await asyncio.gather(*running.tasks.values(), return_exceptions=True)
        PRISM.close()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "fault_scenario(scenario, server_db=False, stores='sqlite', separate_hosts=False): the scenario "
        "this test awaits (see Scenarios); stores='postgresql' puts the stores on the test cluster",
    )
