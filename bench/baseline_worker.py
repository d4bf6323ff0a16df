"""`python -m bench.baseline_worker`: the baseline workflow's worker as a process, beside worker.py.

Reads the same variables as worker.py (TEMPORAL_ADDRESS, COMPLAINTS_TASK_QUEUE) plus
COMPLAINTS_MAX_CACHED_WORKFLOWS (as worker.py); prints the same "polling task queue" line when it is ready.
"""

from __future__ import annotations

import asyncio
import os
import signal

from bench.infra import baseline_worker_for, pipeline_client


async def main() -> None:
    address = os.environ.get("TEMPORAL_ADDRESS", "localhost:7233")
    queue = os.environ["COMPLAINTS_TASK_QUEUE"]
    options: dict[str, object] = {}
    if os.environ.get("COMPLAINTS_MAX_CACHED_WORKFLOWS"):
        options["max_cached_workflows"] = int(os.environ["COMPLAINTS_MAX_CACHED_WORKFLOWS"])
    client = await pipeline_client(address)
    worker = baseline_worker_for(client, queue, **options)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with worker:
        print(f"baseline worker polling task queue {queue!r} on {address}", flush=True)
        await stop.wait()


if __name__ == "__main__":
    asyncio.run(main())
