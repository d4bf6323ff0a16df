"""`python -m bench.show_history [SCRIPT]`: one case's history, event by event, to see what it costs.

    python -m bench.show_history                              # the 8-week case, one escalation
    python -m bench.show_history closed_within_3_days --summary

Runs the case on the time-skipping test server with the real worker (`build_worker`), as the
history scenario does, and prints each event with its time (the test server's clock), its type and
what it names: the local activity or patch marker, the search attributes an upsert changed.
"""

from __future__ import annotations

import asyncio
import collections
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent

from bench.infra import task_queue
from bench.time_skipping import SCRIPTS, pipeline_case, test_server
from settings import PipelineSettings

app = typer.Typer(add_completion=False, help=__doc__, pretty_exceptions_show_locals=False)


def describe(event: HistoryEvent) -> str:
    kind = EventType.Name(event.event_type).removeprefix("EVENT_TYPE_")
    if event.HasField("marker_recorded_event_attributes"):
        return f"{kind} {event.marker_recorded_event_attributes.marker_name}"
    if event.HasField("upsert_workflow_search_attributes_event_attributes"):
        fields = event.upsert_workflow_search_attributes_event_attributes.search_attributes.indexed_fields
        return f"{kind} {','.join(sorted(fields))}"
    if event.HasField("activity_task_scheduled_event_attributes"):
        return f"{kind} {event.activity_task_scheduled_event_attributes.activity_type.name}"
    if event.HasField("timer_started_event_attributes") and event.user_metadata.HasField("summary"):
        # The timer's summary (what the case waits for), as the Web UI shows it.
        return f"{kind} {event.user_metadata.summary.data.decode(errors='replace')}"
    return kind


async def case_history(script: str) -> list[HistoryEvent]:
    from worker import build_worker

    async with test_server() as env:
        queue = task_queue("show-history")
        with tempfile.TemporaryDirectory() as folder:
            settings = PipelineSettings(task_queue=queue, data_dir=Path(folder), graceful_shutdown_seconds=1)
            async with build_worker(env.client, settings):
                _, events = await pipeline_case(env, queue, script)
        return events


@app.command()
def main(
    script: Annotated[str, typer.Argument(help=f"one of: {', '.join(SCRIPTS)}")] = "eight_weeks_one_escalation",
    summary: Annotated[bool, typer.Option(help="counts by event type only")] = False,
) -> None:
    if script not in SCRIPTS:
        raise typer.BadParameter(f"unknown script {script!r}; one of: {', '.join(SCRIPTS)}")
    events = asyncio.run(case_history(script))
    if not summary:
        for event in events:
            typer.echo(f"{event.event_id:4d}  {event.event_time.ToDatetime():%Y-%m-%d %H:%M:%S}  {describe(event)}")
    counts = collections.Counter(describe(e).split(" ")[0] for e in events)
    typer.echo(f"{len(events)} events: " + ", ".join(f"{k} {v}" for k, v in counts.most_common()))


if __name__ == "__main__":
    app()
