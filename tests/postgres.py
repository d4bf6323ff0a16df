"""A throwaway PostgreSQL cluster for the test run: Debian's server binaries, a fresh data folder in
/tmp, a free loopback port, started at the first test that needs it and stopped at the end.

No mock: the stores' promises are database constraints and concurrency, which only a real server
shows. `make test` installs Debian's `postgresql` package when it is missing (Makefile
`system-tools`). As root, the server runs as the `postgres` user (it refuses to run as root).
Without the binaries the PostgreSQL tests skip here and fail under CI, like the vendor peers.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest


def server_binaries() -> Path | None:
    """The newest installed server's bin folder (`/usr/lib/postgresql/<major>/bin` on Debian)."""
    found = sorted(
        (Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin") if (Path(p) / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if found:
        return found[-1]
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def require_postgres() -> Path:
    """The server binaries, or skip (a failure under CI, where `make test` installs them)."""
    binaries = server_binaries()
    if binaries is not None:
        return binaries
    message = "PostgreSQL server binaries not found (apt-get install postgresql; `make test` does)"
    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI is set, so this is a failure, not a skip)", pytrace=False)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class PostgresCluster:
    binaries: Path
    folder: Path
    port: int = field(default_factory=_free_port)
    user: str = "postgres"

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def log(self) -> Path:
        return self.folder / "server.log"

    def _run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.binaries / argv[0]), *argv[1:]]
        if os.geteuid() == 0:
            # initdb and postgres refuse to run as root.
            command = ["runuser", "-u", self.user, "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:2])} failed ({result.returncode}): {result.stderr or result.stdout}")
        return result

    def start(self) -> None:
        if os.geteuid() == 0:
            entry = pwd.getpwnam(self.user)
            os.chown(self.folder, entry.pw_uid, entry.pw_gid)
        else:
            self.user = pwd.getpwuid(os.geteuid()).pw_name
        # trust on loopback only: a throwaway cluster nobody else can reach; fsync off because its
        # durability is not what is tested (the stores' constraints and concurrency are).
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync")
        # Other roles (the deployment's `complaints` role, tests/deploy) must give their password,
        # as in production, so a password that does not arrive fails the test.
        hba = self.data / "pg_hba.conf"
        hba.write_text(
            "local all all trust\nhost all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n"
        )
        if os.geteuid() == 0:
            os.chown(hba, entry.pw_uid, entry.pw_gid)
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-w",
            "-t",
            "60",
            "start",
            "-o",
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
        )

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            try:
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
            except (RuntimeError, subprocess.TimeoutExpired):
                pass
        shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self, prefix: str = "stores") -> str:
        """A fresh, empty database; its URL."""
        import psycopg

        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def start_cluster() -> PostgresCluster:
    # Under /tmp, not pytest's per-user temp folder: that one is 0700 root's, and the server runs
    # as `postgres`.
    cluster = PostgresCluster(require_postgres(), Path(tempfile.mkdtemp(prefix="complaints-pg-")))
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    return cluster
