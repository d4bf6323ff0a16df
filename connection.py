"""One way to reach Temporal, shared by the worker, the starter and the admin script.

Every process must agree on the data converter (pydantic, plus the payload codec when keys are
configured), or one side writes history the other cannot read. Connection security comes from the
SDK's environment configuration, as for the `temporal` CLI: TEMPORAL_PROFILE and the profile file,
TEMPORAL_API_KEY, TEMPORAL_TLS_CLIENT_CERT_PATH / TEMPORAL_TLS_CLIENT_KEY_PATH (mTLS), TEMPORAL_TLS.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from temporalio.client import Client
from temporalio.envconfig import ClientConfig
from temporalio.runtime import Runtime

from codec.converter import data_converter
from codec.keyring import CodecSettings
from settings import PipelineSettings


async def connect(settings: PipelineSettings | None = None, *, runtime: Runtime | None = None) -> Client:
    settings = settings or PipelineSettings()
    config = ClientConfig.load_client_connect_config()
    # Explicit settings win; otherwise a profile's address and namespace are used as the CLI would.
    if "temporal_address" in settings.model_fields_set or "target_host" not in config:
        config["target_host"] = settings.temporal_address
    if "temporal_namespace" in settings.model_fields_set or "namespace" not in config:
        config["namespace"] = settings.temporal_namespace
    return await Client.connect(
        **config,
        data_converter=data_converter(CodecSettings()),
        runtime=runtime,
    )


def run_cli(app: Callable[[], object]) -> None:
    """Run a short-lived CLI and leave without interpreter finalisation.

    The SDK's native runtime can abort a process that exits while its threads are still winding
    down (temporalio/sdk-python#300), turning a clean "refused" into exit 134. Output is flushed
    first, so nothing is lost.
    """
    code: int = 0
    try:
        app()
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
