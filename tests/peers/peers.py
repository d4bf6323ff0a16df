"""Local peers for the channel tests: Prism serving the vendors' OpenAPI specs, and a loopback
HTTP peer that records what a client sent and either forwards it (to Prism) or answers from a
script (for what Prism cannot produce: 429 with Retry-After, Twilio 5xx, slow answers).

Prism is installed by `npm ci --prefix tests/peers` (package.json and package-lock.json beside
this file) and started directly from `node_modules/.bin/prism`, not through `npx`: the npm
wrapper's PID is not the server's, and killing one leaves the other running.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

PEERS_DIR = Path(__file__).resolve().parent
REPO_DIR = PEERS_DIR.parents[1]
PRISM_BIN = PEERS_DIR / "node_modules" / ".bin" / "prism"

SENDGRID_SPEC = "tsg_mail_v3.json"
TWILIO_SPEC = "twilio_api_v2010.json"


class _QuietServer(ThreadingHTTPServer):
    """A client that gave up (a timeout test's, after a scripted delay) is expected, not an error:
    socketserver would print its broken pipe to whatever `sys.stderr` is then, another test's."""

    def handle_error(self, request: object, client_address: object) -> None:
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


def vendor_specs_dir() -> Path:
    """`<repo>/../shared/vendor-specs`, or wherever COMPLAINTS_VENDOR_SPECS points."""
    override = os.environ.get("COMPLAINTS_VENDOR_SPECS")
    return Path(override) if override else REPO_DIR.parent / "shared" / "vendor-specs"


def require_vendor_peers(*spec_names: str) -> None:
    """Skip when Prism or a vendor spec is missing here; under CI (env `CI`) that is a failure."""
    problems = []
    if not PRISM_BIN.exists():
        problems.append(f"Prism is not installed at {PRISM_BIN}; run `npm ci --prefix tests/peers`")
    specs = vendor_specs_dir()
    missing = [name for name in spec_names if not (specs / name).is_file()]
    if missing:
        problems.append(f"vendor specs {missing} not found in {specs}; set COMPLAINTS_VENDOR_SPECS")
    if not problems:
        return
    message = "; ".join(problems)
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI is set, so this is a failure, not a skip)", pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"peer exited with code {process.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout:g}s")


# Hop-by-hop and per-response headers an upstream sent that a relayed reply sets for itself.
_OWN_HEADERS = ("content-length", "connection", "transfer-encoding", "date", "server")


def reply(
    handler: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes, *, keep_alive: bool = False
) -> None:
    """Answer one request and close the connection: each peer call is one exchange (unless
    `keep_alive`, for a test of a client that reuses its connection)."""
    handler.send_response(status)
    for name, value in headers.items():
        if name.lower() not in _OWN_HEADERS:
            handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    if not keep_alive:
        handler.send_header("Connection", "close")
    handler.end_headers()
    if body:
        handler.wfile.write(body)
    handler.close_connection = not keep_alive


@dataclass
class PrismPeer:
    spec: Path
    port: int
    process: subprocess.Popen
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        # Prism was started in its own session: signal the whole group it may have spawned.
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)


def start_prism(spec: Path, log_dir: Path) -> PrismPeer:
    """Start `prism mock <spec>` on a free loopback port (not yet waited for)."""
    port = free_port()
    log_path = log_dir / f"prism-{spec.stem}-{port}.log"
    log = open(log_path, "wb")  # noqa: SIM115 - the peer process writes to it until close()
    try:
        process = subprocess.Popen(
            [str(PRISM_BIN), "mock", str(spec), "-h", "127.0.0.1", "-p", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=PEERS_DIR,
        )
    finally:
        log.close()
    return PrismPeer(spec=spec, port=port, process=process, log_path=log_path)


# --- the recording loopback peer -------------------------------------------------------------------


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    client_port: int = 0  # the client's end of the connection: two requests on one share it

    @property
    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode(), keep_blank_values=True)

    def json(self):
        import json

        return json.loads(self.body)


@dataclass
class ScriptedResponse:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class RecordingPeer:
    """An HTTP server on 127.0.0.1 that records every request, then answers with the next scripted
    response if any, else by forwarding to `upstream` (e.g. Prism), else 404."""

    def __init__(self, upstream: str | None = None, *, keep_alive: bool = False) -> None:
        """`keep_alive`: answer HTTP/1.1 without `Connection: close`, so a client may send again on
        the same connection (`RecordedRequest.client_port` tells)."""
        self.upstream = upstream
        self.keep_alive = keep_alive
        self.requests: list[RecordedRequest] = []
        self.statuses: list[int] = []  # what the peer answered, in order
        self._script: list[ScriptedResponse] = []
        self._lock = threading.Lock()
        peer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):  # noqa: A002 - quiet test output
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                with peer._lock:
                    peer.requests.append(
                        RecordedRequest(
                            method=self.command,
                            path=parts.path,
                            query=parse_qs(parts.query),
                            headers={k: v for k, v in self.headers.items()},
                            body=body,
                            client_port=self.client_address[1],
                        )
                    )
                    scripted = peer._script.pop(0) if peer._script else None
                if scripted is not None:
                    if scripted.delay:
                        time.sleep(scripted.delay)
                    self._reply(scripted.status, scripted.headers, scripted.body)
                elif peer.upstream is not None:
                    self._forward(body)
                else:
                    self._reply(404, {"Content-Type": "text/plain"}, b"no upstream and no script")

            def _forward(self, body: bytes) -> None:
                target = urlsplit(peer.upstream)
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                try:
                    conn.request(self.command, self.path, body=body or None, headers=headers)
                    response = conn.getresponse()
                    payload = response.read()
                    self._reply(response.status, dict(response.getheaders()), payload)
                finally:
                    conn.close()

            def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
                with peer._lock:
                    peer.statuses.append(status)
                reply(self, status, headers, body, keep_alive=peer.keep_alive)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="recording-peer", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host if isinstance(host, str) else host.decode()}:{port}"

    def script(self, *responses: ScriptedResponse) -> RecordingPeer:
        with self._lock:
            self._script.extend(responses)
        return self

    def __enter__(self) -> RecordingPeer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
