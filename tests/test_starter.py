"""What the starter puts outside the case's (encrypted) input carries no personal data."""

from __future__ import annotations

from typer.testing import CliRunner

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


def test_with_a_secret_the_case_carries_keyed_hashes_of_the_contact_details_never_the_details() -> None:
    from domain import search_attributes as sa
    from ops.contact_keys import email_key, phone_key

    intake = parse_intake(EXAMPLE.read_text())
    details = case_start_details("CC-2026-T7MH3PQR", intake, contact_key_secret="s3cret")

    keys = details["search_attributes"].get(sa.CUSTOMER_CONTACT_KEYS)
    assert keys == [phone_key("s3cret", intake.customer.phone), email_key("s3cret", str(intake.customer.email))]
    assert not any(str(intake.customer.email) in k or intake.customer.phone[3:] in k for k in keys)
    assert case_start_details("CC-2026-T7MH3PQR", intake)["search_attributes"].get(sa.CUSTOMER_CONTACT_KEYS) is None


def test_a_reopened_case_carries_the_corrected_details_keys() -> None:
    from domain import search_attributes as sa
    from ops.contact_keys import phone_key

    intake = parse_intake(EXAMPLE.read_text())
    corrected = intake.customer.model_copy(update={"phone": "+447700900999"})
    details = case_start_details("CC-2026-T7MH3PQR", intake, customer=corrected, contact_key_secret="s3cret")
    assert phone_key("s3cret", "+447700900999") in details["search_attributes"].get(sa.CUSTOMER_CONTACT_KEYS)


def test_a_contact_key_secret_shorter_than_16_characters_files_nothing_and_exits_3(monkeypatch) -> None:
    import connection
    import starter

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("connected to Temporal")

    monkeypatch.setattr(connection, "connect", never)
    monkeypatch.setattr(starter, "connect", never)
    monkeypatch.delenv("COMPLAINTS_SECRETS_FILE", raising=False)
    monkeypatch.setenv("COMPLAINTS_CONTACT_KEY_SECRET", "s3cret")
    result = CliRunner().invoke(starter.app, [str(EXAMPLE)])
    assert result.exit_code == 3, result.output
    assert "COMPLAINTS_CONTACT_KEY_SECRET must be at least 16 characters" in result.stderr
    assert "s3cret" not in result.output and result.stdout == ""
