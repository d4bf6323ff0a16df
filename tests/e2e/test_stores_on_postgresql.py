"""The real worker and admin script with the stores on PostgreSQL (`COMPLAINTS_DATABASE_URL`), as a
deployment on several hosts runs them: the worker's sends, the credit and the archived record are
in the database, none in a data folder, and the admin, from a data folder of its own, reads the
evidence and purges from the same database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from activities.archive import CaseArchive
from activities.billing import BillingActivities
from channels.sent_log import SentLog
from ops import stores
from tests.e2e.conftest import running_stack
from tests.e2e.test_case_end_to_end import fresh_example
from tests.e2e.test_operations import ALL_HOURS

pytestmark = pytest.mark.e2e


def test_a_case_on_postgresql_stores_is_sent_credited_archived_and_read_back_by_the_admin(
    dev_server, postgres, tmp_path
) -> None:
    url = postgres.new_database("e2e")
    stores.upgrade(url)  # compose's setup step
    (tmp_path / "worker-host").mkdir()
    with running_stack(dev_server, tmp_path / "worker-host", COMPLAINTS_DATABASE_URL=url) as stack:
        reference = stack.file(fresh_example(), **ALL_HOURS)
        stack.wait_for(reference, lambda d: d["stage"] == "investigating")
        paid = stack.run("admin.py", "compensate", reference, "--amount", "12.50", "--reason", "Missed visit")
        assert paid.returncode == 0, paid.stderr
        assert stack.run("admin.py", "satisfied", reference, "--how", "phone").returncode == 0
        closed = stack.wait_for(reference, lambda d: d["stage"] == "closed")
        assert closed["stage"] == "closed"

        sent = {m["key"] for m in closed["messages"] if m["status"] == "sent"}
        assert sent and sent <= set(SentLog(url).keys())
        assert [amount for _, amount in BillingActivities(url).credits_for(reference)] == [1250]
        assert list(stack.data_dir.rglob("*.sqlite3*")) == []  # nothing kept on the worker's host

        # The admin on another host: its own (empty) data folder, the same database.
        admin_host = {"COMPLAINTS_DATA_DIR": str(tmp_path / "admin-host"), "COMPLAINTS_DATABASE_URL": url}
        evidence = stack.run("admin.py", "evidence", reference, env=admin_host)
        assert evidence.returncode == 0, evidence.stderr
        document = json.loads(evidence.stdout)
        assert document["reference"] == reference and document["stage"] == "closed"
        assert any(c["amount_gbp"] in ("12.50", 12.5) for c in document["compensation"])

        # Past retention the purge, run from the admin's host, forgets the customer for every host.
        archive = CaseArchive(url)
        record, _ = archive.load(reference)
        expired = record.model_copy(update={"recorded_at": datetime.now(UTC) - timedelta(days=800)})
        archive._archive(expired)
        purged = stack.run("admin.py", "purge-expired", env=admin_host)
        assert purged.returncode == 0 and reference in purged.stdout, purged.stderr
        refused = stack.run("admin.py", "evidence", reference, env=admin_host)
        assert refused.returncode == 1 and "deleted at expiry" in refused.stderr
        assert "postgresql" in refused.stderr and "@127.0.0.1" in refused.stderr
    stores.dispose_all()
