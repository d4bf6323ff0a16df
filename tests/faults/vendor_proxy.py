"""A loopback proxy in front of a vendor peer (Prism) that can play an outage: while it lasts,
every request is answered 503; after it, requests are forwarded and the answer passed back.

It records every request with the message it carried, so a test counts what the vendor accepted
per message: a duplicate send is two accepted requests for one message.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from tests.peers.peers import PrismPeer, reply, require_vendor_peers, start_prism, vendor_specs_dir, wait_for_port


@dataclass(frozen=True)
class Exchange:
    message: str  # what identifies the message: SendGrid's message_key, Twilio's To number
    status: int
    forwarded: bool

    @property
    def accepted(self) -> bool:
        return self.forwarded and 200 <= self.status < 300


STAFF = "staff:"


def sendgrid_message_key(path: str, body: bytes) -> str:
    """The message key the channel puts in SendGrid's custom_args; a notice to staff (not a customer
    message) is marked, so the counts of what customers received leave it out."""
    document = json.loads(body)
    key = document["personalizations"][0]["custom_args"]["message_key"]
    return STAFF + key if "staff_notice" in document.get("categories", []) else key


def twilio_recipient(path: str, body: bytes) -> str:
    """Twilio's API takes no key of ours: a case's SMS is told apart by its To number."""
    return parse_qs(body.decode())["To"][0]


class OutageProxy:
    def __init__(
        self,
        upstream: str,
        identify: Callable[[str, bytes], str],
        *,
        before_forwarding: Callable[[str], None] | None = None,
    ) -> None:
        """`before_forwarding(message)` runs in the request's thread just before a customer's
        message is passed on. A staff notice is passed on without it: the new owner's notice is
        emailed through SendGrid in the same workflow task as the acknowledgement, and on a loaded
        machine it can reach the proxy first, so a fault meant for the customer's first email
        would hit the notice instead (seen: the ledger-guard test froze Temporal on the notice)."""
        self.upstream = urlsplit(upstream)
        self.identify = identify
        self.before_forwarding = before_forwarding
        self.exchanges: list[Exchange] = []
        self._down_until = 0.0
        self._pending_outage: float | None = None
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's spelling
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    message = proxy.identify(self.path, body)
                except (ValueError, KeyError, IndexError, TypeError):
                    message = "?"
                if proxy._is_down():
                    proxy._record(Exchange(message, 503, forwarded=False))
                    outage = json.dumps({"code": 20503, "message": "Service Unavailable", "status": 503})
                    self._reply(503, {"Content-Type": "application/json"}, outage.encode())
                    return
                if proxy.before_forwarding is not None and not message.startswith(STAFF):
                    proxy.before_forwarding(message)
                conn = http.client.HTTPConnection(proxy.upstream.hostname, proxy.upstream.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                try:
                    conn.request("POST", self.path, body=body, headers=headers)
                    response = conn.getresponse()
                    payload = response.read()
                    status, answer_headers = response.status, dict(response.getheaders())
                finally:
                    conn.close()
                proxy._record(Exchange(message, status, forwarded=True))
                self._reply(status, answer_headers, payload)

            def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
                reply(self, status, headers, body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def _record(self, exchange: Exchange) -> None:
        with self._lock:
            self.exchanges.append(exchange)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host if isinstance(host, str) else host.decode()}:{port}"

    def outage(self, seconds: float, *, from_first_request: bool = False) -> None:
        """Answer 503 to everything for the next `seconds`, counted from now or from the first
        request that arrives (so a vendor first used late in a case is down when it is first used)."""
        with self._lock:
            if from_first_request:
                self._down_until, self._pending_outage = 0.0, seconds
            else:
                self._down_until, self._pending_outage = time.monotonic() + seconds, None

    def _is_down(self) -> bool:
        with self._lock:
            if self._pending_outage is not None:
                self._down_until, self._pending_outage = time.monotonic() + self._pending_outage, None
            return time.monotonic() < self._down_until

    def accepted(self) -> Counter[str]:
        with self._lock:
            return Counter(e.message for e in self.exchanges if e.accepted and not e.message.startswith(STAFF))

    def refused(self) -> Counter[str]:
        with self._lock:
            return Counter(e.message for e in self.exchanges if not e.forwarded)

    def upstream_errors(self) -> list[Exchange]:
        with self._lock:
            return [e for e in self.exchanges if e.forwarded and not e.accepted]

    def __enter__(self) -> OutageProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class PrismPool:
    """One Prism per vendor spec for the whole session, started on first use (Prism is the
    slowest thing here to start), shared by the scenarios: each puts its own proxy in front."""

    def __init__(self) -> None:
        self._peers: dict[str, PrismPeer] = {}
        self._lock = threading.Lock()

    def url(self, spec: str, log_dir: Path) -> str:
        """Blocks until the peer listens: call it through `asyncio.to_thread`."""
        require_vendor_peers(spec)
        with self._lock:
            peer = self._peers.get(spec)
            if peer is None:
                peer = self._peers[spec] = start_prism(vendor_specs_dir() / spec, log_dir)
            wait_for_port(peer.port, timeout=90, process=peer.process)
            return peer.url

    def close(self) -> None:
        with self._lock:
            for peer in self._peers.values():
                peer.stop()
            self._peers.clear()


PRISM = PrismPool()


def vendor_env(sendgrid: OutageProxy, twilio: OutageProxy | None) -> dict[str, str]:
    """The worker's settings for SendGrid (and Twilio, if given) behind these proxies."""
    env = {
        "COMPLAINTS_SENDGRID_API_KEY": "SG.faults-test-key",
        "COMPLAINTS_SENDGRID_HOST": sendgrid.url,
        "COMPLAINTS_EMAIL_FROM": "complaints@iss.example.com",
    }
    if twilio is not None:
        env |= {
            "COMPLAINTS_TWILIO_ACCOUNT_SID": "AC" + "0123456789abcdef" * 2,
            "COMPLAINTS_TWILIO_AUTH_TOKEN": "faults-test-token",
            "COMPLAINTS_TWILIO_FROM_NUMBER": "+447700900001",
            "COMPLAINTS_TWILIO_BASE_URL": twilio.url,
        }
    return env
