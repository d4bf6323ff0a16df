"""How times and senders read to staff."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from domain.formatting import local_label, mask_sender


def test_a_moment_reads_as_the_uk_wall_clock() -> None:
    assert local_label(datetime(2026, 7, 1, 9, 30, tzinfo=UTC)) == "Wed 01 Jul 10:30"  # BST
    assert local_label(datetime(2026, 12, 1, 9, 30, tzinfo=UTC)) == "Tue 01 Dec 09:30"  # GMT


@pytest.mark.parametrize(
    ("sender", "masked"),
    [
        ("ann.customer@example.com", "a***@example.com"),
        ("@example.com", "***@example.com"),
        ('"ann@home"@example.com', '"***@example.com'),  # the domain is after the last "@"
        ("+447700900123", "+44*******123"),
        ("1234567", "123*567"),  # the shortest number with anything hidden
        ("123456", "***"),  # too short to show any of it
        ("", "***"),
    ],
)
def test_a_sender_is_masked_enough_to_recognise_not_to_copy(sender: str, masked: str) -> None:
    assert mask_sender(sender) == masked


def test_pounds_print_as_the_customers_letter_prints_them() -> None:
    from decimal import Decimal

    from domain.formatting import gbp

    assert gbp(Decimal("1234.5")) == "£1,234.50"
    assert gbp(Decimal("1E+3")) == "£1,000.00"  # what admin.py echoed as "£1E+3"
    assert gbp(Decimal("0.01")) == "£0.01"
