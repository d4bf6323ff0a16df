"""The baseline that carries a case's payload sizes reads them from a real history."""

from __future__ import annotations

from temporalio.client import WorkflowHistory

from bench.shape import carrying, payload_sizes, shape_of
from settings import REPO

HISTORY = REPO / "tests" / "histories" / "v3" / "complaint_closed_before_eight_weeks_gets_no_adr_letter.json"


def test_payload_sizes_are_read_per_place_and_the_start_input_is_carried():
    events = list(WorkflowHistory.from_json("case", HISTORY.read_text()).events)

    sizes = payload_sizes(events)
    shape = carrying(shape_of(events), sizes)

    # A case's start carries its intake and policy; its local activities return receipts and deadlines.
    assert sizes.start_input > 1000 and sizes.local_result > 100 and sizes.workflow_result > 1000
    assert shape.carry == sizes and len(shape.ballast) == sizes.start_input
    assert shape.phases == shape_of(events).phases
