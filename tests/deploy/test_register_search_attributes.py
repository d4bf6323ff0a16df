"""`python -m ops.register_search_attributes` against real dev servers, run as the deploy runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.client import Client

from domain import search_attributes as sa
from ops.dev_server import DevServer, free_port, start_dev_server, temporal_cli, wait_for_port
from settings import REPO

pytestmark = pytest.mark.e2e

COMMAND = [sys.executable, "-m", "ops.register_search_attributes"]


def start_server_without_project_attributes(*flags: str) -> DevServer:
    """`temporal server start-dev` as a fresh cluster is: none of the pipeline's attributes."""
    port = free_port()
    process = subprocess.Popen(
        [
            temporal_cli(),
            "server",
            "start-dev",
            "--headless",
            "--ip",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warn",
            *flags,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # DevServer.stop() signals the whole group
    )
    server = DevServer(process=process, port=port, ui_port=None)
    try:
        wait_for_port(port, process=process)
    except Exception:
        server.stop()
        raise
    return server


def register(address: str, *args: str) -> subprocess.CompletedProcess[str]:
    # The developer's own Temporal and codec settings must not leak into the command.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "COMPLAINTS_"))}
    return subprocess.run(
        [*COMMAND, "--address", address, *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def registered(address: str, namespace: str = "default") -> dict[str, int]:
    client = await Client.connect(address, namespace=namespace)
    response = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
    return dict(response.custom_attributes)


@pytest.fixture(scope="module")
def bare_server() -> Iterator[DevServer]:
    server = start_server_without_project_attributes()
    yield server
    server.stop()


async def test_setup_adds_every_search_attribute_to_a_fresh_cluster_then_is_a_no_op(
    bare_server: DevServer,
) -> None:
    before = await registered(bare_server.address)
    assert not {key.name for key in sa.REGISTERED} & set(before)

    first = register(bare_server.address)
    assert first.returncode == 0, first.stderr
    assert f"{len(sa.REGISTERED)} added, 0 already registered" in first.stdout

    after = await registered(bare_server.address)
    for key in sa.REGISTERED:
        assert after.get(key.name) == int(key.indexed_value_type), key.name

    again = register(bare_server.address)
    assert again.returncode == 0, again.stderr
    assert f"0 added, {len(sa.REGISTERED)} already registered" in again.stdout
    assert await registered(bare_server.address) == after


def test_setup_on_the_embedded_dev_server_is_idempotent() -> None:
    # start_dev_server() already registers the attributes through CLI flags (as `make run` does).
    server = start_dev_server()
    try:
        result = register(server.address, "--namespace", "default")
        assert result.returncode == 0, result.stderr
        assert f"0 added, {len(sa.REGISTERED)} already registered" in result.stdout
        for key in sa.REGISTERED:
            assert f"{key.name}" in result.stdout
    finally:
        server.stop()


def test_setup_fails_when_an_attribute_exists_with_another_type() -> None:
    server = start_server_without_project_attributes("--search-attribute", "CaseStage=Int")
    try:
        result = register(server.address, "--wait", "0")
        assert result.returncode == 1
        assert "CaseStage is registered as Int but the pipeline writes Keyword" in result.stderr
    finally:
        server.stop()


def test_setup_gives_up_on_a_namespace_that_never_appears(bare_server: DevServer) -> None:
    result = register(bare_server.address, "--namespace", "no-such-namespace", "--wait", "1")
    assert result.returncode == 1
    assert "no-such-namespace" in result.stderr and "not found" in result.stderr


def test_setup_gives_up_when_no_server_answers() -> None:
    result = register(f"127.0.0.1:{free_port()}", "--wait", "1")
    assert result.returncode == 1
    assert "cannot reach Temporal" in result.stderr
