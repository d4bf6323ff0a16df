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
import os
import pstats
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated

import typer

from bench.infra import task_queue
from bench.report import build, machine
from bench.shape import events_by_type, steps, time_spent
from bench.time_skipping import SCRIPTS, pipeline_case, test_server
from settings import PipelineSettings

app = typer.Typer(add_completion=False, help=__doc__, pretty_exceptions_show_locals=False)


def customer_messages(events: list) -> int:
    """Messages sent to the customer: `send_message` steps that completed (local or retried)."""
    return sum(1 for s in steps(events) if s.activity_type == "send_message" and s.completed_at is not None)


async def profile(script: str, top: int, folder: Path, only: str | None = None, found: dict | None = None) -> str:
    from worker import build_worker

    found = found if found is not None else {}
    out = io.StringIO()
    async with test_server() as env:
        warm_queue = task_queue("profile-warm")
        settings = PipelineSettings(task_queue=warm_queue, data_dir=folder / "warm", graceful_shutdown_seconds=1)
        async with build_worker(env.client, settings, clock=env.get_current_time):
            await pipeline_case(env, warm_queue, script)
            # Without the profiler: this process's CPU (worker, its threads, and the small driver)
            # for a whole case, per customer message: section 3's "worker CPU per message".
            cpu_began = time.process_time()
            wall, events = await pipeline_case(env, warm_queue, script)
            cpu_s = time.process_time() - cpu_began
        messages = customer_messages(events)
        found |= {
            "script": script,
            "wall_s": round(wall, 3),
            "worker_cpu_ms_per_case": round(1000 * cpu_s, 1),
            "customer_messages": messages,
            "worker_cpu_ms_per_message": round(1000 * cpu_s / max(messages, 1), 2),
            "events_by_type": events_by_type(events),
        }
        print(
            f"{script}: {1000 * cpu_s:.0f} ms worker CPU for the case, {messages} customer messages: "
            f"{1000 * cpu_s / max(messages, 1):.1f} ms per message (everything the worker does, over the messages)",
            file=out,
        )

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
        async with build_worker(env.client, settings, clock=env.get_current_time):
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
        found["top_cumulative"] = _top(stats, "cumulative", top, only)
        found["top_own"] = _top(stats, "tottime", top, only)
    return out.getvalue()


def _top(stats: pstats.Stats, order: str, top: int, only: str | None) -> list[dict[str, object]]:
    """The listing's rows as data: function, calls, own and cumulative seconds (under the profiler)."""
    import re

    rows = []
    pattern = re.compile(only) if only else None
    for (path, line, name), (_, calls, own, cumulative, _) in sorted(
        stats.stats.items(),  # type: ignore[attr-defined]
        key=lambda item: item[1][2 if order == "tottime" else 3],
        reverse=True,
    ):
        where = f"{path}:{line}({name})"
        if pattern and not pattern.search(where):
            continue
        rows.append({"function": where, "calls": calls, "own_s": round(own, 4), "cumulative_s": round(cumulative, 4)})
        if len(rows) == top:
            break
    return rows


@app.command()
def main(
    script: Annotated[str, typer.Option(help=f"One of: {', '.join(SCRIPTS)}.")] = "eight_weeks_two_escalations",
    top: Annotated[int, typer.Option(min=5, help="Functions to list.")] = 30,
    only: Annotated[str | None, typer.Option(help="Regex on path:line(function), e.g. 'channels/|sqlite3'.")] = None,
    json_out: Annotated[Path | None, typer.Option(help="Also write the figures as JSON (bench/results/).")] = None,
) -> None:
    if script not in SCRIPTS:
        raise typer.BadParameter(f"unknown script {script!r}; choose from {', '.join(SCRIPTS)}")
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="complaints-profile-") as folder:
        found: dict = {}
        print(asyncio.run(profile(script, top, Path(folder), only, found)))
    if json_out:
        document = {"bench": "profile_case", "only": only} | found
        document |= {"machine": machine() | {"loadavg_at_end": list(os.getloadavg())}, "build": build()}
        json_out.write_text(json.dumps(document, indent=1) + "\n")


if __name__ == "__main__":
    app()
