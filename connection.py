"""One way to reach Temporal, shared by the worker, the starter and the admin script.

Every process must agree on the data converter (pydantic, plus the payload codec when keys are
configured), or one side writes history the other cannot read.
"""

from __future__ import annotations

from temporalio.client import Client
from temporalio.runtime import Runtime

from codec.converter import data_converter
from codec.keyring import CodecSettings
from settings import PipelineSettings


async def connect(settings: PipelineSettings | None = None, *, runtime: Runtime | None = None) -> Client:
    settings = settings or PipelineSettings()
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=data_converter(CodecSettings()),
        runtime=runtime,
    )
