"""`make run`: the embedded Temporal server (SQLite under data/), its Web UI, one worker and the
inbound service (webhooks on loopback: docs/customer-loop.md).

Foreground; Ctrl-C stops everything it started. Cases survive a restart: the server's SQLite file
and the worker's outbox and ledgers live in the git-ignored data folder. With
`COMPLAINTS_DATABASE_URL=postgresql://...` the ledgers and the case archive go to that database
instead, migrated here first (what compose's setup step does for a deployment).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

from codec.keyring import CodecSettings
from ops import stores
from ops.dev_server import start_dev_server, wait_for_port
from ops.private_files import create_private_file, private_dir
from settings import REPO, PipelineSettings

PORT = int(os.environ.get("COMPLAINTS_SERVER_PORT", "7233"))
UI_PORT = int(os.environ.get("COMPLAINTS_UI_PORT", "8233"))
CODEC_PORT = int(os.environ.get("COMPLAINTS_CODEC_PORT", "8081"))
INBOUND_PORT = int(os.environ.get("COMPLAINTS_INBOUND_PORT", "8090"))


def _port_taken(port: int) -> bool:
    try:
        wait_for_port(port, timeout=0.3)
        return True
    except TimeoutError:
        return False


def main() -> int:
    settings = PipelineSettings()
    codec = CodecSettings()
    if codec.keyring() is None and codec.require_encryption:
        print("COMPLAINTS_REQUIRE_ENCRYPTION is on but no codec keys are configured; not starting", file=sys.stderr)
        return 2
    data = settings.data_dir
    private_dir(data)  # the server's SQLite and the stores hold customers' details
    # The server's log is private from the start; start_dev_server makes its SQLite file 0600.
    create_private_file(data / "temporal-server.log")
    for port in (PORT, UI_PORT, CODEC_PORT, INBOUND_PORT):
        if _port_taken(port):
            print(
                f"port {port} is already in use: is another `make run` up? "
                "Set COMPLAINTS_SERVER_PORT / COMPLAINTS_UI_PORT / COMPLAINTS_INBOUND_PORT to use others.",
                file=sys.stderr,
            )
            return 1

    if codec.keyring() is None:
        # A laptop may run without keys; say so loudly, since history then holds plain text.
        print(
            "WARNING: payloads are NOT encrypted (no COMPLAINTS_CODEC_KEYS): customer details are stored"
            " in plain text in Temporal's history. Fine for a laptop demo; production requires keys.",
            file=sys.stderr,
            flush=True,
        )
    if settings.database_url:
        try:
            location = stores.locate(settings, stores.SENT_MESSAGES)
            stores.upgrade(location)
        except Exception as exc:  # noqa: BLE001 - one line saying why, not a traceback
            print(f"the stores' database is not usable: {str(exc).splitlines()[0]}", file=sys.stderr)
            return 1
        where_stores = stores.describe(location)
    else:
        where_stores = f"SQLite files in {data}"

    codec_server = None
    extra: list[str] = []
    if codec.keyring() is not None:
        # Payloads are encrypted: the UI shows them only through the codec server.
        command = [sys.executable, "-m", "codec.server", "--host", "127.0.0.1", "--port", str(CODEC_PORT)]
        if not codec.server_token:
            command.append("--insecure-no-auth")  # loopback only, for the developer's own UI
        codec_server = subprocess.Popen(command, cwd=REPO)
        wait_for_port(CODEC_PORT, process=codec_server)
        extra = ["--ui-codec-endpoint", f"http://127.0.0.1:{CODEC_PORT}"]

    print(f"starting Temporal dev server (SQLite: {data / 'temporal.sqlite'}) ...", flush=True)
    server = start_dev_server(
        port=PORT,
        ui_port=UI_PORT,
        db_file=data / "temporal.sqlite",
        log_file=data / "temporal-server.log",
        extra_args=extra,
    )
    env = {"COMPLAINTS_LOG_FORMAT": "text"} | os.environ | {"TEMPORAL_ADDRESS": server.address}
    worker = subprocess.Popen([sys.executable, str(REPO / "worker.py")], env=env, cwd=REPO)
    # Loopback whatever the environment says: on a laptop nothing outside should reach it (a tunnel
    # to it is how a vendor console's test webhook gets in: docs/customer-loop.md).
    inbound_env = env | {"COMPLAINTS_INBOUND_HOST": "127.0.0.1", "COMPLAINTS_INBOUND_PORT": str(INBOUND_PORT)}
    inbound = subprocess.Popen([sys.executable, "-m", "inbound"], env=inbound_env, cwd=REPO)

    stopping = threading.Event()

    def stop(*_: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    py = os.path.relpath(sys.executable, os.getcwd())
    print(
        f"""
  Complaints pipeline is up.
    Temporal Web UI   http://localhost:{UI_PORT}
    Temporal server   {server.address}  (namespace {settings.temporal_namespace}, task queue {settings.task_queue})
    Outbox            {data / "outbox"}  (every message as the customer receives it)
    Stores            {where_stores}  (sent-message and billing ledgers, case archive, inbound queue)
    Inbound webhooks  http://127.0.0.1:{INBOUND_PORT}/webhooks/...  (docs/customer-loop.md)
    Payloads          {"encrypted; the UI decodes through the codec server on :" + str(CODEC_PORT) if codec_server else "not encrypted (set COMPLAINTS_CODEC_KEYS to encrypt)"}

  In another terminal, file the example complaint and follow it:
    {py} starter.py examples/broadband-outage-email.json
    {py} admin.py status <REFERENCE>
    {py} admin.py satisfied <REFERENCE> --how phone

  Ctrl-C stops the worker, the inbound service and the server.
""",
        flush=True,
    )
    while not stopping.wait(0.5):
        if worker.poll() is not None:
            print(f"worker exited with code {worker.returncode}; stopping", file=sys.stderr)
            break
        if inbound.poll() is not None:
            print(f"inbound service exited with code {inbound.returncode}; stopping", file=sys.stderr)
            break
        if server.process.poll() is not None:
            print("Temporal server exited; see data/temporal-server.log", file=sys.stderr)
            break

    print("stopping worker ...", flush=True)
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=settings.graceful_shutdown_seconds + 10)
        except subprocess.TimeoutExpired:
            worker.kill()
    if inbound.poll() is None:
        # What it accepted is already in the inbound queue: the next start forwards the rest.
        inbound.send_signal(signal.SIGTERM)
        try:
            inbound.wait(timeout=15)
        except subprocess.TimeoutExpired:
            inbound.kill()
    print("stopping Temporal server ...", flush=True)
    server.stop()
    if codec_server is not None:
        codec_server.terminate()
        codec_server.wait(timeout=10)
    return 0 if stopping.is_set() else 1


if __name__ == "__main__":
    sys.exit(main())
