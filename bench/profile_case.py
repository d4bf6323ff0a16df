"""`python -m bench.profile_case`: where the worker's time goes in one case, by Python function.

    python -m bench.profile_case                               # the 8-week case, two escalations
    python -m bench.profile_case --script closed_within_3_days --top 40
    python -m bench.profile_case --only 'channels/|sqlite3|jinja2'   # just the sends' code

Runs the case on the time-skipping test server with the real worker (build_worker) in this process:
once to warm up, then again under cProfile on every thread (workflow activations run on the worker's
executor threads, activities on the event loop). Prints the time inside workflow tasks and
activities from the case's history, then the top functions by own time and by cumulative time.
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import json
import logging
import pstats
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated

import typer

from bench.infra import task_queue
from bench.shape import events_by_type, time_spent
from bench.time_skipping import SCRIPTS, pipeline_case, test_server
from settings import PipelineSettings

app = typer.Typer(add_completion=False, help=__doc__, pretty_exceptions_show_locals=False)


async def profile(script: str, top: int, folder: Path, only: str | None = None) -> str:
    from worker import build_worker

    out = io.StringIO()
    async with test_server() as env:
        warm_queue = task_queue("profile-warm")
        settings = PipelineSettings(task_queue=warm_queue, data_dir=folder / "warm", graceful_shutdown_seconds=1)
        async with build_worker(env.client, settings):
            await pipeline_case(env, warm_queue, script)

        # A fresh worker, so its executor threads start under the profiler.
        profiles: list[cProfile.Profile] = []

        def profile_this_thread(*_: object) -> None:
            profiler = cProfile.Profile()
            profiles.append(profiler)
            profiler.enable()

        threading.setprofile(profile_this_thread)
        # Activities hand blocking work to the loop's default executor: new threads, so they are profiled.
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(thread_name_prefix="profiled"))
        main = cProfile.Profile()
        queue = task_queue("profile")
        settings = PipelineSettings(task_queue=queue, data_dir=folder / "profiled", graceful_shutdown_seconds=1)
        async with build_worker(env.client, settings):
            main.enable()
            began = time.perf_counter()
            wall, events = await pipeline_case(env, queue, script)
            main.disable()
        threading.setprofile(None)  # type: ignore[arg-type]
        for profiler in profiles:
            profiler.disable()
        print(f"{script}: {wall:.3f}s wall ({time.perf_counter() - began:.3f}s with the profiler on)", file=out)
        print(f"events {len(events)}: {json.dumps(events_by_type(events))}", file=out)
        spent = time_spent(events)
        spent.pop("span_s", None)
        print(f"time inside tasks: {json.dumps(spent)}", file=out)
        stats = pstats.Stats(main, stream=out)
        for profiler in profiles:
            try:
                stats.add(profiler)
            except TypeError:
                pass  # a thread that never ran Python code
        for order in ("tottime", "cumulative"):
            print(f"\n--- top {top} by {order}{f' matching {only!r}' if only else ''} ---", file=out)
            stats.sort_stats(order).print_stats(*([only] if only else []), top)
    return out.getvalue()


@app.command()
def main(
    script: Annotated[str, typer.Option(help=f"One of: {', '.join(SCRIPTS)}.")] = "eight_weeks_two_escalations",
    top: Annotated[int, typer.Option(min=5, help="Functions to list.")] = 30,
    only: Annotated[str | None, typer.Option(help="Regex on path:line(function), e.g. 'channels/|sqlite3'.")] = None,
) -> None:
    if script not in SCRIPTS:
        raise typer.BadParameter(f"unknown script {script!r}; choose from {', '.join(SCRIPTS)}")
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="complaints-profile-") as folder:
        print(asyncio.run(profile(script, top, Path(folder), only)))


if __name__ == "__main__":
    app()
