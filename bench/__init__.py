"""Benchmarks of the complaints pipeline, each beside a same-shape no-op baseline: `python -m bench`.

Scenarios: intake, lifecycle, open_cases, time_skipping (with history sizes), scale_out.
What each measures and the latest results: docs/performance.md.
"""
