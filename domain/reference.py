"""Case references: short enough to read over the phone, unique enough to be a workflow id."""

from __future__ import annotations

import hashlib
import secrets

# No 0/O, 1/I/L: a customer reads the reference aloud to a call centre.
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 6
PREFIX = "CC"


def _encode(number: int) -> str:
    chars = []
    for _ in range(CODE_LENGTH):
        number, index = divmod(number, len(ALPHABET))
        chars.append(ALPHABET[index])
    return "".join(chars)


def new_reference(year: int) -> str:
    """A fresh random reference, e.g. CC-2026-4F7K2Q."""
    return f"{PREFIX}-{year}-{_encode(secrets.randbits(64))}"


def reference_for_intake(year: int, intake_id: str) -> str:
    """The same intake id always gives the same reference, so a retried intake finds its case."""
    digest = hashlib.sha256(intake_id.encode()).digest()
    return f"{PREFIX}-{year}-{_encode(int.from_bytes(digest[:8], 'big'))}"


def is_reference(text: str) -> bool:
    parts = text.split("-")
    return (
        len(parts) == 3
        and parts[0] == PREFIX
        and parts[1].isdigit()
        and len(parts[1]) == 4
        and len(parts[2]) == CODE_LENGTH
        and all(c in ALPHABET for c in parts[2])
    )
