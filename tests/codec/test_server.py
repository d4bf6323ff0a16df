from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from google.protobuf import json_format
from pydantic import BaseModel
from temporalio.api.common.v1 import Payload, Payloads
from temporalio.contrib.pydantic import pydantic_data_converter

from codec.encryption import EncryptionCodec
from codec.keyring import CodecSettings
from codec.server import CodecServerConfigError, build_app, main

TOKEN = "codec-token-for-tests"
UI_ORIGIN = "http://localhost:8233"
CUSTOMER_NAME = "Siobhan O'Reilly-Okafor"


class ComplaintContact(BaseModel):
    complaint_ref: str
    customer_name: str


@pytest.fixture
def settings(k1: str) -> CodecSettings:
    return CodecSettings(keys=f"k1:{k1}", server_token=TOKEN, cors_origins=UI_ORIGIN)


@pytest.fixture
async def client(settings: CodecSettings) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(build_app(settings))) as test_client:
        yield test_client


def _originals() -> list[Payload]:
    return pydantic_data_converter.payload_converter.to_payloads(
        [ComplaintContact(complaint_ref="CMP-7", customer_name=CUSTOMER_NAME), "second"]
    )


def _as_json(payloads: list[Payload]) -> str:
    return json_format.MessageToJson(Payloads(payloads=payloads))


async def _payloads_from(response: aiohttp.ClientResponse) -> list[Payload]:
    return list(json_format.Parse(await response.text(), Payloads()).payloads)


def _auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


@pytest.mark.parametrize("path", ["/decode", "/default/decode"])
async def test_decode_returns_the_original_payloads(client: TestClient, settings: CodecSettings, path: str) -> None:
    ring = settings.keyring()
    assert ring is not None
    encrypted = await EncryptionCodec(ring).encode(_originals())

    response = await client.post(path, data=_as_json(encrypted), headers=_auth())

    assert response.status == 200
    assert await _payloads_from(response) == _originals()


async def test_encode_then_decode_through_the_server(client: TestClient) -> None:
    encoded = await client.post("/encode", data=_as_json(_originals()), headers=_auth())
    assert encoded.status == 200
    encrypted = await _payloads_from(encoded)
    assert all(p.metadata["encoding"] == b"binary/encrypted" for p in encrypted)
    assert CUSTOMER_NAME.encode() not in Payloads(payloads=encrypted).SerializeToString()

    decoded = await client.post("/decode", data=_as_json(encrypted), headers=_auth())

    assert await _payloads_from(decoded) == _originals()


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer not-the-token", f"Basic {TOKEN}", TOKEN, "Bearer "],
    ids=["missing", "wrong-token", "wrong-scheme", "no-scheme", "empty"],
)
@pytest.mark.parametrize("path", ["/decode", "/encode"])
async def test_requests_without_the_right_token_are_refused(
    client: TestClient, authorization: str | None, path: str
) -> None:
    headers = {"Content-Type": "application/json", "Origin": UI_ORIGIN}
    if authorization is not None:
        headers["Authorization"] = authorization

    response = await client.post(path, data=_as_json(_originals()), headers=headers)

    assert response.status == 401
    assert CUSTOMER_NAME not in await response.text()
    # The Web UI can only show "unauthorised" if the 401 itself carries CORS headers.
    assert response.headers["Access-Control-Allow-Origin"] == UI_ORIGIN


async def test_cors_preflight_answers_with_the_origin(client: TestClient) -> None:
    response = await client.options(
        "/decode",
        headers={
            "Origin": UI_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-namespace,authorization",
        },
    )

    assert response.status == 204
    assert response.headers["Access-Control-Allow-Origin"] == UI_ORIGIN
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    allowed = response.headers["Access-Control-Allow-Headers"].split(",")
    assert {"content-type", "x-namespace", "authorization"} <= set(allowed)


