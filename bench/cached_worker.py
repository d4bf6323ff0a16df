"""`python -m bench.cached_worker`: worker.py itself, with `max_cached_workflows` from the environment.

worker.py has no cache-size setting yet (the proposal in docs/performance.md is
`COMPLAINTS_MAX_CACHED_WORKFLOWS` on PipelineSettings, passed to `Worker(max_cached_workflows=...)`).
Until it does, this runs worker.py's own `main()` and `build_worker()` with that one Worker option
added, so everything else (activities, channels, signals, shutdown) is the real thing.

BENCH_WORKFLOW_RUNNER=unsandboxed is for experiments only (how much of a cached case's memory is the
sandbox's per-run copy of the workflow module); never run cases that way outside the bench.
"""

from __future__ import annotations

import asyncio
import functools
import os

from temporalio.worker import UnsandboxedWorkflowRunner, Worker

import worker as pipeline_worker


def main() -> None:
    size = int(os.environ["BENCH_MAX_CACHED_WORKFLOWS"])
    pipeline_worker.Worker = functools.partial(Worker, max_cached_workflows=size)  # type: ignore[misc]
    if os.environ.get("BENCH_WORKFLOW_RUNNER") == "unsandboxed":
        pipeline_worker.workflow_runner = UnsandboxedWorkflowRunner  # type: ignore[assignment]
    asyncio.run(pipeline_worker.main())


if __name__ == "__main__":
    main()
