from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from codec.encryption import EncryptionCodec
from codec.keyring import CodecSettings, Keyring, generate_key, main

# A key whose standard base64 is full of '+' and '/', so the urlsafe spelling really differs.
_AWKWARD_KEY = b"\xfb\xff\xbf" * 10 + b"\xfb\xff"


def test_last_listed_key_encrypts_new_payloads(k1: str, k2: str) -> None:
    ring = CodecSettings(keys=f"k1:{k1}, k2:{k2}").keyring()

    assert ring is not None
    assert list(ring) == ["k1", "k2"]
    assert ring.default_key_id == "k2"
    assert ring["k1"] == base64.urlsafe_b64decode(k1)


def test_default_key_picks_the_encrypting_key(k1: str, k2: str) -> None:
    ring = CodecSettings(keys=f"k1:{k1},k2:{k2}", default_key="k1").keyring()

    assert ring is not None and ring.default_key_id == "k1"


def test_no_keys_means_no_encryption() -> None:
    assert CodecSettings().keyring() is None


def test_keys_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, k1: str) -> None:
    monkeypatch.setenv("COMPLAINTS_CODEC_KEYS", f"ops-2025-01:{k1}")
    monkeypatch.setenv("COMPLAINTS_CODEC_SERVER_TOKEN", "a-token")
    monkeypatch.setenv("COMPLAINTS_CODEC_CORS_ORIGINS", "http://localhost:8233,https://ui.example")

    settings = CodecSettings()

    ring = settings.keyring()
    assert ring is not None and list(ring) == ["ops-2025-01"]
    assert settings.server_token == "a-token"
    assert settings.origins == ["http://localhost:8233", "https://ui.example"]


def test_empty_environment_variable_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    # Compose files write `${COMPLAINTS_CODEC_KEYS:-}`, which arrives as an empty string.
    monkeypatch.setenv("COMPLAINTS_CODEC_KEYS", "")

    assert CodecSettings().keyring() is None


def test_keys_file_with_comments_adds_to_env_keys(tmp_path: Path, k1: str, k2: str) -> None:
    keys_file = tmp_path / "codec.keys"
    keys_file.write_text(
        f"# rotated 2025-06: k1 kept until every case opened before then has closed\n\nk2:{k2}   # current\n"
    )
    keys_file.chmod(0o600)

    ring = CodecSettings(keys=f"k1:{k1}", keys_file=keys_file).keyring()

    assert ring is not None
    assert list(ring) == ["k1", "k2"]
    assert ring.default_key_id == "k2"


def test_urlsafe_and_standard_base64_are_the_same_key() -> None:
    standard = base64.standard_b64encode(_AWKWARD_KEY).decode()
    urlsafe = base64.urlsafe_b64encode(_AWKWARD_KEY).decode().rstrip("=")
    assert standard != urlsafe

    ring = CodecSettings(keys=f"std:{standard},url:{urlsafe}").keyring()

    assert ring is not None
    assert ring["std"] == ring["url"] == _AWKWARD_KEY


def _short_key() -> str:
    return base64.b64encode(b"0123456789abcdef").decode()


