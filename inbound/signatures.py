"""Is this request really from the vendor? Each check uses the vendor's own library.

- SendGrid Event Webhook: ECDSA P-256 over `timestamp + body`, verified by
  `sendgrid.helpers.eventwebhook.EventWebhook` with the public key from SendGrid's console; the
  signed timestamp must be within the tolerance (an old, validly signed batch is a replay).
- Twilio: `X-Twilio-Signature`, HMAC-SHA1 of the URL Twilio called and the sorted form, verified by
  `twilio.request_validator.RequestValidator` with the account's auth token.
- SendGrid Inbound Parse signs nothing: the URL carries a secret in basic auth (over https).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import time

from sendgrid.helpers.eventwebhook import EventWebhook, EventWebhookHeader
from twilio.request_validator import RequestValidator

SENDGRID_SIGNATURE = EventWebhookHeader.SIGNATURE
SENDGRID_TIMESTAMP = EventWebhookHeader.TIMESTAMP
TWILIO_SIGNATURE = "X-Twilio-Signature"


class Refused(Exception):
    """The request is not proven to come from the vendor: answered with `status`, nothing changes."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class SendGridEventVerifier:
    def __init__(self, public_key: str, tolerance_seconds: float) -> None:
        self._webhook = EventWebhook(public_key)
        self._tolerance = tolerance_seconds

    def verify(self, body: bytes, signature: str | None, timestamp: str | None, now: float | None = None) -> str:
        """The body as text if signed by SendGrid within the tolerance; else raises Refused."""
        if not signature or not timestamp:
            raise Refused(403, "unsigned: the Event Webhook must have signed events on")
        try:
            signed_at = int(timestamp)
        except ValueError:
            raise Refused(400, "the signature timestamp is not a number") from None
        if abs((now if now is not None else time.time()) - signed_at) > self._tolerance:
            raise Refused(403, "the signature timestamp is outside the tolerance (a replay, or a clock off)")
        try:
            text = body.decode("utf-8")
            valid = self._webhook.verify_signature(text, signature, timestamp)
        except (UnicodeDecodeError, binascii.Error, ValueError):
            valid = False
        if not valid:
            raise Refused(403, "the signature does not match the body")
        return text


class TwilioVerifier:
    def __init__(self, auth_token: str) -> None:
        self._validator = RequestValidator(auth_token)

    def verify(self, url: str, form: dict[str, str], signature: str | None) -> None:
        if not signature:
            raise Refused(403, "unsigned: no X-Twilio-Signature")
        if not self._validator.validate(url, form, signature):
            raise Refused(403, "X-Twilio-Signature does not match the URL and form")


class BasicAuthSecret:
    """Inbound Parse's basic-auth password; the user name is not a secret and not checked."""

    def __init__(self, secret: str) -> None:
        self._secret = secret.encode("utf-8")

    def verify(self, authorization: str | None) -> None:
        scheme, _, encoded = (authorization or "").partition(" ")
        if scheme.lower() != "basic" or not encoded:
            raise Refused(401, "no basic-auth credentials")
        try:
            _, _, password = base64.b64decode(encoded, validate=True).partition(b":")
        except (binascii.Error, ValueError):
            raise Refused(401, "malformed basic-auth credentials") from None
        if not hmac.compare_digest(password, self._secret):
            raise Refused(401, "wrong basic-auth secret")