async def test_cors_refuses_other_origins(client: TestClient) -> None:
    preflight = await client.options(
        "/decode",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    post = await client.post(
        "/decode",
        data=_as_json([]),
        headers={**_auth(), "Origin": "https://evil.example"},
    )

    assert preflight.status == 403
    assert "Access-Control-Allow-Origin" not in preflight.headers
    assert "Access-Control-Allow-Origin" not in post.headers


async def test_successful_responses_carry_cors_headers(client: TestClient) -> None:
    response = await client.post("/decode", data=_as_json(_originals()), headers={**_auth(), "Origin": UI_ORIGIN})

    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == UI_ORIGIN
    assert response.headers["Vary"] == "Origin"


async def test_undecryptable_payloads_get_a_clear_400(client: TestClient, k2: str) -> None:
    foreign_ring = CodecSettings(keys=f"k2:{k2}").keyring()
    assert foreign_ring is not None
    foreign = await EncryptionCodec(foreign_ring).encode(_originals())

    response = await client.post("/decode", data=_as_json(foreign), headers=_auth())

    assert response.status == 400
    assert "'k2', which is not in the keyring" in (await response.json())["error"]


async def test_malformed_bodies_get_a_400(client: TestClient) -> None:
    response = await client.post("/decode", data="{not json", headers=_auth())

    assert response.status == 400


def test_keys_without_a_token_refuse_to_start(k1: str) -> None:
    with pytest.raises(CodecServerConfigError, match="insecure-no-auth"):
        build_app(CodecSettings(keys=f"k1:{k1}"))


def test_a_token_shorter_than_16_characters_refuses_to_start(k1: str) -> None:
    with pytest.raises(CodecServerConfigError, match="COMPLAINTS_CODEC_SERVER_TOKEN must be at least 16") as refused:
        build_app(CodecSettings(keys=f"k1:{k1}", server_token="a-token"))
    assert "a-token" not in str(refused.value)
    assert build_app(CodecSettings(keys=f"k1:{k1}", server_token="t" * 16))


def test_no_keys_refuse_to_start() -> None:
    with pytest.raises(CodecServerConfigError, match="no keys configured"):
        build_app(CodecSettings(server_token=TOKEN), insecure_no_auth=True)


async def test_insecure_mode_must_be_asked_for_and_then_needs_no_token(k1: str) -> None:
    app = build_app(CodecSettings(keys=f"k1:{k1}"), insecure_no_auth=True)

    async with TestClient(TestServer(app)) as open_client:
        response = await open_client.post(
            "/decode", data=_as_json(_originals()), headers={"Content-Type": "application/json"}
        )

    assert response.status == 200


def test_cli_exits_2_without_a_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], k1: str
) -> None:
    monkeypatch.setenv("COMPLAINTS_CODEC_KEYS", f"k1:{k1}")
    monkeypatch.delenv("COMPLAINTS_CODEC_SERVER_TOKEN", raising=False)

    assert main(["--port", "0"]) == 2
    assert "COMPLAINTS_CODEC_SERVER_TOKEN" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_module_entry_point_serves_decode(settings: CodecSettings, k1: str) -> None:
    port = _free_port()
    env = {"COMPLAINTS_CODEC_KEYS": f"k1:{k1}", "COMPLAINTS_CODEC_SERVER_TOKEN": TOKEN}
    process = subprocess.Popen(
        [sys.executable, "-m", "codec.server", "--host", "127.0.0.1", "--port", str(port)],
        cwd=Path(__file__).resolve().parents[2],
        env={**_inherited_env(), **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        ring = settings.keyring()
        assert ring is not None
        encrypted = await EncryptionCodec(ring).encode(_originals())
        async with aiohttp.ClientSession() as session:
            response = await _post_when_up(session, f"http://127.0.0.1:{port}/decode", _as_json(encrypted), process)
            assert response.status == 200
            assert await _payloads_from(response) == _originals()
    finally:
        process.terminate()
        process.wait(timeout=5)


def _inherited_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("COMPLAINTS_CODEC_")}


async def _post_when_up(
    session: aiohttp.ClientSession, url: str, body: str, process: subprocess.Popen[bytes]
) -> aiohttp.ClientResponse:
    for _ in range(100):
        if process.poll() is not None:
            assert process.stderr is not None
            pytest.fail(f"codec server exited: {process.stderr.read().decode()}")
        try:
            response = await session.post(url, data=body, headers=_auth())
            await response.read()
            return response
        except aiohttp.ClientConnectionError:
            await asyncio.sleep(0.05)
    pytest.fail("codec server did not start within 5 s")


async def _encrypted(settings: CodecSettings) -> str:
    ring = settings.keyring()
    assert ring is not None
    return _as_json(await EncryptionCodec(ring).encode(_originals()))


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8081", "rebind.attacker.test:8081", "10.0.0.7"])
async def test_insecure_mode_refuses_a_dns_rebinding_host(k1: str, host: str) -> None:
    # A page on evil.example whose DNS name now resolves to 127.0.0.1 sends its own Host header.
    settings = CodecSettings(keys=f"k1:{k1}")
    async with TestClient(TestServer(build_app(settings, insecure_no_auth=True))) as open_client:
        response = await open_client.post(
            "/decode", data=await _encrypted(settings), headers={"Content-Type": "application/json", "Host": host}
        )
        body = await response.read()

    assert response.status == 403
    assert CUSTOMER_NAME.encode() not in body


@pytest.mark.parametrize("host", ["localhost:8081", "127.0.0.1:8081", "[::1]:8081", "LOCALHOST"])
async def test_the_allowed_host_names_are_served(k1: str, host: str) -> None:
    settings = CodecSettings(keys=f"k1:{k1}")
    async with TestClient(TestServer(build_app(settings, insecure_no_auth=True))) as open_client:
        response = await open_client.post(
            "/decode", data=await _encrypted(settings), headers={"Content-Type": "application/json", "Host": host}
        )

    assert response.status == 200


async def test_a_post_from_a_disallowed_origin_is_refused_even_with_the_token(
    client: TestClient, settings: CodecSettings
) -> None:
    response = await client.post(
        "/decode", data=await _encrypted(settings), headers={**_auth(), "Origin": "https://evil.example"}
    )
    body = await response.read()

    assert response.status == 403
    assert CUSTOMER_NAME.encode() not in body
