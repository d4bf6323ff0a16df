"""Staff notices e-mailed through SendGrid are paced below the customers (issue #15, section 2):
their own share of the e-mail rate, a first attempt that finds none calls no vendor, and the
rush's peer counts their refusals apart from the customers'."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.alerts import AlertActivities
from channels.rate_limits import HEADROOM, STAFF_SHARE, VendorRateLimits
from channels.sendgrid_email import SendGridEmailChannel
from channels.settings import ChannelSettings
from domain.models import AlertRequest, CaseRole, ChannelKind
from tests.peers.rate_limited import RateLimitedVendors, VendorLimit, listening

from .conftest import REFERENCE


@pytest.fixture
async def vendors() -> AsyncIterator[tuple[RateLimitedVendors, str]]:
    # A rate so low that the bucket cannot refill during the test: what passes is the burst.
    peer = RateLimitedVendors(sms_per_second=0.01, email_per_second=0.01)
    peer.limits = {vendor: VendorLimit(0.01, burst=1) for vendor in peer.limits}
    async with listening(peer) as url:
        yield peer, url


def sendgrid(url: str) -> SendGridEmailChannel:
    return SendGridEmailChannel("SG.test", email_from="complaints@iss.example.com", host=url, timeout=5)


def reminder(number: int) -> AlertRequest:
    return AlertRequest(
        key=f"{REFERENCE}/alert-{number:03d}",
        reference=REFERENCE,
        to_role=CaseRole.CASE_HANDLER,
        to_handler="amara.okafor",
        to_email="amara.okafor@iss.example.com",
        subject=f"{REFERENCE}: the customer's update is due",
        detail="Next for you: send the customer's update by Tue 9 Dec 09:00.",
        kind="reminder",
    )


def local_attempt() -> ActivityEnvironment:
    env = ActivityEnvironment()
    env.info = dataclasses.replace(env.info, is_local=True)
    return env


async def test_an_owners_reminder_over_the_staff_rate_calls_no_vendor_on_its_first_attempt(vendors, tmp_path):
    peer, url = vendors
    # A share so small it cannot refill during the test: one notice's token, then none.
    limits = VendorRateLimits({ChannelKind.EMAIL: 100}, staff_notices_per_second=0.001)
    alerts = AlertActivities(tmp_path / "alerts", email=sendgrid(url), rate_limits=limits)

    await local_attempt().run(alerts.raise_internal_alert, reminder(1))
    with pytest.raises(ApplicationError) as refused:
        await local_attempt().run(alerts.raise_internal_alert, reminder(2))

    assert refused.value.type == "RateLimited" and not refused.value.non_retryable
    assert peer.stats()["email"]["staff_notices"] == 1  # the second never reached SendGrid
    assert peer.stats()["email"]["staff_notices_too_many_requests"] == 0
    # The alert is on file all the same (by key: the retry on the staff queue overwrites it).
    assert (tmp_path / "alerts" / f"{REFERENCE}_alert-002.json").exists()
    # The customers' e-mail bucket is untouched by staff notices.
    assert await limits.try_take(ChannelKind.EMAIL)


async def test_a_regular_attempt_waits_for_its_staff_token_and_sends(vendors, tmp_path):
    peer, url = vendors
    limits = VendorRateLimits({}, staff_notices_per_second=1000)
    alerts = AlertActivities(tmp_path / "alerts", email=sendgrid(url), rate_limits=limits)

    await ActivityEnvironment().run(alerts.raise_internal_alert, reminder(1))

    assert peer.stats()["email"]["staff_notices"] == 1


async def test_staff_notices_to_the_outbox_are_not_limited(tmp_path):
    limits = VendorRateLimits({}, staff_notices_per_second=0.001)
    alerts = AlertActivities(tmp_path / "alerts", staff_outbox=tmp_path / "staff", rate_limits=limits)

    for number in (1, 2, 3):
        await local_attempt().run(alerts.raise_internal_alert, reminder(number))

    assert len(list((tmp_path / "staff").rglob("*.eml"))) == 3


async def test_an_alerts_result_names_its_file_without_the_workers_folders(tmp_path):
    alerts = AlertActivities(tmp_path / "alerts", staff_outbox=tmp_path / "staff")

    result = await local_attempt().run(alerts.raise_internal_alert, reminder(1))

    # Kept in the case's history for every alert: the name finds it in the alerts folder.
    assert "/" not in result and str(tmp_path) not in result
    assert (tmp_path / "alerts" / result).is_file()


async def test_the_rush_peer_counts_refused_staff_notices_apart_from_customers(vendors, tmp_path):
    peer, url = vendors
    alerts = AlertActivities(tmp_path / "alerts", email=sendgrid(url))  # unpaced: the peer refuses

    await ActivityEnvironment().run(alerts.raise_internal_alert, reminder(1))
    with pytest.raises(ApplicationError, match="429"):
        await ActivityEnvironment().run(alerts.raise_internal_alert, reminder(2))

    counts = peer.stats()["email"]
    assert (counts["staff_notices"], counts["staff_notices_too_many_requests"]) == (1, 1)
    assert (counts["accepted"], counts["too_many_requests"]) == (0, 0)


def test_staff_notices_share_the_email_rate_below_the_customers(tmp_path):
    settings = ChannelSettings(
        data_dir=tmp_path, sendgrid_api_key="SG.test", email_from="complaints@iss.example.com", email_per_second=50
    )
    customers = settings.vendor_rates()[ChannelKind.EMAIL]
    staff = settings.staff_notice_rate()

    assert staff == pytest.approx((customers + staff) * STAFF_SHARE) and staff < customers
    # Together they keep the account's pace: under the vendor's rate by the headroom, no more.
    assert customers + staff == pytest.approx(50 * HEADROOM)
    assert settings.staff_notice_share() + settings.rate_share()[ChannelKind.EMAIL] == pytest.approx(50 * HEADROOM)
