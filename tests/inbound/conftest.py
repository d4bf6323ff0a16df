"""The inbound routes through aiohttp's test client, on a real queue (SQLite in the test's folder)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from codec.at_rest import AtRest
from codec.keyring import Keyring, generate_key, parse_keys
from inbound.app import Verifiers, build_app
from inbound.queue import InboundQueue
from inbound.signatures import BasicAuthSecret, SendGridEventVerifier, TwilioVerifier
from tests.inbound.signing import INBOUND_SECRET, TWILIO_TOKEN, SendGridSigner


@pytest.fixture
def signer() -> SendGridSigner:
    return SendGridSigner()


@pytest.fixture
def at_rest() -> AtRest:
    return AtRest(Keyring(parse_keys([f"k1:{generate_key()}"], "test")))


@pytest.fixture
def queue(tmp_path: Path, at_rest: AtRest) -> InboundQueue:
    return InboundQueue(tmp_path / "inbound.sqlite3", at_rest)


@pytest.fixture
def verifiers(signer: SendGridSigner) -> Verifiers:
    return Verifiers(
        sendgrid_events=SendGridEventVerifier(signer.public_key, tolerance_seconds=300),
        twilio=TwilioVerifier(TWILIO_TOKEN),
        sendgrid_inbound=BasicAuthSecret(INBOUND_SECRET),
    )


@pytest.fixture
async def client(queue: InboundQueue, verifiers: Verifiers) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(build_app(queue, verifiers))) as test_client:
        yield test_client
