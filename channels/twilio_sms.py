"""SMS through Twilio's Programmable Messaging API, with the official `twilio` library.

Sends from `from_number` or through a Messaging Service (`messaging_service_sid`), to E.164
numbers only (a malformed `To` is accepted by the API's schema and billed, so it is refused here).

How failures map (`TwilioRestException` / `TwilioServiceException`: `.status` and Twilio's `.code`,
no headers; the library does not retry a POST):
- 429 and 5xx, and Twilio code 20429 (too many requests) -> TransientDeliveryError, with
  `Retry-After` read from the response our HTTP client saw (kept per thread on the client);
- every other 4xx (400 with 21211 invalid 'To', 21614 not a mobile, 21610 opted out (STOP),
  21408 region not enabled; 401/403 credentials; 404; 422) -> PermanentDeliveryError;
- timeouts and connection errors -> TransientDeliveryError.
Reasons carry the status and Twilio code, never the number (Twilio's messages quote it).
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import requests
from twilio.base import values
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http import HttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from channels.base import (
    Clock,
    PermanentDeliveryError,
    RenderedMessage,
    TransientDeliveryError,
    header_lookup,
    parse_retry_after,
    redact,
    require_e164,
    utc_now,
)
from channels.proxy_settings import pin_session_settings
from domain.models import ChannelKind, DeliveryReceipt, SendRequest

# Twilio's HTTP client logs each request and response at INFO, ten lines a text (method and URL,
# every header, the response's headers): at the worker's INFO level that was a third of a text's
# logging and formatting CPU (issue #15), and noise beside our own line per send (key, kind,
# channel). Its warnings and errors still pass.
logging.getLogger("twilio.http_client").setLevel(logging.WARNING)

# Where `messages.create` posts in production (no region or edge is configured).
TWILIO_API = "https://api.twilio.com"

# Twilio error codes that mean "slow down" whatever the HTTP status says.
TRANSIENT_TWILIO_CODES = frozenset({20429, 20500, 20503})


class LoopbackHttpClient(TwilioHttpClient):
    """Twilio's own HTTP client, plus two things the channel needs.

    - `base_url`: when set (tests, local peers), scheme and host of every URL are replaced by it,
      which covers every Twilio domain (api., messaging., ...) with one peer. None in production.
    - `last_response`: the last response *this thread* received. `TwilioRestException` drops the
      headers, so `Retry-After` is read from here; per thread because activities send concurrently
      through one client.
    - the environment's proxy and CA-bundle settings for the one host it sends to, read once here
      instead of on every request (`channels.proxy_settings`: issue #15, CPU per text).
    """

    def __init__(self, base_url: str | None = None, *, timeout: float | None = 30.0, **kwargs: Any) -> None:
        super().__init__(timeout=timeout, **kwargs)
        if base_url is not None:
            parts = urlsplit(base_url)
            if not parts.scheme or not parts.netloc:
                raise ValueError("base_url must look like http://127.0.0.1:4010")
        self.base_url = base_url
        self._local = threading.local()
        if self.session is not None:
            pin_session_settings(self.session, base_url or TWILIO_API)

    @property
    def last_response(self) -> Response | None:
        return getattr(self._local, "response", None)

    def rewrite(self, url: str) -> str:
        if self.base_url is None:
            return url
        base = urlsplit(self.base_url)
        parts = urlsplit(url)
        return urlunsplit((base.scheme, base.netloc, base.path.rstrip("/") + parts.path, parts.query, parts.fragment))

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        self._local.response = None
        response = self.transmit(
            method,
            self.rewrite(url),
            params=params,
            data=data,
            headers=headers,
            auth=auth,
            timeout=timeout,
            allow_redirects=allow_redirects,
        )
        self._local.response = response
        return response

    def transmit(self, method: str, url: str, **kwargs: Any) -> Response:
        """The HTTP exchange itself; tests override this to inject faults the peer cannot make."""
        return super().request(method, url, **kwargs)


def classify_twilio_error(
    exc: TwilioRestException | TwilioServiceException,
    response: Response | None,
    now: datetime | None = None,
) -> PermanentDeliveryError | TransientDeliveryError:
    status = int(getattr(exc, "status", 0) or 0)
    code = getattr(exc, "code", None)
    detail = getattr(exc, "msg", None) or getattr(exc, "detail", None) or getattr(exc, "title", None) or ""
    reason = f"Twilio answered {status}" + (f" (code {code})" if code and code != status else "")
    if detail:
        reason += f": {redact(str(detail))}"
    if status == 429 or status >= 500 or code in TRANSIENT_TWILIO_CODES:
        headers = response.headers if response is not None else None
        return TransientDeliveryError(reason, parse_retry_after(header_lookup(headers, "Retry-After"), now))
    return PermanentDeliveryError(reason)


class TwilioSmsChannel:
    kind = ChannelKind.SMS

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        from_number: str | None = None,
        messaging_service_sid: str | None = None,
        base_url: str | None = None,
        timeout: float = 30.0,
        http_client: HttpClient | None = None,
        clock: Clock = utc_now,
        public_base_url: str | None = None,
    ) -> None:
        """`public_base_url`: the inbound service's public URL; each message then asks Twilio to
        post its delivery status there, with the message key in the URL (Twilio's callback carries
        only its own fields, and the key is covered by its signature there)."""
        if not (from_number or messaging_service_sid):
            raise ValueError("TwilioSmsChannel needs from_number or messaging_service_sid")
        self.http_client = http_client or LoopbackHttpClient(base_url, timeout=timeout)
        self._client = Client(account_sid, auth_token, http_client=self.http_client)
        self.from_number = from_number
        self.messaging_service_sid = messaging_service_sid
        self.clock = clock
        self.public_base_url = public_base_url.rstrip("/") if public_base_url else None

    def __repr__(self) -> str:
        sender = self.messaging_service_sid or self.from_number
        return f"TwilioSmsChannel(sender={sender!r})"

    def status_callback(self, key: str) -> str | None:
        if self.public_base_url is None:
            return None
        return f"{self.public_base_url}/webhooks/twilio/status?key={quote(key, safe='')}"

    def _last_response(self) -> Response | None:
        response = getattr(self.http_client, "last_response", None)
        if response is None:
            response = getattr(self.http_client, "_test_only_last_response", None)
        return response

    def send(self, request: SendRequest, message: RenderedMessage) -> DeliveryReceipt:
        to = require_e164(request)
        try:
            created = self._client.messages.create(
                to=to,
                body=message.sms,
                from_=self.from_number or values.unset,
                messaging_service_sid=self.messaging_service_sid or values.unset,
                status_callback=self.status_callback(request.key) or values.unset,
            )
        except (TwilioRestException, TwilioServiceException) as exc:
            raise classify_twilio_error(exc, self._last_response(), self.clock()) from None
        except requests.Timeout:
            raise TransientDeliveryError("Twilio timed out") from None
        except requests.ConnectionError as exc:
            raise TransientDeliveryError(f"Twilio unreachable: {type(exc).__name__}") from None
        # Accepted (2xx): never resend, even if the body lacked a sid.
        return DeliveryReceipt(key=request.key, channel=self.kind, provider_id=created.sid, sent_at=self.clock())
