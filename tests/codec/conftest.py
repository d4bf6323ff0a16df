from __future__ import annotations

import pytest

from codec.keyring import CodecSettings, Keyring, generate_key


@pytest.fixture
def k1() -> str:
    return generate_key()


@pytest.fixture
def k2() -> str:
    return generate_key()


@pytest.fixture
def ring_k1(k1: str) -> Keyring:
    ring = CodecSettings(keys=f"k1:{k1}").keyring()
    assert ring is not None
    return ring


@pytest.fixture
def ring_k1_k2(k1: str, k2: str) -> Keyring:
    # Rotation as an operator does it: append the new key, which becomes the default.
    ring = CodecSettings(keys=f"k1:{k1},k2:{k2}").keyring()
    assert ring is not None
    return ring
