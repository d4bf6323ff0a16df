"""The keyed hashes behind CustomerContactKeys: one normal form for the starter, admin and inbound."""

from __future__ import annotations

import pytest

from ops.contact_keys import configured_secret, contact_keys, email_key, phone_key
from ops.secrets_file import WeakSecretError

SECRET = "s3cret"


def test_a_number_written_any_uk_way_hashes_alike() -> None:
    assert (
        phone_key(SECRET, "07700 900123") == phone_key(SECRET, "+44 7700 900123") == phone_key(SECRET, "+447700900123")
    )


def test_an_address_hashes_alike_whatever_its_case_and_spaces() -> None:
    assert email_key(SECRET, " Ann@Example.COM ") == email_key(SECRET, "ann@example.com")


def test_keys_hold_no_personal_data_and_depend_on_the_secret() -> None:
    keys = contact_keys(SECRET, phone="07700 900123", email="ann@example.com")
    assert len(keys) == 2 and all(len(k) == 64 and "7700" not in k and "ann" not in k for k in keys)
    assert contact_keys("another", phone="07700 900123", email="ann@example.com") != keys


def test_something_that_is_not_a_number_gives_no_key() -> None:
    assert phone_key(SECRET, "not a number") is None
    assert contact_keys(SECRET, phone="not a number") == []


def test_a_configured_secret_shorter_than_16_characters_is_refused_by_name(monkeypatch) -> None:
    # The keys are HMACs of phone numbers, public in the Web UI: a short key is found offline.
    monkeypatch.delenv("COMPLAINTS_SECRETS_FILE", raising=False)
    monkeypatch.setenv("COMPLAINTS_CONTACT_KEY_SECRET", "s3cret")
    with pytest.raises(WeakSecretError, match="COMPLAINTS_CONTACT_KEY_SECRET must be at least 16") as refused:
        configured_secret()
    assert "s3cret" not in str(refused.value)
    monkeypatch.setenv("COMPLAINTS_CONTACT_KEY_SECRET", "contact-key-secret-16")
    assert configured_secret() == "contact-key-secret-16"
