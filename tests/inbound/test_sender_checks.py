"""Whether an inbound e-mail's From address is authenticated: an aligned DKIM or SPF pass, as DMARC judges."""

from __future__ import annotations

import pytest

from inbound.sender_checks import aligned, dkim_passes, sender_authenticated

FROM = "gwen.pritchard@example.com"


def checked(spf: str = "none", dkim: str = "none", envelope_from: str = "", from_address: str = FROM) -> bool:
    return sender_authenticated(from_address, spf=spf, dkim=dkim, envelope_from=envelope_from)


def test_a_dkim_pass_for_the_from_domain_authenticates_the_sender() -> None:
    assert checked(dkim="{@example.com : pass}")
    assert checked(dkim="{@EXAMPLE.com. : PASS}")  # as any server spells it
    assert checked(dkim="{@mail.example.com : pass}")  # a subdomain signs for its parent
    assert checked(dkim="{@example.com : pass}", from_address="gwen@news.example.com")


def test_a_dkim_pass_for_another_domain_does_not_count() -> None:
    # A forger signs with their own domain: the signature is real, the From address is not theirs.
    assert not checked(dkim="{@forger.example.net : pass}")
    assert not checked(dkim="{@notexample.com : pass}")  # a suffix of the name is not a subdomain
    assert not checked(dkim="{@com : pass}")  # nor is a top-level domain a parent


def test_a_failed_or_absent_dkim_signature_does_not_count() -> None:
    assert not checked(dkim="{@example.com : fail}")
    assert not checked(dkim="none")
    assert not checked(dkim="")
    assert checked(dkim="{@forger.example.net : pass, @example.com : pass}")
    assert not checked(dkim="{@forger.example.net : pass, @example.com : fail}")


def test_an_spf_pass_counts_only_for_a_return_path_aligned_with_the_from_domain() -> None:
    assert checked(spf="pass", envelope_from="bounces@example.com")
    assert checked(spf="Pass", envelope_from="bounce-123@mta.example.com")
    # The forger's own return path passes SPF for the forger's domain, not the customer's.
    assert not checked(spf="pass", envelope_from="bounces@forger.example.net")
    assert not checked(spf="pass", envelope_from="")  # a null return path


@pytest.mark.parametrize("spf", ["fail", "softfail", "neutral", "none", "temperror", ""])
def test_an_spf_result_other_than_pass_does_not_count(spf: str) -> None:
    assert not checked(spf=spf, envelope_from="bounces@example.com")


def test_a_forged_email_with_spf_fail_and_no_dkim_is_not_authenticated() -> None:
    assert not checked(spf="fail", dkim="none", envelope_from=FROM)


def test_alignment_is_the_same_domain_or_one_a_subdomain_of_the_other() -> None:
    assert aligned("example.com", "example.com")
    assert aligned("mail.example.com", "example.com") and aligned("example.com", "mail.example.com")
    assert not aligned("example.co", "example.com")
    assert not aligned("badexample.com", "example.com")
    assert not aligned("", "example.com") and not aligned("example.com", "")


def test_sendgrids_dkim_field_is_read_domain_by_domain() -> None:
    assert dkim_passes("{@a.com : pass, @b.com : fail}") == ["a.com"]
    assert dkim_passes("{@a.com : pass}") == ["a.com"]
    assert dkim_passes("none") == []
