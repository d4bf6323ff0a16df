"""Scenario 5, worker scale-out: lifecycle throughput with 1, 2 and 3 worker processes on one server.

Pipeline workers are the real `python worker.py` processes (sharing one data folder, as several
workers on one host would); baseline workers are `python -m bench.baseline_worker`. Both sets run
at once on their own task queues (an idle poller costs next to nothing) so that the pipeline and
baseline batches can alternate, as in the lifecycle scenario. Workers are added one step at a time
(1, then 2, then 3 polling the same queues), so each count is measured with warm workers.
"""

from __future__ import annotations

import os

from temporalio.client import Client

from bench import lifecycle
from bench.infra import WorkerProcess, spawn_worker, stop_all, task_queue, wait_until_polling
from bench.options import Options
from ops.dev_server import DevServer


async def run(client: Client, server: DevServer, options: Options) -> dict[str, object]:
    address = server.address
    results: dict[str, object] = {}
    # The same number of cases in flight for every worker count, enough to keep the most workers busy,
    # so the worker count is the only thing that changes.
    concurrency = options.concurrency * max(options.workers)
    pq, bq = task_queue("scale-p"), task_queue("scale-b")
    data = options.workdir / "scale-out"
    running: dict[str, list[WorkerProcess]] = {"pipeline": [], "baseline": []}
    plan: lifecycle.Plan | None = None
    try:
        for count in sorted(options.workers):
            added = []
            for kind, queue in (("pipeline", pq), ("baseline", bq)):
                while len(running[kind]) < count:
                    worker = spawn_worker(kind, address, queue, data / kind)
                    running[kind].append(worker)
                    added.append(worker)
            wait_until_polling(added)
            if plan is None:
                plan = await lifecycle.probe_pipeline(client, pq, options.wait_limit_s)
            results[str(count)] = await lifecycle.compare(
                client,
                plan,
                {lifecycle.PIPELINE: pq, lifecycle.BASELINE: bq},
                count=options.cases,
                concurrency=concurrency,
                repeat=options.repeat,
                limit_s=options.wait_limit_s,
                # A new worker's first workflow tasks import the sandbox: not what is being measured.
                warm_up=True,
                cpu={
                    kind: {
                        "server": [server.process.pid],
                        "workers": [w.pid for w in running[kind]],
                        "bench": [os.getpid()],
                    }
                    for kind in running
                },
            )
    finally:
        stop_all(running["pipeline"] + running["baseline"])
    return {"backend": options.scale_out_backend, "concurrency": concurrency, "workers": results}
