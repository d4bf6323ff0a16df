"""Codec server: lets the Temporal Web UI and `temporal` CLI show encrypted payloads decrypted.

The protocol is Temporal's remote codec protocol: POST a `Payloads` message in proto3 JSON to
`.../encode` or `.../decode` and get one back. Only the last path segment is significant, so the
server can sit behind a prefix (e.g. `https://codec.example/complaints/decode`).

Anyone who can call /decode can read every customer's details, so a bearer token is required
whenever keys are configured; running without one needs an explicit `--insecure-no-auth`.
In every mode, a request whose Host header is not one of `COMPLAINTS_CODEC_ALLOWED_HOSTS`
(default localhost, 127.0.0.1, [::1]) is refused, which defeats DNS rebinding (a page on
evil.example whose name resolves to 127.0.0.1), and a request carrying an Origin that is not one of
`COMPLAINTS_CODEC_CORS_ORIGINS` is refused before anything is decoded, token or not.

    python -m codec.server --host 127.0.0.1 --port 8081
    temporal workflow show -w ID --codec-endpoint http://127.0.0.1:8081 \
        --codec-auth "Bearer $COMPLAINTS_CODEC_SERVER_TOKEN"
"""

from __future__ import annotations

import argparse
import hmac
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import hdrs, web
from google.protobuf import json_format
from pydantic import ValidationError
from temporalio.api.common.v1 import Payload, Payloads

from codec.encryption import EncryptionCodec, PayloadDecryptionError
from codec.keyring import CodecSettings
from ops.secrets_file import WeakSecretError, check_strength

logger = logging.getLogger("codec.server")

ALLOWED_HEADERS = "content-type,x-namespace,authorization"
# A whole history's worth of payloads can arrive in one request; Temporal caps a payload at 2 MiB.
MAX_REQUEST_BYTES = 16 * 1024 * 1024
_Transform = Callable[[Sequence[Payload]], Awaitable[list[Payload]]]
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class CodecServerConfigError(Exception):
    """The codec server would be useless or unsafe with these settings."""


def build_app(settings: CodecSettings, *, insecure_no_auth: bool = False) -> web.Application:
    keyring = settings.keyring()
    if keyring is None:
        raise CodecServerConfigError("no keys configured: set COMPLAINTS_CODEC_KEYS or COMPLAINTS_CODEC_KEYS_FILE")
    token = settings.server_token
    if token is None and not insecure_no_auth:
        raise CodecServerConfigError(
            "refusing to serve decrypted customer data without authentication: set"
            " COMPLAINTS_CODEC_SERVER_TOKEN, or pass --insecure-no-auth for a local-only server"
        )
    if token is not None:
        try:
            check_strength(token, "COMPLAINTS_CODEC_SERVER_TOKEN")
        except WeakSecretError as exc:
            raise CodecServerConfigError(str(exc)) from None
    codec = EncryptionCodec(keyring)
    origins = frozenset(settings.origins)
    hosts = settings.hosts

    @web.middleware
    async def host_and_origin(request: web.Request, handler: _Handler) -> web.StreamResponse:
        # Outermost, and before auth: a rebinding page or another site's script gets nothing, and
        # CORS alone would only stop it *reading* a response the server had already produced.
        if _host_name(request.headers.get(hdrs.HOST, "")) not in hosts:
            return web.Response(status=403, text="host not allowed\n")
        origin = request.headers.get(hdrs.ORIGIN)
        if origin is not None and origin not in origins:
            return web.Response(status=403, text="origin not allowed\n")
        return await handler(request)

    @web.middleware
    async def cors(request: web.Request, handler: _Handler) -> web.StreamResponse:
        origin = request.headers.get(hdrs.ORIGIN)
        # The origin when it may read the answer, else None.
        allowed = origin if origin is not None and origin in origins else None
        if request.method == hdrs.METH_OPTIONS and _is_codec_path(request.path):
            # Browsers send preflights without credentials, so this must answer before auth.
            if allowed is None:
                return web.Response(status=403, text="origin not allowed\n")
            response: web.StreamResponse = web.Response(status=204)
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_METHODS] = "POST, OPTIONS"
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_HEADERS] = ALLOWED_HEADERS
            response.headers[hdrs.ACCESS_CONTROL_MAX_AGE] = "600"
            _add_cors(response, allowed)
            return response
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            # Errors need the CORS headers too, or the Web UI sees "network error" instead of 401.
            if allowed is not None:
                _add_cors(exc, allowed)
            raise
        if allowed is not None:
            _add_cors(response, allowed)
        return response

    @web.middleware
    async def bearer_auth(request: web.Request, handler: _Handler) -> web.StreamResponse:
        if token is None or request.path == "/health":
            return await handler(request)
        scheme, _, presented = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            presented.strip().encode("utf-8"), token.encode("utf-8")
        ):
            return web.json_response(
                {"error": "missing or wrong bearer token"},
                status=401,
                headers={hdrs.WWW_AUTHENTICATE: 'Bearer realm="complaints-codec"'},
            )
        return await handler(request)

    async def encode(request: web.Request) -> web.Response:
        return await _apply(request, codec.encode)

    async def decode(request: web.Request) -> web.Response:
        return await _apply(request, codec.decode)

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application(middlewares=[host_and_origin, cors, bearer_auth], client_max_size=MAX_REQUEST_BYTES)
    app.add_routes(
        [
            web.post("/encode", encode),
            web.post("/decode", decode),
            web.post("/{prefix:.+}/encode", encode),
            web.post("/{prefix:.+}/decode", decode),
            web.get("/health", health),
        ]
    )
    return app


