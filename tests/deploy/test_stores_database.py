"""The compose deployment's stores database: `deploy/postgres/create-stores-database.sh` (compose's
`stores-database` step) makes the `complaints` role and database with the secret's password, and
the setup step's `python -m ops.stores upgrade` migrates it as that role, password read from the
secret file. Run against the test run's real PostgreSQL cluster, as its superuser."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from channels.sent_log import SentLog
from ops import stores
from settings import REPO, PipelineSettings

SCRIPT = REPO / "deploy" / "postgres" / "create-stores-database.sh"


def run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "COMPLAINTS_"))}
    return subprocess.run(argv, env=base | env, cwd=REPO, capture_output=True, text=True, timeout=120)


def test_the_stores_database_is_made_with_the_secrets_password_and_migrated_by_the_setup_step(postgres, tmp_path):
    secret = tmp_path / "complaints-db-password"
    secret.write_text("first-password\n")
    as_superuser = {
        "PATH": f"{postgres.binaries}:{os.environ['PATH']}",
        "PGHOST": "127.0.0.1",
        "PGPORT": str(postgres.port),
        "PGUSER": "postgres",
        "PGDATABASE": "postgres",
        "STORES_DB_PASSWORD_FILE": str(secret),
    }
    for _ in range(2):  # every `up` runs it: the second finds everything made
        made = run(["bash", str(SCRIPT)], as_superuser)
        assert made.returncode == 0, made.stderr
    assert "first-password" not in made.stdout + made.stderr

    url = f"postgresql://complaints@127.0.0.1:{postgres.port}/complaints"
    setup = {"COMPLAINTS_DATABASE_URL": url, "COMPLAINTS_DATABASE_PASSWORD_FILE": str(secret)}
    migrated = run([sys.executable, "-m", "ops.stores", "upgrade", "--wait", "10"], setup)
    assert migrated.returncode == 0, migrated.stderr
    assert "first-password" not in migrated.stdout

    # A worker configured as compose configures it reaches the store as `complaints`.
    settings = PipelineSettings(data_dir=tmp_path, database_url=url, database_password_file=secret)
    log = SentLog(stores.locate(settings, stores.SENT_MESSAGES))
    assert log.get("k1") is None

    # Without the password, or with a wrong one, the role is refused: the secret is what lets it in.
    refused = run([sys.executable, "-m", "ops.stores", "check"], {"COMPLAINTS_DATABASE_URL": url})
    assert refused.returncode != 0 and "password" in refused.stderr

    # Rotating the secret and running the step again changes the role's password.
    secret.write_text("second-password\n")
    assert run(["bash", str(SCRIPT)], as_superuser).returncode == 0
    assert run([sys.executable, "-m", "ops.stores", "check"], setup).returncode == 0
    stores.dispose_all()


def test_the_step_refuses_to_run_without_the_secret(postgres, tmp_path):
    result = run(
        ["bash", str(SCRIPT)],
        {"PATH": f"{postgres.binaries}:{os.environ['PATH']}", "STORES_DB_PASSWORD_FILE": str(tmp_path / "absent")},
    )
    assert result.returncode != 0 and "secret is empty or missing" in result.stderr


@pytest.fixture(autouse=True)
def _no_cached_engines():
    yield
    stores.dispose_all()
