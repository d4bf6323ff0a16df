"""The customer loop end to end: the dev server, worker.py, `python -m inbound`, the scripts, and
requests signed as SendGrid and Twilio sign them (keys made in the test).

Each case gets a customer number of its own: an SMS reply is matched by the number's keyed hash
among the open cases on the (module-wide) server, and two open cases with one number match neither.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from ops.dev_server import DevServer, free_port, wait_for_port
from settings import REPO
from tests.e2e.conftest import ALL_HOURS, Stack, running_stack
from tests.inbound.signing import (
    INBOUND_SECRET,
    TWILIO_TOKEN,
    SendGridSigner,
    basic_auth,
    events_body,
    sender_checks,
    sendgrid_event,
    twilio_headers,
)

pytestmark = pytest.mark.e2e
EXAMPLE = REPO / "examples" / "broadband-outage-email.json"
SIGNER = SendGridSigner()


class Loop:
    """A stack with the inbound service running beside its worker, on the same data folder."""

    def __init__(self, stack: Stack, url: str) -> None:
        self.stack = stack
        self.url = url

    def file(self, *, phone: str | None, preferred: str = "email", email: str | None = None) -> str:
        data = json.loads(EXAMPLE.read_text())
        data.pop("intake_id", None)
        data["received_at"] = datetime.now(UTC).isoformat()
        data["customer"]["phone"] = phone
        data["customer"]["preferred_written_channel"] = preferred
        if email:
            data["customer"]["email"] = email
        return self.stack.file(json.dumps(data), **ALL_HOURS)

    def sendgrid_events(self, body: bytes, headers: dict[str, str]) -> requests.Response:
        return requests.post(f"{self.url}/webhooks/sendgrid/events", data=body, headers=headers, timeout=30)

    def twilio(self, path: str, form: dict[str, str], token: str = TWILIO_TOKEN) -> requests.Response:
        url = f"{self.url}{path}"
        return requests.post(url, data=form, headers=twilio_headers(url, form, token), timeout=30)

    def queue(self) -> dict[str, int]:
        return requests.get(f"{self.url}/healthz", timeout=10).json()["queue"]


@pytest.fixture(scope="module")
def dev_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    from ops.dev_server import start_dev_server

    folder = tmp_path_factory.mktemp("temporal")
    server = start_dev_server(db_file=folder / "temporal.sqlite", log_file=folder / "server.log")
    yield server
    server.stop()


@pytest.fixture
def loop(dev_server: DevServer, tmp_path: Path) -> Iterator[Loop]:
    port = free_port()
    secrets: dict[str, str] = {
        "COMPLAINTS_CONTACT_KEY_SECRET": "e2e-contact-key-secret",
        # The token alone: the worker still writes texts to the outbox, and the checks are on.
        "COMPLAINTS_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "COMPLAINTS_SENDGRID_WEBHOOK_PUBLIC_KEY": SIGNER.public_key,
        "COMPLAINTS_SENDGRID_INBOUND_SECRET": INBOUND_SECRET,
        "COMPLAINTS_EMAIL_REPLY_TO": "complaints@iss.example.com",
        "COMPLAINTS_INBOUND_PORT": str(port),
        "COMPLAINTS_LOG_FORMAT": "text",
    }
    with running_stack(dev_server, tmp_path, worker=True, **secrets) as stack:
        with open(tmp_path / "inbound.log", "a") as log:
            inbound = subprocess.Popen(
                [sys.executable, "-m", "inbound"], env=stack.env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO
            )
        try:
            wait_for_port(port, process=inbound)
            yield Loop(stack, f"http://127.0.0.1:{port}")
        finally:
            inbound.terminate()
            inbound.wait(timeout=30)


def unique_mobile() -> str:
    """A UK mobile number phonenumbers accepts, different for each case."""
    import phonenumbers

    while True:
        number = f"+447{uuid.uuid4().int % 1000000000:09d}"
        parsed = phonenumbers.parse(number)
        if (
            phonenumbers.is_valid_number(parsed)
            and phonenumbers.number_type(parsed) == phonenumbers.PhoneNumberType.MOBILE
        ):
            return number


def message(status: dict, kind: str, channel: str) -> dict | None:
    found = [m for m in status["messages"] if m["kind"] == kind and m["channel"] == channel and m["status"] == "sent"]
    return found[0] if found else None


def test_a_bounced_acknowledgement_email_falls_back_to_a_letter(loop: Loop) -> None:
    reference = loop.file(phone=unique_mobile())
    status = loop.stack.wait_for(reference, lambda d: message(d, "acknowledgement", "email"))
    email = message(status, "acknowledgement", "email")

    body = events_body(sendgrid_event(f"sg-{uuid.uuid4().hex}", email["key"], "bounce", reason="550 5.1.1 unknown"))
    assert loop.sendgrid_events(body, SIGNER.headers(body)).status_code == 200

    status = loop.stack.wait_for(reference, lambda d: message(d, "acknowledgement", "letter"))
    assert message(status, "acknowledgement", "email")["delivery"] == "bounced"
    assert message(status, "acknowledgement", "email")["delivery_reason"] == "550 5.1.1 unknown"
    assert message(status, "acknowledgement", "letter")["fallback_for"] == email["key"]
    # The handler reads what the vendor said, signed, beside the letter that replaced it.
    shown = loop.stack.run("admin.py", "status", reference)
    assert shown.returncode == 0, shown.stderr
    assert "bounced" in shown.stdout and "signed" in shown.stdout


def test_an_undelivered_sms_introduction_falls_back_to_email(loop: Loop) -> None:
    reference = loop.file(phone=unique_mobile(), preferred="letter")
    status = loop.stack.wait_for(reference, lambda d: message(d, "introduction", "sms"), timeout=60)
    text = message(status, "introduction", "sms")
    assert message(status, "introduction", "email") is None

    path = f"/webhooks/twilio/status?key={quote(text['key'], safe='')}"
    form = {"MessageSid": f"SM{uuid.uuid4().hex}", "MessageStatus": "undelivered", "ErrorCode": "30003"}
    assert loop.twilio(path, form).status_code == 204

    status = loop.stack.wait_for(reference, lambda d: message(d, "introduction", "email"))
    assert message(status, "introduction", "email")["fallback_for"] == text["key"]
    assert message(status, "introduction", "sms")["delivery"] == "undelivered"


def ask_to_close(loop: Loop, reference: str) -> str:
    loop.stack.wait_for(reference, lambda d: d["owner"] is not None)
    asked = loop.stack.run("admin.py", "ask-to-close", reference, "--by", "amara.okafor")
    assert asked.returncode == 0, asked.stderr
    return asked.stdout


def test_a_yes_reply_from_the_customers_number_closes_the_case(loop: Loop) -> None:
    mobile = unique_mobile()
    reference = loop.file(phone=mobile)
    assert "by sms" in ask_to_close(loop, reference)

    form = {"MessageSid": f"SM{uuid.uuid4().hex}", "From": mobile, "Body": "Yes"}
    answer = loop.twilio("/webhooks/twilio/sms", form)
    assert answer.status_code == 200 and "<Response" in answer.text

    status = loop.stack.wait_for(reference, lambda d: d["stage"] == "closed")
    [reply] = status["customer_replies"]
    assert (reply["channel"], reply["text"], reply["meaning"]) == ("sms", "Yes", "yes")
    assert status["confirmation"]["recorded_by"] == "customer"


def test_a_no_reply_by_email_escalates(loop: Loop) -> None:
    address = f"customer-{uuid.uuid4().hex[:8]}@example.com"
    reference = loop.file(phone=None, email=address)
    assert "by email" in ask_to_close(loop, reference)

    form = {
        "from": f"Gwen Pritchard <{address}>",
        # Plus-addressed by the pipeline's Reply-To; the subject is a mail client's own.
        "to": f"complaints+{reference}@iss.example.com",
        "subject": "AW: your message",
        # As a mail client writes it: the answer, then our own message quoted under it.
        "text": f"NO\n\nOn Mon, 30 Nov 2026, ISS Complaints <complaints+{reference}@iss.example.com> wrote:\n"
        "> Reply YES if your complaint is resolved, NO if not.\n",
        "headers": f"Message-ID: <{uuid.uuid4().hex}@mail.example.com>\n",
        # Sent by the customer's own provider: its DKIM signature and SPF pass for their domain.
        **sender_checks(address, f"complaints+{reference}@iss.example.com"),
    }
    posted = requests.post(f"{loop.url}/webhooks/sendgrid/inbound", data=form, headers=basic_auth(), timeout=30)
    assert posted.status_code == 200

    status = loop.stack.wait_for(reference, lambda d: d["escalation_level"] == 1)
    assert status["stage"] != "closed"
    [reply] = status["customer_replies"]
    assert (reply["channel"], reply["meaning"]) == ("email", "no")


def email_reply(loop: Loop, reference: str, address: str, text: str, *, genuine: bool = True) -> None:
    """An e-mail giving `address` as its sender: genuine (its provider's DKIM and SPF pass), or a
    forgery sent from elsewhere (SPF fails for the address's domain, nothing signs it)."""
    form = {
        "from": f"Gwen Pritchard <{address}>",
        "to": f"complaints+{reference}@iss.example.com",
        "subject": f"Re: complaint {reference}",
        "text": text,
        "headers": f"Message-ID: <{uuid.uuid4().hex}@mail.example.com>\n",
        **sender_checks(address, f"complaints+{reference}@iss.example.com", passed=genuine),
    }
    posted = requests.post(f"{loop.url}/webhooks/sendgrid/inbound", data=form, headers=basic_auth(), timeout=30)
    assert posted.status_code == 200


def staff_notices(loop: Loop, to: str) -> list[str]:
    """The subjects in a person's staff mailbox (data/outbox/staff/<address>/)."""
    from email import message_from_bytes

    found = []
    for path in (loop.stack.data_dir / "outbox" / "staff").rglob("*.eml"):
        mail = message_from_bytes(path.read_bytes())
        if mail["To"] == to:
            found.append(str(mail["Subject"]))
    return found


def test_a_reply_after_the_case_closed_reaches_the_customer_service_manager(loop: Loop) -> None:
    # The closure invites it ("reply to this email ... we will re-open your case"): a person must read it.
    address = f"customer-{uuid.uuid4().hex[:8]}@example.com"
    reference = loop.file(phone=None, email=address)
    ask_to_close(loop, reference)
    email_reply(loop, reference, address, "YES")
    loop.stack.wait_for(reference, lambda d: d["stage"] == "closed")

    email_reply(loop, reference, address, "Sorry, it has stopped working again since last night.")
    subject = f"{reference}: a reply after the case closed"
    loop.stack.eventually(
        lambda: subject in staff_notices(loop, "sian.evans@infinity-solutions.example"),
        timeout=60,
        what="the notice in the Customer Service Manager's staff mailbox",
    )


def test_a_forged_yes_from_the_customers_address_leaves_the_case_open_and_their_own_yes_closes_it(
    loop: Loop,
) -> None:
    address = f"customer-{uuid.uuid4().hex[:8]}@example.com"
    reference = loop.file(phone=None, email=address)
    assert "by email" in ask_to_close(loop, reference)

    email_reply(loop, reference, address, "YES", genuine=False)
    status = loop.stack.wait_for(reference, lambda d: len(d["customer_replies"]) == 1)
    [forged] = status["customer_replies"]
    assert (forged["meaning"], forged["from_customer"], forged["sender_authenticated"]) == ("yes", True, False)
    assert status["stage"] != "closed" and status["ask_to_close_outstanding"]
    notice = "an e-mail giving the customer's address that failed the sender checks (SPF/DKIM)"
    assert any(notice in subject for subject in status["alerts"])  # the owner is told what it is

    email_reply(loop, reference, address, "YES")
    status = loop.stack.wait_for(reference, lambda d: d["stage"] == "closed")
    assert status["confirmation"]["recorded_by"] == "customer"


def test_a_reply_that_matches_no_open_case_lands_in_the_unmatched_list(loop: Loop) -> None:
    stranger = unique_mobile()
    form = {"MessageSid": f"SM{uuid.uuid4().hex}", "From": stranger, "Body": "Who do I talk to about my bill?"}
    assert loop.twilio("/webhooks/twilio/sms", form).status_code == 200

    listed = loop.stack.eventually(
        lambda: (
            (r := loop.stack.run("admin.py", "replies", "--unmatched")).returncode == 0
            and "my bill" in r.stdout
            and r.stdout
        ),
        what="the reply in `replies --unmatched`",
    )
    assert stranger not in listed and stranger[-3:] in listed  # masked


def test_a_forged_request_changes_nothing(loop: Loop) -> None:
    reference = loop.file(phone=unique_mobile())
    status = loop.stack.wait_for(reference, lambda d: message(d, "acknowledgement", "email"))
    email = message(status, "acknowledgement", "email")

    body = events_body(sendgrid_event(f"sg-{uuid.uuid4().hex}", email["key"], "bounce"))
    assert loop.sendgrid_events(body, SendGridSigner().headers(body)).status_code == 403  # another key
    assert loop.sendgrid_events(body, {"Content-Type": "application/json"}).status_code == 403  # unsigned
    path = f"/webhooks/twilio/status?key={quote(email['key'], safe='')}"
    form = {"MessageSid": "SMforged", "MessageStatus": "undelivered"}
    assert loop.twilio(path, form, token="not-the-accounts-token-00000000").status_code == 403

    assert loop.queue() == {}  # nothing was stored, so nothing can reach the case
    after = loop.stack.status(reference)
    assert message(after, "acknowledgement", "email")["delivery"] is None
    assert message(after, "acknowledgement", "letter") is None
