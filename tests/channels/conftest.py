"""Fixtures for the channel tests: requests to render and send, and the vendor peers.

Prism (the vendors' OpenAPI specs, served on loopback) is started once per session, only when a
test asks for it. Without Prism installed the peer tests are skipped, except under CI (env `CI`
set), where they fail: install it with `npm ci --prefix tests/peers`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from domain.models import (
    CaseRole,
    ChannelKind,
    Handler,
    MessageContext,
    MessageKind,
    Recipient,
    SendRequest,
)
from tests.channels.samples import HANDLER, RECIPIENT, context_fields
from tests.peers.peers import (
    SENDGRID_SPEC,
    TWILIO_SPEC,
    PrismPeer,
    RecordingPeer,
    require_vendor_peers,
    start_prism,
    vendor_specs_dir,
    wait_for_port,
)

REFERENCE = "CMP-2026-000123"


@pytest.fixture
def handler() -> Handler:
    return HANDLER.model_copy(deep=True)


@pytest.fixture
def manager() -> Handler:
    return Handler(
        id="m-002",
        name="Rhian Evans",
        role=CaseRole.CUSTOMER_SERVICE_MANAGER,
        phone="+442920123456",
        email="rhian.evans@iss.example.com",
    )


@pytest.fixture
def recipient() -> Recipient:
    return RECIPIENT.model_copy(deep=True)


@pytest.fixture
def make_request(handler: Handler, recipient: Recipient) -> Callable[..., SendRequest]:
    """A fully populated request for any kind and channel; keyword overrides go to the context."""

    def build(
        kind: MessageKind | str = MessageKind.ACKNOWLEDGEMENT,
        channel: ChannelKind | str = ChannelKind.EMAIL,
        *,
        key: str | None = None,
        recipient_override: Recipient | None = None,
        **context_overrides,
    ) -> SendRequest:
        kind = MessageKind(kind)
        context = context_fields(REFERENCE, handler)
        context.update(context_overrides)
        return SendRequest(
            key=key or f"{REFERENCE}:{kind.value}:{ChannelKind(channel).value}:1",
            kind=kind,
            channel=ChannelKind(channel),
            recipient=recipient_override or recipient,
            context=MessageContext(**context),
        )

    return build


# --- peers ------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def prism_peers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, PrismPeer]]:
    """Both vendor specs served by Prism, started together (about 3 s), stopped at session end."""
    require_vendor_peers(SENDGRID_SPEC, TWILIO_SPEC)
    specs = vendor_specs_dir()
    log_dir = tmp_path_factory.mktemp("prism")
    peers: dict[str, PrismPeer] = {}
    try:
        peers["sendgrid"] = start_prism(specs / SENDGRID_SPEC, log_dir)
        peers["twilio"] = start_prism(specs / TWILIO_SPEC, log_dir)
        for name, peer in peers.items():
            try:
                wait_for_port(peer.port, timeout=60, process=peer.process)
            except (RuntimeError, TimeoutError) as exc:
                pytest.fail(f"Prism for {name} did not start: {exc}\n{peer.log_tail()}", pytrace=False)
        yield peers
    finally:
        for peer in peers.values():
            peer.stop()


@pytest.fixture
def sendgrid_peer(prism_peers: dict[str, PrismPeer]) -> Iterator[RecordingPeer]:
    """SendGrid's spec behind a recorder: assert on `.requests`, the bytes the client sent."""
    with RecordingPeer(upstream=prism_peers["sendgrid"].url) as peer:
        yield peer


@pytest.fixture
def twilio_peer(prism_peers: dict[str, PrismPeer]) -> Iterator[RecordingPeer]:
    with RecordingPeer(upstream=prism_peers["twilio"].url) as peer:
        yield peer


@pytest.fixture
def stub_peer() -> Iterator[RecordingPeer]:
    """A scripted loopback peer for answers Prism cannot give (429 + Retry-After, Twilio 5xx)."""
    with RecordingPeer() as peer:
        yield peer
