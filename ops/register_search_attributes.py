"""Add the pipeline's search attributes to a namespace on any Temporal cluster.

    python -m ops.register_search_attributes [--address HOST:PORT] [--namespace NS] [--wait SECONDS]

Address and namespace default to the worker's own settings (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE),
and the connection is made by `connection.connect`, so this reaches exactly the cluster the worker
does. Run it once per namespace before the first worker starts: a case that upserts an attribute
the namespace does not know fails its workflow task until someone adds it.

Idempotent: an attribute already registered with the type the pipeline needs counts as done, so a
deploy can run it every time. One registered with a different type is an error (exit 1), because
the workflow would write values the index refuses and the Web UI filters would lie.

A freshly started cluster may not answer yet, or may not have created its namespace yet (the
`temporalio/auto-setup` image creates it after the server starts), so both are retried for
`--wait` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.common import SearchAttributeIndexedValueType
from temporalio.service import RPCError, RPCStatusCode

from connection import connect
from domain.search_attributes import CLI_TYPE, REGISTERED
from settings import PipelineSettings

# Worth retrying while a cluster starts; anything else will not change by waiting.
_TRANSIENT = {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.NOT_FOUND}
_NOT_ALLOWED = {RPCStatusCode.PERMISSION_DENIED, RPCStatusCode.UNIMPLEMENTED, RPCStatusCode.UNAUTHENTICATED}


class RegistrationError(Exception):
    """The namespace cannot hold the pipeline's search attributes as they are defined."""


@dataclass
class Outcome:
    added: list[str] = field(default_factory=list)
    already_registered: list[str] = field(default_factory=list)


def wanted() -> dict[str, int]:
    """Name to IndexedValueType number, in the order domain.search_attributes lists them."""
    return {key.name: int(key.indexed_value_type) for key in REGISTERED}


def type_name(value: int) -> str:
    try:
        name = SearchAttributeIndexedValueType(value).name
    except ValueError:
        return f"type {value}"
    return CLI_TYPE.get(name, name.title())


async def registered(client: Client, namespace: str) -> dict[str, int]:
    response = await client.operator_service.list_search_attributes(ListSearchAttributesRequest(namespace=namespace))
    return dict(response.custom_attributes)


def _check_types(needed: Mapping[str, int], existing: Mapping[str, int]) -> None:
    wrong = [
        f"{name} is registered as {type_name(existing[name])} but the pipeline writes {type_name(kind)}"
        for name, kind in needed.items()
        if name in existing and existing[name] != kind
    ]
    if wrong:
        # A search attribute's type cannot be changed in place; an operator must decide what to do.
        raise RegistrationError("; ".join(wrong))


async def register_search_attributes(client: Client, namespace: str) -> Outcome:
    """Add whichever of the pipeline's attributes the namespace lacks; check the rest's types."""
    needed = wanted()
    existing = await registered(client, namespace)
    _check_types(needed, existing)
    missing = {name: IndexedValueType.ValueType(kind) for name, kind in needed.items() if name not in existing}
    if missing:
        try:
            await client.operator_service.add_search_attributes(
                AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
            )
        except RPCError as exc:
            # Another setup run (a second replica, a re-run deploy) got there first: the state
            # read back below is what decides success.
            if exc.status != RPCStatusCode.ALREADY_EXISTS:
                raise
        existing = await registered(client, namespace)
        _check_types(needed, existing)
        absent = [name for name in needed if name not in existing]
        if absent:
            raise RegistrationError(f"the server accepted the request but does not list {', '.join(absent)}")
    return Outcome(
        added=[name for name in needed if name in missing],
        already_registered=[name for name in needed if name not in missing],
    )


async def _register_when_ready(settings: PipelineSettings, wait: float) -> Outcome:
    deadline = time.monotonic() + wait
    said_waiting = False
    while True:
        try:
            client = await connect(settings)
            return await register_search_attributes(client, settings.temporal_namespace)
        except RPCError as exc:
            if exc.status not in _TRANSIENT or time.monotonic() >= deadline:
                raise
            reason = str(exc)
        except RuntimeError as exc:  # Client.connect: nothing answering at the address yet
            if time.monotonic() >= deadline:
                raise
            reason = str(exc)
        if not said_waiting:
            print(f"waiting up to {wait:.0f}s for {settings.temporal_address} ({reason})", flush=True)
            said_waiting = True
        await asyncio.sleep(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ops.register_search_attributes",
        description="Add the complaints pipeline's search attributes to a Temporal namespace (idempotent).",
    )
    parser.add_argument("--address", help="host:port of the Temporal frontend (default: TEMPORAL_ADDRESS)")
    parser.add_argument("--namespace", help="namespace to register in (default: TEMPORAL_NAMESPACE)")
    parser.add_argument(
        "--wait",
        type=float,
        default=60,
        metavar="SECONDS",
        help="keep retrying an unreachable server or a not-yet-created namespace this long (default 60)",
    )
    args = parser.parse_args(argv)

    update: dict[str, str] = {}
    if args.address:
        update["temporal_address"] = args.address
    if args.namespace:
        update["temporal_namespace"] = args.namespace
    settings = PipelineSettings().model_copy(update=update)
    where = f"namespace {settings.temporal_namespace!r} at {settings.temporal_address}"

    try:
        outcome = asyncio.run(_register_when_ready(settings, max(args.wait, 0)))
    except RegistrationError as exc:
        print(f"search attributes in {where} conflict with the pipeline: {exc}", file=sys.stderr)
        return 1
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            print(f"{where}: not found ({exc.message})", file=sys.stderr)
        elif exc.status in _NOT_ALLOWED:
            print(
                f"{where} does not let this client add search attributes ({exc.status.name}: {exc.message}). "
                "On Temporal Cloud add them with `tcld namespace search-attributes add` or the Cloud UI.",
                file=sys.stderr,
            )
        else:
            print(f"{where}: {exc.status.name if exc.status else 'error'}: {exc.message}", file=sys.stderr)
        return 1
    except RuntimeError as exc:
        print(f"cannot reach Temporal at {settings.temporal_address}: {exc}", file=sys.stderr)
        return 1

    kinds = wanted()
    for name in kinds:
        state = "added" if name in outcome.added else "already registered"
        print(f"  {name:<16} {type_name(kinds[name]):<9} {state}")
    print(f"{where}: {len(outcome.added)} added, {len(outcome.already_registered)} already registered")
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter teardown: the SDK's Rust runtime threads can abort a short-lived process
    # while Python finalizes ("PyGILState_Release ... must be current", temporalio/sdk-python#300),
    # which would turn a successful setup step into exit 134 and block every `depends_on` on it.
    os._exit(code)
