"""`make mutation`'s score per module, from mutmut's own per-mutant lines."""

from __future__ import annotations

from ops.mutation_score import score_table, tally

RESULTS = """\
    domain.calendar.xǁWorkingCalendarǁadd_working_hours__mutmut_1: killed
    domain.calendar.xǁWorkingCalendarǁadd_working_hours__mutmut_2: killed
    domain.calendar.xǁWorkingCalendarǁadd_working_hours__mutmut_3: timeout
    domain.calendar.x__require_aware__mutmut_1: survived
    domain.contact.x_phone_allowed__mutmut_1: no tests
    domain.contact.x_phone_allowed__mutmut_2: killed
"""


def test_mutants_are_counted_per_module_by_status() -> None:
    counts = tally(RESULTS)
    assert counts["domain.calendar"] == {"killed": 2, "timeout": 1, "survived": 1}
    assert counts["domain.contact"] == {"no tests": 1, "killed": 1}


def test_a_timeout_counts_as_caught_and_an_untested_mutant_as_surviving() -> None:
    table = score_table(tally(RESULTS)).splitlines()
    assert table[1].split() == ["domain.calendar", "4", "3", "1", "0", "75.0%"]
    assert table[2].split() == ["domain.contact", "2", "1", "0", "1", "50.0%"]
    assert table[3].split()[-1] == "66.7%" and table[3].startswith("all of domain/")


def test_lines_that_are_not_mutant_results_are_ignored() -> None:
    assert tally("mutmut 3.8.1\nNo previous mutation data found.\n\n") == {}
