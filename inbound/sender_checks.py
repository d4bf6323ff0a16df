"""Whether an inbound e-mail's From address is authenticated, as DMARC judges it (pure).

SendGrid's Inbound Parse posts the receiving server's verdicts with each mail: `SPF` ("pass",
"softfail", "fail", "neutral", "none", ...) for the envelope's return path, and `dkim`
("{@example.com : pass}", "{@a.com : pass, @b.com : fail}", or "none") for each signature's
domain. Neither says anything about the From header a person reads, and the case acts on a YES or
NO only from the customer's own address: anyone can write that address in From. So, as DMARC does,
a verdict counts only for a domain aligned with the From address's domain.
"""

from __future__ import annotations

import re

# "@example.com : pass" inside SendGrid's braces; the domain is what the signature's d= named.
_DKIM_RESULT = re.compile(r"@([^\s:,{}@]+)\s*:\s*([A-Za-z]+)")


def address_domain(address: str) -> str:
    """The domain of an address, lower-cased and without a trailing dot ("" if there is none)."""
    _, at, domain = address.strip().rpartition("@")
    return domain.strip().rstrip(".").lower() if at else ""


def aligned(domain: str, from_domain: str) -> bool:
    """DMARC's relaxed alignment, without the public suffix list: the same domain, or one a
    subdomain of the other ("mail.example.com" with "example.com"). A bare top-level domain ("com")
    never aligns; a public suffix such as "co.uk" could, but a DKIM or SPF pass for it needs its
    registry's DNS, which no sender controls."""
    if not domain or not from_domain:
        return False
    if domain == from_domain:
        return True
    shorter, longer = sorted((domain, from_domain), key=len)
    return "." in shorter and longer.endswith("." + shorter)


def dkim_passes(dkim: str) -> list[str]:
    """The domains whose DKIM signature passed, from SendGrid's `dkim` field."""
    return [domain.rstrip(".").lower() for domain, result in _DKIM_RESULT.findall(dkim) if result.lower() == "pass"]


def sender_authenticated(from_address: str, *, spf: str, dkim: str, envelope_from: str) -> bool:
    """An aligned DKIM pass, or an SPF pass for a return path aligned with the From domain.

    A DKIM pass for another domain (a forger signs their own) or an SPF pass for a return path on
    another domain proves who sent the mail, not that the From address is theirs: neither counts.
    """
    from_domain = address_domain(from_address)
    if any(aligned(domain, from_domain) for domain in dkim_passes(dkim)):
        return True
    return spf.strip().lower() == "pass" and aligned(address_domain(envelope_from), from_domain)
