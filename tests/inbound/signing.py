"""Vendor-signed requests, made in the test with keys generated in the test: what SendGrid and
Twilio would post, signed the way their documentation says."""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from twilio.request_validator import RequestValidator

from inbound.signatures import SENDGRID_SIGNATURE, SENDGRID_TIMESTAMP, TWILIO_SIGNATURE

TWILIO_TOKEN = "12345678901234567890123456789012"
INBOUND_SECRET = "parse-secret-for-tests"


@dataclass
class SendGridSigner:
    """An ECDSA P-256 key pair as SendGrid's console has: the public half, base64 DER, configured."""

    private_key: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))

    @property
    def public_key(self) -> str:
        der = self.private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return base64.b64encode(der).decode()

    def headers(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        signature = self.private_key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {
            SENDGRID_SIGNATURE: base64.b64encode(signature).decode(),
            SENDGRID_TIMESTAMP: stamp,
            "Content-Type": "application/json",
        }


def sendgrid_event(
    event_id: str, message_key: str, event: str = "delivered", *, reason: str | None = None, at: int | None = None
) -> dict:
    """One Event Webhook event, with the custom_args the pipeline sends as top-level fields."""
    raw = {
        "email": "customer@example.com",
        "timestamp": at if at is not None else int(time.time()),
        "event": event,
        "sg_event_id": event_id,
        "sg_message_id": f"msg-{event_id}",
        "case_reference": message_key.split("/")[0],
        "message_key": message_key,
    }
    if reason:
        raw["reason"] = reason
    return raw


def events_body(*events: dict) -> bytes:
    return json.dumps(list(events)).encode()


def twilio_headers(url: str, form: dict[str, str], token: str = TWILIO_TOKEN) -> dict[str, str]:
    return {TWILIO_SIGNATURE: RequestValidator(token).compute_signature(url, form)}


def basic_auth(secret: str = INBOUND_SECRET) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"inbound:{secret}".encode()).decode()}


def sender_checks(address: str, to: str, *, passed: bool = True) -> dict[str, str]:
    """The sender-authentication fields Inbound Parse posts with a mail from `address` to `to`.

    Passed: as for a genuine mail from the customer's provider (its DKIM signature and the SPF of
    its return path, both on the From address's domain). Not passed: as for a forgery sent from
    elsewhere with the customer's address in From (SPF fails for that domain; no signature).
    """
    domain = address.rpartition("@")[2]
    checks = {"SPF": "pass", "dkim": f"{{@{domain} : pass}}"} if passed else {"SPF": "fail", "dkim": "none"}
    return checks | {"envelope": json.dumps({"to": [to], "from": address})}
