"""docker-compose.yml: valid, secrets required where they must be, and started in a safe order.

Validated with the real `docker-compose config` (no Docker engine needed). The file is read back
in compose's own normalised form, so these tests see what `docker compose up` would run.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from settings import REPO, PipelineSettings

COMPOSE_FILE = REPO / "docker-compose.yml"
# Test values only; nothing here is a real secret.
REQUIRED_ENV = {
    "POSTGRES_PASSWORD": "compose-test-password",
    "COMPLAINTS_CODEC_KEYS": "k1:compose-test-key",
    "COMPLAINTS_UI_PASSWORD_HASH": "compose-test-hash",
}
# The one service allowed to publish a port beyond loopback: it asks for a password.
AUTHENTICATING_PROXY = "ui-proxy"
INSTALL_HINT = "install it with `apt-get install -y docker-compose` (make test does this)"


@pytest.fixture(scope="module")
def compose() -> list[str]:
    """The compose command line: Debian's docker-compose, or the Docker CLI's compose plugin."""
    found = shutil.which("docker-compose")
    if found:
        return [found]
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    message = f"docker-compose is not installed: {INSTALL_HINT}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def empty_env_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Passed as --env-file so a developer's own .env cannot make these tests pass or fail.
    path = tmp_path_factory.mktemp("compose") / "empty.env"
    path.write_text("")
    return path


def run_compose(
    compose: list[str], env_file: Path, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    clean = {name: os.environ[name] for name in ("PATH", "HOME", "LANG") if name in os.environ}
    return subprocess.run(
        [*compose, "-f", str(COMPOSE_FILE), "--env-file", str(env_file), *args],
        env=clean | env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _yaml_to_data(compose: list[str], text: str) -> Any:
    try:
        import yaml  # type: ignore[import-untyped]  # optional here, and its stubs are no dependency
    except ImportError:
        pass
    else:
        return yaml.safe_load(text)
    # Debian's docker-compose is a Python script whose interpreter always has PyYAML (a dependency).
    script = Path(compose[0])
    first_line = script.read_bytes()[:200].split(b"\n", 1)[0]
    if not first_line.startswith(b"#!"):
        pytest.fail("cannot parse `docker-compose config` output: install PyYAML in the venv")
    interpreter = first_line[2:].decode().split()
    converted = subprocess.run(
        [*interpreter, "-c", "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)"],
        input=text,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert converted.returncode == 0, converted.stderr
    return json.loads(converted.stdout)


@functools.cache
def _prints_json(compose: tuple[str, ...]) -> bool:
    # Compose v1 has no --format (and would print its usage, with exit status 0, if given one).
    usage = subprocess.run([*compose, "config", "--help"], capture_output=True, text=True, timeout=60)
    return "--format" in usage.stdout


def resolved_config(compose: list[str], env_file: Path, env: dict[str, str]) -> dict[str, Any]:
    """The compose file as compose itself resolves it with `env` set."""
    if _prints_json(tuple(compose)):  # Compose v2
        as_json = run_compose(compose, env_file, env, "config", "--format", "json")
        assert as_json.returncode == 0, as_json.stderr
        return json.loads(as_json.stdout)
    as_yaml = run_compose(compose, env_file, env, "config")
    assert as_yaml.returncode == 0, as_yaml.stderr
    return _yaml_to_data(compose, as_yaml.stdout)


@pytest.fixture(scope="module")
def config(compose: list[str], empty_env_file: Path) -> dict[str, Any]:
    """Resolved with only the required variables set, as on a fresh deployment."""
    return resolved_config(compose, empty_env_file, REQUIRED_ENV)


def seconds(duration: str | int | float) -> float:
    """A compose duration ("45s", "1m30s", "1.5s", or plain seconds) in seconds."""
    if isinstance(duration, (int, float)):
        return float(duration)
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 0.000001}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, f"unparsed duration {duration!r}"
    return sum(float(number) * units[unit] for number, unit in parts)


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # compose may normalise to KEY=VALUE strings
        env = dict(item.split("=", 1) for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def command(service: dict[str, Any]) -> list[str]:
    value = service.get("command") or []
    return value.split() if isinstance(value, str) else list(value)


def test_compose_file_is_valid_when_the_required_secrets_are_set(compose: list[str], empty_env_file: Path) -> None:
    result = run_compose(compose, empty_env_file, REQUIRED_ENV, "config", "-q")
    assert result.returncode == 0, result.stderr


def test_compose_refuses_to_start_without_the_postgres_password(compose: list[str], empty_env_file: Path) -> None:
    result = run_compose(compose, empty_env_file, {}, "config", "-q")
    assert result.returncode != 0
    assert "set POSTGRES_PASSWORD" in result.stdout + result.stderr


def test_temporal_starts_only_once_postgresql_is_healthy(config: dict[str, Any]) -> None:
    services = config["services"]
    assert services["temporal"]["depends_on"]["postgresql"]["condition"] == "service_healthy"
    assert "pg_isready" in " ".join(services["postgresql"]["healthcheck"]["test"])
    assert environment(services["temporal"])["DB"] == "postgres12"


def test_setup_waits_for_a_healthy_temporal_and_runs_once(config: dict[str, Any]) -> None:
    services = config["services"]
    assert services["temporal"]["healthcheck"]["test"], "temporal needs a healthcheck for service_healthy"
    assert services["setup"]["depends_on"]["temporal"]["condition"] == "service_healthy"
    assert services["setup"].get("restart") == "no"


def test_setup_migrates_the_stores_then_registers_the_pipelines_search_attributes(config: dict[str, Any]) -> None:
    setup = config["services"]["setup"]
    assert command(setup)[:2] == ["sh", "-c"]
    assert re.fullmatch(
        r"python -m ops\.stores upgrade --wait \d+ && exec python -m ops\.register_search_attributes --wait \d+",
        command(setup)[2],
    ), command(setup)
    assert Path(setup["build"]["context"]).resolve() == REPO
    assert environment(setup)["TEMPORAL_ADDRESS"] == "temporal:7233"
    # SQL visibility allows 3 Bool attributes and the pipeline needs all 3; auto-setup's demo
    # attributes would take one of them.
    assert environment(config["services"]["temporal"])["SKIP_ADD_CUSTOM_SEARCH_ATTRIBUTES"] == "true"


def test_workers_start_only_after_the_search_attributes_are_registered(config: dict[str, Any]) -> None:
    worker = config["services"]["worker"]
    assert worker["depends_on"]["setup"]["condition"] == "service_completed_successfully"
    assert environment(worker)["TEMPORAL_ADDRESS"] == "temporal:7233"


def test_docker_waits_longer_than_the_worker_drains_before_killing_it(config: dict[str, Any]) -> None:
    worker = config["services"]["worker"]
    drain = float(
        environment(worker).get(
            "COMPLAINTS_GRACEFUL_SHUTDOWN_SECONDS", PipelineSettings.model_fields["graceful_shutdown_seconds"].default
        )
    )
    assert seconds(worker["stop_grace_period"]) > drain + 5


def test_workers_can_be_scaled_without_port_clashes(config: dict[str, Any]) -> None:
    worker = config["services"]["worker"]
    assert int(worker["deploy"]["replicas"]) >= 1
    assert not worker.get("ports"), "a published port would stop a second replica from starting"
    assert not worker.get("container_name")
    assert environment(worker)["COMPLAINTS_METRICS_PORT"] == "9464"


def test_vendor_secrets_are_optional_and_passed_through(compose: list[str], empty_env_file: Path) -> None:
    env = REQUIRED_ENV | {"COMPLAINTS_SENDGRID_API_KEY": "SG.compose-test", "COMPLAINTS_CODEC_KEYS": "k1:abc"}
    worker = environment(resolved_config(compose, empty_env_file, env)["services"]["worker"])
    assert worker["COMPLAINTS_SENDGRID_API_KEY"] == "SG.compose-test"
    assert worker["COMPLAINTS_CODEC_KEYS"] == "k1:abc"


def test_unset_vendor_secrets_reach_the_worker_empty(config: dict[str, Any]) -> None:
    # Empty means "not configured" to ChannelSettings (env_ignore_empty).
    worker = environment(config["services"]["worker"])
    for name in ("COMPLAINTS_SENDGRID_API_KEY", "COMPLAINTS_TWILIO_AUTH_TOKEN"):
        assert worker[name] == ""


@pytest.mark.parametrize("missing", ["POSTGRES_PASSWORD", "COMPLAINTS_CODEC_KEYS", "COMPLAINTS_UI_PASSWORD_HASH"])
def test_compose_refuses_to_start_without_each_required_secret(
    compose: list[str], empty_env_file: Path, missing: str
) -> None:
    env = {name: value for name, value in REQUIRED_ENV.items() if name != missing}
    result = run_compose(compose, empty_env_file, env, "config", "-q")
    assert result.returncode != 0
    assert f"set {missing}" in result.stdout + result.stderr


def test_production_requires_encryption_in_every_process_that_holds_keys(config: dict[str, Any]) -> None:
    for name in ("worker", "codec-server", "inbound"):
        service = config["services"][name]
        assert environment(service)["COMPLAINTS_REQUIRE_ENCRYPTION"] == "true", name
        assert environment(service)["COMPLAINTS_CODEC_KEYS"] == REQUIRED_ENV["COMPLAINTS_CODEC_KEYS"], name


def _published(service: dict[str, Any]) -> list[tuple[str, str]]:
    """(host address, host port) of each published port; compose v1 and v2 spell them differently."""
    found = []
    for port in service.get("ports") or []:
        if isinstance(port, dict):  # long syntax (compose v2's normalised form)
            found.append((port.get("host_ip") or "", str(port.get("published", ""))))
            continue
        parts = str(port).rsplit(":", 2)  # "ip:host:container", "host:container" or "container"
        if len(parts) == 3:
            found.append((parts[0], parts[1]))
        elif len(parts) == 2:
            found.append(("", parts[0]))
        else:
            found.append(("", parts[0]))
    return found


def test_nothing_but_the_authenticating_proxy_is_published_beyond_loopback(config: dict[str, Any]) -> None:
    # Profiles are included by `config`, so the codec server is checked too.
    exposed = {
        name: address
        for name, service in config["services"].items()
        if name != AUTHENTICATING_PROXY
        for address, _ in _published(service)
        if address not in ("127.0.0.1", "::1", "[::1]")
    }
    assert not exposed, f"published beyond loopback (empty means every interface): {exposed}"
    for name in ("temporal", "temporal-ui", "codec-server", "inbound"):
        assert _published(config["services"][name]), f"{name} should be reachable on this host"


def test_the_web_ui_is_read_only(config: dict[str, Any]) -> None:
    # It has no login: terminate, reset and signal go through admin.py and the CLI instead.
    assert environment(config["services"]["temporal-ui"])["TEMPORAL_DISABLE_WRITE_ACTIONS"] == "true"


def test_the_authenticating_proxy_fronts_the_ui_with_a_password(config: dict[str, Any]) -> None:
    proxy = config["services"][AUTHENTICATING_PROXY]
    assert proxy["image"].startswith("caddy:")
    assert environment(proxy)["COMPLAINTS_UI_PASSWORD_HASH"] == REQUIRED_ENV["COMPLAINTS_UI_PASSWORD_HASH"]
    volumes = [str(v.get("source", v)) if isinstance(v, dict) else str(v) for v in proxy.get("volumes", [])]
    assert any("deploy/caddy/Caddyfile" in v for v in volumes), volumes


def test_the_proxy_asks_for_the_password_before_it_forwards_anything_but_signed_webhooks(tmp_path: Path) -> None:
    # Caddy's own parser turns the Caddyfile into the JSON it runs: read what it would do.
    caddy = shutil.which("caddy")
    if caddy is None:
        message = "caddy is not installed: `apt-get install -y caddy` (make test does this)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    password_hash = "$2a$14$Zkx19XLiW6VYouLHR5NmfOFU0z2GTNmpkT/5qqR7hx4IjWJPDhjvG"
    clean = {name: os.environ[name] for name in ("PATH", "HOME") if name in os.environ}
    adapted = subprocess.run(
        [caddy, "adapt", "--config", str(REPO / "deploy" / "caddy" / "Caddyfile"), "--adapter", "caddyfile"],
        env=clean
        | {
            "COMPLAINTS_UI_HOSTNAME": "complaints.example",
            "COMPLAINTS_UI_USER": "ops",
            "COMPLAINTS_UI_PASSWORD_HASH": password_hash,
        },
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert adapted.returncode == 0, adapted.stderr
    config = json.loads(adapted.stdout)
    assert config["admin"]["disabled"] is True
    [server] = config["apps"]["http"]["servers"].values()
    assert server["listen"] == [":8443"]
    [route] = server["routes"]
    assert route["match"] == [{"host": ["complaints.example"]}]
    [subroute] = route["handle"]
    # Two mutually exclusive handlers, tried in order: the signed webhooks, then everything else.
    webhooks, rest = subroute["routes"]
    assert webhooks["match"] == [{"path": ["/webhooks/*"]}] and "match" not in rest
    assert webhooks["group"] == rest["group"]  # one group: exactly one of them handles a request

    def handlers(handle: dict[str, Any]) -> list[dict[str, Any]]:
        [inner] = handle["handle"]
        return [h for r in inner["routes"] for h in r["handle"]]

    # The UI (and any other path): auth first, always.
    ui = handlers(rest)
    assert [h["handler"] for h in ui] == ["authentication", "reverse_proxy"]
    [account] = ui[0]["providers"]["http_basic"]["accounts"]
    assert account == {"username": "ops", "password": password_hash}
    assert ui[1]["upstreams"] == [{"dial": "temporal-ui:8080"}]
    # The vendors' webhooks: to the inbound service only, which checks each request's signature.
    [to_inbound] = handlers(webhooks)
    assert to_inbound["handler"] == "reverse_proxy" and to_inbound["upstreams"] == [{"dial": "inbound:8090"}]


def test_every_image_is_pinned_to_a_version(config: dict[str, Any]) -> None:
    for name, service in config["services"].items():
        if "build" in service:
            continue
        image = service["image"]
        assert ":" in image and not image.endswith(":latest"), f"{name} uses unpinned image {image}"


STORES_URL = "postgresql://complaints@postgresql:5432/complaints"


def test_workers_setup_and_admin_share_the_stores_database_with_its_password_from_a_secret(
    config: dict[str, Any],
) -> None:
    services = config["services"]
    for name in ("worker", "setup", "admin"):
        env = environment(services[name])
        # The compose PostgreSQL's own database and role for the stores, no password in the URL.
        assert env["COMPLAINTS_DATABASE_URL"] == STORES_URL, name
        assert env["COMPLAINTS_DATABASE_PASSWORD_FILE"] == "/run/secrets/complaints_db_password", name
        assert [s["source"] if isinstance(s, dict) else s for s in services[name]["secrets"]] == [
            "complaints_db_password"
        ], name
        assert not any("PASSWORD" in key and key != "COMPLAINTS_DATABASE_PASSWORD_FILE" for key in env), name
    assert "file" in config["secrets"]["complaints_db_password"]


def test_the_stores_database_is_made_before_the_setup_step_migrates_it(config: dict[str, Any]) -> None:
    services = config["services"]
    step = services["stores-database"]
    assert step["depends_on"]["postgresql"]["condition"] == "service_healthy"
    assert services["setup"]["depends_on"]["stores-database"]["condition"] == "service_completed_successfully"
    assert step.get("restart") == "no"
    assert any(
        v.endswith(":/create-stores-database.sh:ro")
        or (isinstance(v, dict) and v.get("target") == "/create-stores-database.sh")
        for v in step["volumes"]
    )
    assert command(step) == ["bash", "/create-stores-database.sh"]
    assert environment(step)["PGHOST"] == "postgresql"


def test_the_inbound_service_refuses_a_twilio_token_without_the_public_url(
    compose: list[str], empty_env_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Behind Caddy, Twilio's signatures are over the public URL; without it every text gets 403.
    from pydantic import ValidationError

    from inbound.settings import InboundSettings

    token = {"COMPLAINTS_TWILIO_AUTH_TOKEN": "12345678901234567890123456789012"}
    for name in list(os.environ):
        if name.startswith("COMPLAINTS_"):
            monkeypatch.delenv(name)
    inbound = resolved_config(compose, empty_env_file, REQUIRED_ENV | token)["services"]["inbound"]
    for name, value in environment(inbound).items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError, match="COMPLAINTS_PUBLIC_BASE_URL"):
        InboundSettings()

    public = {"COMPLAINTS_PUBLIC_BASE_URL": "https://complaints.example.com"}
    inbound = resolved_config(compose, empty_env_file, REQUIRED_ENV | token | public)["services"]["inbound"]
    for name, value in environment(inbound).items():
        monkeypatch.setenv(name, value)
    assert InboundSettings().public_base_url == "https://complaints.example.com"


def test_the_admin_runs_on_demand_only(config: dict[str, Any]) -> None:
    admin = config["services"]["admin"]
    assert admin["profiles"] == ["tools"]
    assert list(admin["entrypoint"]) == ["python", "admin.py"]


def test_the_inbound_service_runs_beside_the_workers_on_the_shared_stores(config: dict[str, Any]) -> None:
    inbound = config["services"]["inbound"]
    assert inbound["command"] == ["python", "-m", "inbound"]
    assert inbound["depends_on"]["setup"]["condition"] == "service_completed_successfully"
    env = environment(inbound)
    assert env["COMPLAINTS_DATABASE_URL"] == environment(config["services"]["worker"])["COMPLAINTS_DATABASE_URL"]
    # On the compose network (ui-proxy forwards /webhooks/* to it); published on loopback only.
    assert env["COMPLAINTS_INBOUND_HOST"] == "0.0.0.0" and env["COMPLAINTS_INBOUND_PORT"] == "8090"
    # It starts the notice of a reply no open case took on the queue the workers poll.
    assert env["COMPLAINTS_TASK_QUEUE"] == environment(config["services"]["worker"])["COMPLAINTS_TASK_QUEUE"]
    assert _published(inbound) == [("127.0.0.1", "8090")]
    # Unset vendor secrets reach it empty: that route then answers 503, never "accept unverified".
    for name in (
        "COMPLAINTS_SENDGRID_WEBHOOK_PUBLIC_KEY",
        "COMPLAINTS_TWILIO_AUTH_TOKEN",
        "COMPLAINTS_CONTACT_KEY_SECRET",
    ):
        assert env[name] == ""
