"""SendGrid's Mail Send call over a connection pool the channel keeps (one per channel, kept alive).

Why not the library's own `client.mail.send.post(...)`: python_http_client builds a new urllib
opener for every request, which scans the environment for proxies, then opens a new connection and
closes it after the one email; over HTTPS each of those also builds a new TLS context (loading the
whole CA store: about 24 ms of CPU on the bench machine) and pays a full TLS handshake. At one email
per send that was most of a message's worker CPU in production (issue #15, `bench.message_cpu`).

What is still the library's: the URL (its own `_build_url`, query string included, so the path is
what its `post` requested), the headers its client sends (Authorization, User-Agent, Accept) plus the
Content-Type its `post` adds, the body as it encodes it (`json.dumps`), and its exception classes
for an HTTP error (`python_http_client.exceptions.err_dict`, built as its `handle_error` builds them:
status, reason, body, headers), so `classify_http_error` reads them as before. What is urllib3's
(installed with `requests`, which Twilio's library uses): the pool, thread-safe, so concurrent sends
share it. Connection failures arrive as urllib3's exceptions; the channel maps them.

Like the library, nothing is retried here (`retries=False`), and redirects are not followed: the
activity's retry policy and the sent-message ledger decide about a second attempt. A pooled
connection the vendor closed while idle is noticed before reuse and replaced; if it closes in the
instant between, the send fails as a connection error and the activity retries it.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import ssl
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

import urllib3
from python_http_client import Client
from python_http_client.exceptions import HTTPError, err_dict

from channels.proxy_settings import urllib_proxy_for

_logger = logging.getLogger(__name__)

# As many connections as sends can run at once through the default executor (the activity hands a
# send to a worker thread); more sends than that open a connection each and drop it afterwards.
POOL_SIZE = min(32, (os.cpu_count() or 1) + 4)


class MailSendTransport:
    def __init__(self, client: Client, *, query_params: Mapping[str, object] | None = None) -> None:
        # `_` is the library's own way to add a path segment (`client.mail.send`); `_build_url` is
        # what its `post` calls, missing from the type stubs.
        endpoint: Any = client._("mail")._("send")
        self.url: str = endpoint._build_url(dict(query_params) if query_params else None)
        self._headers = {**client.request_headers, "Content-Type": "application/json"}
        # Read once for the one host (`channels.proxy_settings`): the environment does not change
        # while a worker runs.
        self.proxy = urllib_proxy_for(self.url)
        self._pool = _pool(self.url, self.proxy)

    def post(self, body: object, *, timeout: float) -> urllib3.BaseHTTPResponse:
        """POST the mail; an answer outside 2xx raises the library's exception for its status."""
        # The library logged this line at DEBUG; never the body or the headers (the customer, the key).
        _logger.debug("POST Request: %s", self.url)
        response = self._pool.request(
            "POST",
            self.url,
            body=json.dumps(body).encode("utf-8"),
            headers=self._headers,
            timeout=timeout,
            retries=False,
            redirect=False,
        )
        _logger.debug("POST Response: %s", response.status)
        if not 200 <= response.status < 300:
            # As the library's `handle_error` built it from urllib's error, headers as an HTTPMessage.
            headers = http.client.HTTPMessage()
            for name, value in response.headers.items():
                headers[name] = value
            error = err_dict.get(response.status, HTTPError)
            raise error(response.status, response.reason or "", response.data, headers)
        return response


def _pool(url: str, proxy: str | None) -> urllib3.PoolManager:
    options: dict[str, object] = {"maxsize": POOL_SIZE, "block": False, "retries": False}
    if urlsplit(url).scheme == "https":
        # Once per channel, not per connection: the same trust as urllib's per-connection default
        # context (the system store, or SSL_CERT_FILE / SSL_CERT_DIR).
        options["ssl_context"] = ssl.create_default_context()
    if proxy is None:
        return urllib3.PoolManager(**options)  # type: ignore[arg-type]
    # urllib sent a proxy URL's user:password as Proxy-Authorization; urllib3 needs it as a header.
    auth = urllib3.util.parse_url(proxy).auth
    headers = urllib3.make_headers(proxy_basic_auth=unquote(auth)) if auth else None
    return urllib3.ProxyManager(proxy, proxy_headers=headers, **options)  # type: ignore[arg-type]
