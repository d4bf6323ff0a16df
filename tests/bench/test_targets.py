"""A target is met only if every repeat meets it; the table shows the repeats' min and max."""

from __future__ import annotations

from bench.__main__ import rows_and_targets


def intake_runs(*ratios: float) -> dict:
    runs = [{"pipeline": 100 * r, "pipeline_no_intake_id": 100.0, "baseline": 100.0} for r in ratios]
    return {"intake": {"memory": {"runs": runs, "ratio": sorted(ratios)[len(ratios) // 2], "ratio_no_intake_id": 1.0}}}


def test_an_intake_ratio_whose_median_holds_but_one_repeat_misses_is_not_met():
    rows, targets = rows_and_targets(intake_runs(0.95, 0.85, 0.93))

    found = next(t for t in targets if t["name"] == "intake_ratio_memory")
    assert found["measured"] == 0.93 and found["met"] is False
    assert found["met_in"] == "2 of 3 repeats"
    row = next(r for r in rows if r.metric == "starts/s (with intake id)")
    assert row.spread == (0.85, 0.95) and row.met is False


def test_a_target_every_repeat_meets_is_met():
    _, targets = rows_and_targets(intake_runs(0.91, 0.95, 0.93))

    assert next(t for t in targets if t["name"] == "intake_ratio_memory")["met"] is True