async def _apply(request: web.Request, transform: _Transform) -> web.Response:
    if request.content_type != "application/json":
        return web.json_response({"error": "send application/json"}, status=415)
    try:
        payloads = json_format.Parse(await request.read(), Payloads())
    except (json_format.ParseError, UnicodeDecodeError):
        return web.json_response(
            {"error": 'body must be a Payloads message in proto3 JSON: {"payloads": [...]}'},
            status=400,
        )
    try:
        transformed = await transform(payloads.payloads)
    except PayloadDecryptionError as exc:
        # The message names only key ids, never key material or payload contents.
        logger.warning("decode refused: %s", exc)
        return web.json_response({"error": str(exc)}, status=400)
    return web.Response(
        text=json_format.MessageToJson(Payloads(payloads=transformed)),
        content_type="application/json",
    )


def _host_name(host: str) -> str:
    """The Host header without its port: `localhost:8081` -> `localhost`, `[::1]:8081` -> `[::1]`."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _is_codec_path(path: str) -> bool:
    return path.endswith(("/encode", "/decode"))


def _add_cors(response: web.StreamResponse, origin: str) -> None:
    response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin
    # The Web UI's "include cross-origin credentials" option needs this; we never answer '*'.
    response.headers[hdrs.ACCESS_CONTROL_ALLOW_CREDENTIALS] = "true"
    response.headers[hdrs.VARY] = hdrs.ORIGIN


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m codec.server",
        description="Temporal codec server for the Web UI and `temporal --codec-endpoint`.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="serve without a bearer token (anyone who can reach the port can decrypt)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

    try:
        settings = CodecSettings()
        app = build_app(settings, insecure_no_auth=args.insecure_no_auth)
    except ValidationError as exc:
        print(f"codec settings are invalid:\n{exc}", file=sys.stderr)
        return 2
    except CodecServerConfigError as exc:
        print(f"codec server not started: {exc}", file=sys.stderr)
        return 2
    if settings.server_token is None:
        logger.warning(
            "running WITHOUT authentication: anyone who can reach %s:%s can decrypt",
            args.host,
            args.port,
        )
    keyring = settings.keyring()
    assert keyring is not None
    logger.info(
        "keys %s (encrypting under %r); CORS origins: %s",
        keyring.ids_text(),
        keyring.default_key_id,
        ", ".join(settings.origins) or "none",
    )
    web.run_app(app, host=args.host, port=args.port, print=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
