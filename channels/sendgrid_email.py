"""Email through SendGrid's v3 Mail Send API, with the official `sendgrid` library.

What is sent: from-address from settings, the reply-to address plus-addressed with the case
reference (`complaints+CC-2026-...@`, so a reply finds its case), the rendered subject (which carries the case
reference), text and HTML bodies, `custom_args` {case_reference, message_key} on the personalization (they come back on
SendGrid's event webhook, so delivery events can be matched to the case), and the same
X-Case-Reference / X-Message-Key headers the outbox writes.

How failures map (`python_http_client.exceptions`, one class per status, each with `.status_code`
and `.headers`; the library never retries):
- 400, 401, 403, 404, 405, 413, 415 and any other 4xx except 429 -> PermanentDeliveryError
  (bad request, bad key, unverified sender, payload too large: a retry sends the same thing);
- 429 and 5xx -> TransientDeliveryError, with `Retry-After` (seconds or HTTP date) or, failing
  that, SendGrid's own `X-RateLimit-Reset` (epoch seconds) as the back-off;
- timeouts, refused or dropped connections -> TransientDeliveryError.

The mail goes out through `channels.sendgrid_transport` (one kept-alive connection pool per
channel), not the library's own per-request urllib opener: see there for why.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime

from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import (
    Category,
    CustomArg,
    From,
    Header,
    HtmlContent,
    Mail,
    PlainTextContent,
    ReplyTo,
    Subject,
    To,
)
from sendgrid.helpers.mail.exceptions import ApiKeyIncludedException
from urllib3 import exceptions as transport_errors

from channels.base import (
    Clock,
    PermanentDeliveryError,
    RenderedMessage,
    TransientDeliveryError,
    display_name,
    header_lookup,
    header_safe,
    parse_retry_after,
    redact,
    require_email,
    utc_now,
)
from channels.reply_address import plus_address
from channels.sendgrid_transport import MailSendTransport
from domain.models import ChannelKind, DeliveryReceipt, SendRequest

DEFAULT_HOST = "https://api.sendgrid.com"


class _DropPayloadAndHeaders(logging.Filter):
    """python_http_client logs the request body (the customer's email) and headers (the API key)
    at DEBUG; a worker run at DEBUG must not write either to its logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        return not message.startswith(("PAYLOAD", "HEADERS")) and " Response: " not in message


_LOG_GUARD = _DropPayloadAndHeaders()
logging.getLogger("python_http_client.client").addFilter(_LOG_GUARD)


def retry_after_from(headers: object, now: datetime | None = None) -> float | None:
    retry_after = parse_retry_after(header_lookup(headers, "Retry-After"), now)
    if retry_after is not None:
        return retry_after
    # SendGrid's documented rate-limit headers: the reset time in epoch seconds.
    reset = header_lookup(headers, "X-RateLimit-Reset")
    if reset is None:
        return None
    try:
        return max(0.0, float(reset) - (now or utc_now()).timestamp())
    except ValueError:
        return None


def _vendor_detail(exc: HTTPError) -> str:
    """SendGrid's error messages (not the field values); Prism puts its reason in a header."""
    details: list[str] = []
    try:
        body = json.loads(exc.body or b"{}")
        for error in body.get("errors", [])[:3]:
            field = error.get("field")
            details.append(f"{field}: {error.get('message')}" if field else str(error.get("message")))
    except (ValueError, AttributeError, TypeError):
        pass
    violations = header_lookup(exc.headers, "sl-violations")
    if violations:
        try:
            details.extend(str(v.get("message")) for v in json.loads(violations)[:3])
        except (ValueError, AttributeError, TypeError):
            details.append(violations)
    return redact("; ".join(details)) if details else ""


def classify_http_error(exc: HTTPError, now: datetime | None = None) -> PermanentDeliveryError | TransientDeliveryError:
    status = getattr(exc, "status_code", None) or 0
    detail = _vendor_detail(exc)
    reason = f"SendGrid answered {status}" + (f": {detail}" if detail else "")
    if status == 429 or status >= 500:
        return TransientDeliveryError(reason, retry_after_from(exc.headers, now))
    if 400 <= status < 500:
        return PermanentDeliveryError(reason)
    # 1xx/3xx surfacing as an error: not something a retry of the same request would fix.
    return PermanentDeliveryError(reason)


class SendGridEmailChannel:
    kind = ChannelKind.EMAIL

    def __init__(
        self,
        api_key: str,
        *,
        email_from: str,
        email_from_name: str | None = None,
        email_reply_to: str | None = None,
        host: str | None = None,
        timeout: float = 30.0,
        query_params: Mapping[str, object] | None = None,
        clock: Clock = utc_now,
    ) -> None:
        """`query_params` is for tests only: Prism reads `__code` from the query string to answer
        with a given status. (Not `request_headers`: the library keeps those for later sends.)"""
        self._client = SendGridAPIClient(api_key=api_key, host=host or DEFAULT_HOST)
        self.email_from = email_from
        self.email_from_name = email_from_name
        self.email_reply_to = email_reply_to
        self.host = host or DEFAULT_HOST
        self.timeout = timeout
        self.query_params = dict(query_params) if query_params else None
        self.clock = clock
        self._transport = MailSendTransport(self._client.client, query_params=self.query_params)

    def __repr__(self) -> str:
        return f"SendGridEmailChannel(host={self.host!r}, email_from={self.email_from!r})"

    def build_mail(self, request: SendRequest, message: RenderedMessage) -> Mail:
        to = require_email(request)
        try:
            mail = Mail(
                # SendGrid writes these names into From/To itself: the same safe form as the outbox.
                from_email=From(self.email_from, display_name(self.email_from_name) or None),
                to_emails=To(to, display_name(request.recipient.name) or None),
                subject=Subject(header_safe(message.subject)),
                plain_text_content=PlainTextContent(message.text),
                html_content=HtmlContent(message.html),
            )
        except ApiKeyIncludedException:
            # The library refuses content that looks like a SendGrid key; never worth retrying.
            raise PermanentDeliveryError("message content looks like a SendGrid API key") from None
        if self.email_reply_to:
            # Plus-addressed with the reference, so the customer's reply finds its case (inbound).
            reply_to = plus_address(self.email_reply_to, request.context.reference)
            mail.reply_to = ReplyTo(reply_to, display_name(self.email_from_name) or None)
        # On the (single) personalization: the spec types top-level `custom_args` as a string,
        # and SendGrid merges personalization args into the event webhook all the same.
        mail.custom_arg = [
            CustomArg("case_reference", request.context.reference, p=0),
            CustomArg("message_key", request.key, p=0),
        ]
        mail.header = [
            Header("X-Case-Reference", header_safe(request.context.reference)),
            Header("X-Message-Key", header_safe(request.key)),
        ]
        mail.category = [Category("complaints"), Category(request.kind.value)]
        return mail

    def send(self, request: SendRequest, message: RenderedMessage) -> DeliveryReceipt:
        message_id = self._post(self.build_mail(request, message))
        return DeliveryReceipt(
            key=request.key,
            channel=self.kind,
            provider_id=message_id or request.key,
            sent_at=self.clock(),
        )

    def send_staff_notice(self, *, to: str, subject: str, text: str, key: str, reference: str) -> str:
        """An internal notice (a case for a new owner, a reminder, an alert) to a member of staff:
        plain text, the same sender, headers and failure rules as customer mail. Returns SendGrid's
        message id."""
        try:
            mail = Mail(
                from_email=From(self.email_from, display_name(self.email_from_name) or None),
                to_emails=To(to),
                subject=Subject(header_safe(subject)),
                plain_text_content=PlainTextContent(text),
            )
        except ApiKeyIncludedException:
            raise PermanentDeliveryError("notice content looks like a SendGrid API key") from None
        mail.header = [Header("X-Case-Reference", header_safe(reference)), Header("X-Message-Key", header_safe(key))]
        # As customer mail, so SendGrid's event webhook can match a notice to its case.
        mail.custom_arg = [CustomArg("case_reference", reference, p=0), CustomArg("message_key", key, p=0)]
        mail.category = [Category("complaints"), Category("staff_notice")]
        return self._post(mail) or key

    def _post(self, mail: Mail) -> str | None:
        try:
            response = self._transport.post(mail.get(), timeout=self.timeout)
        except HTTPError as exc:
            raise classify_http_error(exc, self.clock()) from None
        except transport_errors.ReadTimeoutError:
            raise TransientDeliveryError(f"SendGrid timed out after {self.timeout:g}s") from None
        except (transport_errors.ConnectTimeoutError, transport_errors.SSLError, transport_errors.ProxyError) as exc:
            # Refused, no such host (both ConnectTimeoutErrors in urllib3), TLS or proxy trouble:
            # named by the socket's own error, as urllib's URLError reason was.
            raise TransientDeliveryError(f"SendGrid unreachable: {_cause_name(exc)}") from None
        except transport_errors.HTTPError as exc:
            # Dropped or garbled mid-exchange (urllib3's ProtocolError around the socket's error).
            raise TransientDeliveryError(f"SendGrid connection failed: {_cause_name(exc)}") from None
        return header_lookup(response.headers, "X-Message-Id")


def _cause_name(exc: BaseException) -> str:
    """The underlying error's class (ConnectionRefusedError, gaierror, RemoteDisconnected): what the
    reason said before; never its text, which can carry a host and port."""
    return type(exc.__cause__ or exc.__context__ or exc).__name__
