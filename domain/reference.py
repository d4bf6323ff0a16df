"""Case references: short enough to read over the phone, unique enough to be a workflow id.

`CC-2026-4F7K2QXY`: 8 characters from a 31-letter alphabet, 31^8 = 8.5 x 10^11 codes a year
(39.6 bits). Six characters (31^6 = 8.9 x 10^8, 29.7 bits) were not enough: among n = 50,000
references in a year, n^2 / 2N = 1.4 pairs collide a year at six characters, 0.0015 (one in
about 680 years) at eight. The starter also checks the archive and the ledgers before using a
reference, so even that pair is caught. References issued with six characters stay valid.
"""

from __future__ import annotations

import hashlib
import secrets

# No 0/O, 1/I/L: a customer reads the reference aloud to a call centre.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8
# References issued before the code was widened: still accepted everywhere, never issued again.
LEGACY_CODE_LENGTH = 6
PREFIX = "CC"


def _encode(number: int, length: int = CODE_LENGTH) -> str:
    chars = []
    for _ in range(length):
        number, index = divmod(number, len(ALPHABET))
        chars.append(ALPHABET[index])
    return "".join(chars)


def new_reference(year: int) -> str:
    """A fresh random reference, e.g. CC-2026-4F7K2QXY."""
    return f"{PREFIX}-{year}-{_encode(secrets.randbits(64))}"


def reference_for_intake(year: int, intake_id: str) -> str:
    """The same intake id always gives the same reference, so a retried intake finds its case."""
    digest = hashlib.sha256(intake_id.encode()).digest()
    return f"{PREFIX}-{year}-{_encode(int.from_bytes(digest[:8], 'big'))}"


def legacy_reference_for_intake(year: int, intake_id: str) -> str:
    """The six-character reference the same intake id was given before the code was widened."""
    digest = hashlib.sha256(intake_id.encode()).digest()
    return f"{PREFIX}-{year}-{_encode(int.from_bytes(digest[:8], 'big'), LEGACY_CODE_LENGTH)}"


def is_reference(text: str) -> bool:
    parts = text.split("-")
    return (
        len(parts) == 3
        and parts[0] == PREFIX
        and parts[1].isdigit()
        and len(parts[1]) == 4
        and len(parts[2]) in (CODE_LENGTH, LEGACY_CODE_LENGTH)
        and all(c in ALPHABET for c in parts[2])
    )
