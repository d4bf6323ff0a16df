"""The mutation score per module of `domain/`, from the last `mutmut run` (`make mutation`).

mutmut prints one line per mutant (`domain.calendar.x_add_working_hours__mutmut_3: survived`) but no
score per file, and the score per file is what docs/mutation.md tracks from one release to the next.
A mutant that no test even runs ("no tests") counts as surviving: nothing would notice it.
"""

from __future__ import annotations

import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

DETECTED = frozenset({"killed", "timeout", "caught by type check", "segfault"})


def tally(results: str) -> dict[str, Counter[str]]:
    """Count each module's mutants by mutmut status, from `mutmut results --all true` output."""
    by_module: dict[str, Counter[str]] = defaultdict(Counter)
    for line in results.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if not sep or "__mutmut_" not in name:
            continue
        module = ".".join(name.split(".")[:2])
        by_module[module][status] += 1
    return dict(by_module)


def score_table(by_module: dict[str, Counter[str]]) -> str:
    rows = [f"{'module':<28} {'mutants':>7} {'killed':>7} {'survived':>8} {'no tests':>8} {'score':>6}"]
    total: Counter[str] = Counter()
    for module in sorted(by_module):
        counts = by_module[module]
        total.update(counts)
        rows.append(_row(module, counts))
    rows.append(_row("all of domain/", total))
    return "\n".join(rows)


def _row(label: str, counts: Counter[str]) -> str:
    mutants = sum(counts.values())
    detected = sum(n for status, n in counts.items() if status in DETECTED)
    score = f"{100 * detected / mutants:.1f}%" if mutants else "-"
    return (
        f"{label:<28} {mutants:>7} {detected:>7} {counts['survived'] + counts['suspicious']:>8}"
        f" {counts['no tests']:>8} {score:>6}"
    )


def main() -> int:
    mutmut = Path(sys.executable).with_name("mutmut")
    results = subprocess.run([str(mutmut), "results", "--all", "true"], capture_output=True, text=True, check=True)
    by_module = tally(results.stdout)
    if not by_module:
        print("no mutation results: run `make mutation` first", file=sys.stderr)
        return 1
    print(score_table(by_module))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
