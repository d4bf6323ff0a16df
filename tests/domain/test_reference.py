"""Case references: read aloud over the phone, used as workflow ids, never mistaken for something else."""

from __future__ import annotations

import pytest

from domain.reference import ALPHABET, is_reference, new_reference, reference_for_intake


def test_a_new_reference_is_the_prefix_the_year_and_eight_readable_characters() -> None:
    prefix, year, code = new_reference(2026).split("-")
    assert (prefix, year) == ("CC", "2026")
    assert len(code) == 8 and set(code) <= set(ALPHABET)


def test_new_references_are_drawn_at_random() -> None:
    # 31^8 codes: twenty draws colliding would mean the draw is not random at all.
    assert len({new_reference(2026) for _ in range(20)}) == 20


def test_the_alphabet_leaves_out_characters_misheard_on_the_phone() -> None:
    assert not set("01OIL") & set(ALPHABET) and len(ALPHABET) == 31


@pytest.mark.parametrize("text", ["CC-2026-4F7K2QXY", "CC-2026-4F7K2Q", reference_for_intake(2031, "web-991")])
def test_current_and_six_character_references_are_recognised(text: str) -> None:
    assert is_reference(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "CC-2026",
        "CC-2026-4F7K2QXY-2",
        "XX-2026-4F7K2QXY",
        "cc-2026-4F7K2QXY",
        "CC-26-4F7K2QXY",
        "CC-20266-4F7K2QXY",
        "CC-20a6-4F7K2QXY",
        "CC-2026-4F7K2QX",  # seven characters
        "CC-2026-4F7K2QXYZ",  # nine
        "CC-2026-4F7K2",  # five
        "CC-2026-4f7k2qxy",
        "CC-2026-4F7K2Q0Y",  # zero is not in the alphabet
        "CC-2026-4F7K2QIY",
    ],
)
def test_anything_else_is_not_a_reference(text: str) -> None:
    assert not is_reference(text)
