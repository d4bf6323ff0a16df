"""The plus-address a reply finds its case by, written by the channels and read by the inbound service."""

from __future__ import annotations

from channels.reply_address import plus_address, reference_in_address, reference_in_text


def test_the_reference_goes_in_the_reply_to_address_and_comes_back_from_it() -> None:
    address = plus_address("complaints@iss.example.com", "CC-2026-T7MH3PQR")
    assert address == "complaints+CC-2026-T7MH3PQR@iss.example.com"
    assert reference_in_address(address) == "CC-2026-T7MH3PQR"


def test_a_mail_system_that_lower_cases_the_address_still_gives_the_reference() -> None:
    assert reference_in_address("<complaints+cc-2026-t7mh3pqr@iss.example.com>") == "CC-2026-T7MH3PQR"


def test_an_address_with_another_tag_is_given_ours_and_a_bad_tag_names_no_case() -> None:
    assert plus_address("complaints+web@iss.example.com", "CC-2026-T7MH3PQR").startswith("complaints+CC-2026")
    assert reference_in_address("complaints+CC-2026-T0MH3PQR@iss.example.com") is None  # 0 is not in the alphabet
    assert reference_in_address("complaints@iss.example.com") is None


def test_a_subject_quoting_the_reference_names_the_case() -> None:
    assert reference_in_text("AW: Re: Your complaint cc-2026-t7mh3pqr (update)") == "CC-2026-T7MH3PQR"
    assert reference_in_text("Re: my broadband") is None
