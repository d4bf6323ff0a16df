"""What the starter puts outside the case's (encrypted) input carries no personal data."""

from __future__ import annotations

from settings import REPO
from starter import case_start_details, parse_intake

EXAMPLE = REPO / "examples" / "broadband-outage-email.json"


def test_the_web_ui_summary_and_details_carry_the_reference_and_stage_not_the_customer() -> None:
    intake = parse_intake(EXAMPLE.read_text())

    details = case_start_details("CC-2026-T7MH3PQR", intake)

    shown = details["static_summary"] + "\n" + details["static_details"]
    assert "CC-2026-T7MH3PQR" in details["static_summary"]
    assert "received" in details["static_details"].lower()
    for personal in (intake.customer.name, intake.account_number, str(intake.customer.email), intake.complaint[:20]):
        assert personal not in shown, f"{personal!r} is in the Web UI's summary or details"