@pytest.mark.parametrize(
    ("settings", "field", "message"),
    [
        ({"keys": f"k1:{_short_key()}"}, "keys", "16 bytes; AES-256 needs 32"),
        ({"keys": "k1:this*is*not*base64"}, "keys", "not valid base64"),
        ({"keys": "k1:"}, "keys", "is empty"),
        ({"keys": "no-separator"}, "keys", "id:base64key"),
        ({"keys": "bad id:{k1}"}, "keys", "must be 1-64 of letters"),
        ({"keys": "k1:{k1},k1:{k2}"}, "keys", "'k1' appears more than once"),
        ({"keys": "k1:{k1}", "default_key": "k9"}, "default_key", "'k9' is not in the keyring"),
        ({"default_key": "k1"}, "default_key", "no keys are configured"),
        ({"keys_file": "/nonexistent/codec.keys"}, "keys_file", "cannot read keys file"),
        ({"cors_origins": "*"}, "cors_origins", "explicitly"),
        ({"cors_origins": "http://localhost:8233/"}, "cors_origins", "trailing slash"),
    ],
)
def test_bad_settings_are_reported_against_the_field(
    settings: dict[str, str], field: str, message: str, k1: str, k2: str
) -> None:
    # As the environment gives them: text for pydantic to validate, whatever each field's type.
    values: dict[str, Any] = {name: value.format(k1=k1, k2=k2) for name, value in settings.items()}

    with pytest.raises(ValidationError) as caught:
        CodecSettings(**values)

    errors = caught.value.errors()
    assert [error["loc"] for error in errors] == [(field,)]
    assert message in errors[0]["msg"]
    # Pydantic would echo (a truncated repr of) the input, i.e. the keys; check for any fragment.
    shown = str(caught.value)
    assert "input_value" not in shown
    assert all(key[i : i + 8] not in shown for key in (k1, k2) for i in range(0, 40, 8))


def test_key_id_in_both_env_and_file_is_a_keys_file_error(tmp_path: Path, k1: str, k2: str) -> None:
    keys_file = tmp_path / "codec.keys"
    keys_file.write_text(f"k1:{k2}\n")
    keys_file.chmod(0o600)

    with pytest.raises(ValidationError) as caught:
        CodecSettings(keys=f"k1:{k1}", keys_file=keys_file)

    assert [error["loc"] for error in caught.value.errors()] == [("keys_file",)]
    assert "in both keys and keys file" in str(caught.value)


def test_empty_keys_file_is_refused(tmp_path: Path) -> None:
    keys_file = tmp_path / "codec.keys"
    keys_file.write_text("# nothing yet\n")
    keys_file.chmod(0o600)

    with pytest.raises(ValidationError, match="holds no keys"):
        CodecSettings(keys_file=keys_file)


def test_key_material_never_appears_in_reprs(k1: str, k2: str) -> None:
    settings = CodecSettings(keys=f"k1:{k1},k2:{k2}", server_token="s3cret-token")
    ring = settings.keyring()
    assert ring is not None

    shown = " ".join([repr(settings), str(settings), repr(ring), str(ring), repr(EncryptionCodec(ring))])

    for secret in (k1, k2, "s3cret-token", repr(ring["k1"]), repr(ring["k2"])):
        assert secret not in shown
    assert "k1" in shown and "k2" in shown


def test_keyring_refuses_a_wrong_length_key() -> None:
    with pytest.raises(ValueError, match="AES-256 needs 32"):
        Keyring({"k1": b"short"})


def test_generated_keys_are_32_random_bytes() -> None:
    first, second = generate_key(), generate_key()

    assert len(base64.urlsafe_b64decode(first)) == 32
    assert first != second


def test_new_key_cli_prints_a_usable_entry() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "codec.keyring", "new-key", "ops-2025-06"],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )

    entry = completed.stdout.strip()
    assert entry.startswith("ops-2025-06:")
    ring = CodecSettings(keys=entry).keyring()
    assert ring is not None and ring.default_key_id == "ops-2025-06"


def test_new_key_cli_refuses_an_unusable_id(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["new-key", "has:colon"])

    assert exited.value.code == 2
    assert "must be 1-64" in capsys.readouterr().err


def test_check_cli_lists_ids_not_keys(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], k1: str, k2: str
) -> None:
    monkeypatch.setenv("COMPLAINTS_CODEC_KEYS", f"k1:{k1},k2:{k2}")

    assert main(["check"]) == 0

    out = capsys.readouterr().out
    assert "k1, k2" in out and "'k2'" in out
    assert k1 not in out and k2 not in out


def test_check_cli_reports_bad_settings(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COMPLAINTS_CODEC_KEYS", f"k1:{_short_key()}")

    assert main(["check"]) == 2
    assert "keys\n" in capsys.readouterr().err
