"""The worker's own endpoints: metrics listen on loopback unless told otherwise."""

from __future__ import annotations

import pytest

from settings import PipelineSettings
from worker import _runtime, metrics_bind_address


def test_metrics_listen_on_loopback_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COMPLAINTS_METRICS_HOST", raising=False)
    monkeypatch.setenv("COMPLAINTS_METRICS_PORT", "9464")

    assert metrics_bind_address(PipelineSettings()) == "127.0.0.1:9464"


def test_the_metrics_address_is_configurable_for_a_container(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPLAINTS_METRICS_PORT", "9464")
    monkeypatch.setenv("COMPLAINTS_METRICS_HOST", "0.0.0.0")

    assert metrics_bind_address(PipelineSettings()) == "0.0.0.0:9464"


def test_metrics_are_off_without_a_port() -> None:
    assert metrics_bind_address(PipelineSettings(metrics_port=0)) is None
    assert _runtime(PipelineSettings(metrics_port=0)) is None
