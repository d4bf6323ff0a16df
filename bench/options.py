"""The bench's knobs, one object passed to every scenario."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

SCENARIOS = (
    "intake",
    "lifecycle",
    "open_cases",
    "time_skipping",
    "history",
    "scale_out",
    "cost",
    "rush",
    "sustained",
    "inbound_flood",
)
BACKENDS = ("memory", "sqlite")


@dataclass
class Options:
    workdir: Path
    repeat: int = 3
    backends: tuple[str, ...] = BACKENDS
    # Intake: starts per measured batch, and how many are in flight at once.
    intake_starts: int = 300
    intake_concurrency: int = 16
    # Lifecycle and scale-out: cases per batch, and how many are in flight at once.
    cases: int = 60
    concurrency: int = 10
    # Lifecycle also runs the pipeline with sends answered in memory, and the baseline with the case's
    # visibility writes, to split the gap between pipeline and baseline (docs/performance.md).
    attribution: bool = True
    # Lifecycle also runs the pipeline with payloads encrypted (what production runs), beside the plain one.
    encrypted: bool = True
    open_cases: int = 10_000
    open_cases_backend: str = "memory"
    time_skipping_runs: int = 5
    # Also size the history of an 8-week case where nobody records a note (analysis only).
    history_without_note: bool = True
    workers: tuple[int, ...] = (1, 2, 3)
    scale_out_backend: str = "memory"
    # Cost: the cases priced (bench.cost.CASES, the scripts of bench.time_skipping).
    cost_cases: tuple[str, ...] = ("closed_within_3_days", "eight_weeks_one_escalation", "eight_weeks_two_escalations")
    # Rush: cases whose regular update falls due at one moment, and the vendors' rates (bench.rush).
    rush_cases: int = 2_000
    rush_sms_per_second: float = 10.0
    rush_email_per_second: float = 20.0
    rush_paced: bool = True  # False: workers ignore the vendors' rates (the pre-v4 design, for comparison)
    # Sustained: complaints filed at each of these rates (a second) for this long, open loop.
    sustained_rates: tuple[float, ...] = (2, 4, 6, 8, 12)
    sustained_seconds: float = 60.0
    sustained_settle_s: float = 90.0
    scenarios: tuple[str, ...] = SCENARIOS
    quick: bool = False
    # Hard ceiling on any single wait, so a stuck server or worker fails the scenario, not the machine.
    wait_limit_s: float = 1800.0
    # Pause before reading a worker's memory, so it has finished its last tasks and freed their garbage.
    settle_s: float = 1.0
    notes: list[str] = field(default_factory=list)

    @classmethod
    def quick_mode(cls, workdir: Path) -> Options:
        return cls(
            workdir=workdir,
            repeat=1,
            backends=("memory",),
            intake_starts=30,
            intake_concurrency=8,
            cases=4,
            concurrency=2,
            open_cases=20,
            time_skipping_runs=1,
            history_without_note=False,
            workers=(1, 2),
            rush_cases=100,
            sustained_rates=(2, 4),
            sustained_seconds=5.0,
            sustained_settle_s=30.0,
            quick=True,
            wait_limit_s=45.0,
            settle_s=0.3,
        )
