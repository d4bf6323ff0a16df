"""The fault tests' vendor proxy: what its hook sees (no server, no worker: a plain upstream)."""

from __future__ import annotations

import json
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.faults.vendor_proxy import OutageProxy, sendgrid_message_key


class Accepting(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's spelling
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


def mail(key: str, *categories: str) -> bytes:
    return json.dumps(
        {"personalizations": [{"custom_args": {"message_key": key}}], "categories": list(categories)}
    ).encode()


def test_the_hook_runs_for_a_customers_email_and_never_for_a_staff_notice() -> None:
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), Accepting)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    seen: list[str] = []
    try:
        with OutageProxy(
            f"http://127.0.0.1:{upstream.server_address[1]}", sendgrid_message_key, before_forwarding=seen.append
        ) as proxy:
            # The new owner's notice reaches SendGrid first, as it can on a loaded machine.
            for body in (
                mail("CC-2026-ABCDEFGH/alert-001", "staff_notice"),
                mail("CC-2026-ABCDEFGH/001-acknowledgement-email"),
            ):
                urllib.request.urlopen(urllib.request.Request(f"{proxy.url}/v3/mail/send", data=body), timeout=10)
            accepted = proxy.accepted()
    finally:
        upstream.shutdown()
        upstream.server_close()
    assert seen == ["CC-2026-ABCDEFGH/001-acknowledgement-email"]
    assert list(accepted) == ["CC-2026-ABCDEFGH/001-acknowledgement-email"]
