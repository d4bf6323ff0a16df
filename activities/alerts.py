"""Internal alerts and work notifications to staff: breaches, failed sends, a new case for its
owner, reminders before a call is owed, work items for the post room.

Staff notices e-mailed through SendGrid share the customers' account, so they are paced below the
customers (`channels.rate_limits.STAFF_SHARE`): a first attempt (local activity) that finds no staff
token fails at once as retryable `RateLimited` without calling SendGrid, and the case retries it on
the staff queue (`domain.vendor_queues.staff_queue`), which the server holds to that share; a
regular attempt waits for a token per recipient. The alert's JSON file is written either way (by
key, so the retry overwrites it). Staff mail to the outbox is not limited.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Protocol

from temporalio import activity
from temporalio.exceptions import ApplicationError

from channels.base import PermanentDeliveryError, TransientDeliveryError, header_safe, safe_file_stem
from channels.rate_limits import VendorRateLimits
from domain.models import AlertRequest, Handler
from ops.private_files import private_dir, private_opener

log = logging.getLogger(__name__)


class StaffMailer(Protocol):
    def send_staff_notice(self, *, to: str, subject: str, text: str, key: str, reference: str) -> str: ...


class AlertActivities:
    """Embedded default: one JSON file per alert under <data>/alerts, named by its key.

    Writing by key makes a retried activity overwrite its own alert rather than raise a second one.
    """

    def __init__(
        self,
        alerts_dir: Path,
        *,
        staff_outbox: Path | None = None,
        roster: Path | list[Handler] | None = None,
        sender: str = "complaints-pipeline@outbox.invalid",
        email: StaffMailer | None = None,
        rate_limits: VendorRateLimits | None = None,
    ) -> None:
        self._dir = alerts_dir
        # The configured email channel (SendGrid): staff notices go out as email too.
        self._email = email
        # Only e-mail through the vendor is paced: the outbox has no rate to keep.
        self._rate_limits = rate_limits if email is not None and rate_limits is not None else None
        # Staff mail, embedded default: one .eml per recipient and notice under <outbox>/staff/.
        self._staff_outbox = staff_outbox
        self._roster = roster
        self._sender = sender

    def _recipients(self, alert: AlertRequest) -> list[str]:
        """The owner's address when the case knows it; else everyone on the roster in the role."""
        if alert.to_email:
            return [alert.to_email]
        if alert.to_team or self._roster is None:
            return []
        from settings import ConfigError, load_roster

        try:
            roster = load_roster(self._roster) if isinstance(self._roster, Path) else self._roster
        except ConfigError:
            return []  # a broken roster must not lose the alert: the JSON file is still written
        return [h.email for h in roster if h.role is alert.to_role and (alert.to_handler in (None, h.id))]

    async def _email_staff(self, alert: AlertRequest, email: StaffMailer) -> None:
        recipients = await asyncio.to_thread(self._recipients, alert)
        limits = self._rate_limits if recipients else None
        if limits is not None and limits.limits_staff_notices and activity.info().is_local:
            if not await limits.try_take_staff_notices(len(recipients)):
                raise ApplicationError(
                    "rate limited: this worker's share of the staff notices' e-mail rate is used up; "
                    "queued on the staff task queue",
                    type="RateLimited",
                )
            limits = None  # every recipient's token is taken
        for address in recipients:
            if limits is not None and limits.limits_staff_notices:
                await limits.take_staff_notice()
            # At least once: a retried activity may email a notice twice (it is internal mail).
            await asyncio.to_thread(
                email.send_staff_notice,
                to=address,
                subject=alert.subject,
                text=alert.detail,
                key=alert.key,
                reference=alert.reference,
            )

    def _write_staff_outbox(self, alert: AlertRequest) -> list[str]:
        if self._staff_outbox is None:
            return []
        written = []
        for address in self._recipients(alert):
            folder = self._staff_outbox / safe_file_stem(address)
            private_dir(folder)
            mail = EmailMessage()
            mail["From"] = self._sender
            mail["To"] = address
            mail["Subject"] = header_safe(alert.subject)
            mail["Date"] = format_datetime(datetime.now(UTC))
            # Derived from the key: a retried activity writes the same message, not a second one.
            mail["Message-ID"] = make_msgid(idstring=safe_file_stem(alert.key), domain="outbox.invalid")
            mail["X-Case-Reference"] = alert.reference
            mail["X-Notice-Kind"] = alert.kind
            mail.set_content(alert.detail + "\n")
            path = folder / f"{safe_file_stem(alert.key)}.eml"
            with open(path, "wb", opener=private_opener) as handle:
                handle.write(bytes(mail))
            written.append(str(path))
        return written

    @activity.defn(name="raise_internal_alert")
    async def raise_internal_alert(self, alert: AlertRequest) -> str:
        """Write the alert to the alerts folder and tell the staff; the file's name is the result.

        The name, not the whole path: the result is kept in the case's history (and shown in the
        Web UI) for every alert, and the folder is this worker's setting, not the case's."""
        private_dir(self._dir)  # alerts quote case details: 0700 folder, 0600 files
        path = self._dir / f"{alert.key.replace('/', '_')}.json"
        record = alert.model_dump(mode="json") | {"raised_at": datetime.now(UTC).isoformat()}
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8", opener=private_opener) as handle:
            handle.write(json.dumps(record, indent=2))
        tmp.replace(path)
        try:
            if self._email is not None:
                await self._email_staff(alert, self._email)
            else:
                await asyncio.to_thread(self._write_staff_outbox, alert)
        except PermanentDeliveryError as exc:
            # A refused staff address must not retry for ever: the JSON file above is the alert.
            log.error("staff notice %s not emailed: %s", alert.key, exc.reason)
        except TransientDeliveryError as exc:
            raise ApplicationError(exc.reason, type="TransientDeliveryError") from None
        log.warning("alert for %s to %s: %s", alert.reference, alert.to_role.value, alert.subject)
        return path.name
