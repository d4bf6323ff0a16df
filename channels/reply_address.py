"""The reply-to address that carries the case reference (`complaints+CC-2026-T7MH3PQR@domain`).

Plus-addressing survives what a mail client does to a reply (a rewritten or translated subject,
a reply from a phone that drops our headers), so a customer's e-mail reply finds its case. The
channels put it on every customer e-mail; the inbound service reads it back.
"""

from __future__ import annotations

import re

from domain.reference import ALPHABET, PREFIX, is_reference

_IN_TEXT = re.compile(rf"\b{PREFIX}-\d{{4}}-[{ALPHABET}]{{6,8}}\b", re.IGNORECASE)


def plus_address(base: str, reference: str) -> str:
    """`complaints@example.com` and a reference -> `complaints+CC-2026-T7MH3PQR@example.com`."""
    local, _, domain = base.rpartition("@")
    local = local.split("+", 1)[0]  # an address that already has a tag gets ours instead
    return f"{local}+{reference}@{domain}"


def reference_in_address(address: str) -> str | None:
    """The reference in a plus-address (any case: some mail systems lower-case the local part)."""
    local = address.strip().strip("<>").rpartition("@")[0]
    if "+" not in local:
        return None
    tag = local.split("+", 1)[1].upper()
    return tag if is_reference(tag) else None


def reference_in_text(text: str) -> str | None:
    """The first reference quoted in a subject line or a body ("Re: Your complaint CC-2026-...")."""
    for match in _IN_TEXT.finditer(text or ""):
        candidate = match.group(0).upper()
        if is_reference(candidate):
            return candidate
    return None
