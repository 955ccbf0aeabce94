"""`pmpc config view | get-contexts | set-context | use-context`."""

from __future__ import annotations

import io
import json
import stat
import sys
from pathlib import Path

import pytest
import yaml
from tests.unit.api.helpers import fingerprint_of

SECRET = "tok-5ecret-d41d8cd9"
PASSWORD = "pw-correct-horse"


@pytest.fixture
def cfg_path(isolated_env: Path, tmp_path: Path) -> Path:
    return tmp_path / "home" / "xdg_config_home" / "pmpc" / "config.yaml"


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text(SECRET + "\n")
    return path


def test_set_context_writes_a_0600_file_and_the_first_becomes_current(cli, cfg_path, secret_file):
    result = cli(
        "config",
        "set-context",
        "prod",
        "--host",
        "https://pve.example.com:8443",
        "--token-id",
        "pmpc@pve!cli",
        "--token-secret-file",
        str(secret_file),
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == "context/prod created\n"
    assert "current context" in result.stderr
    assert stat.S_IMODE(cfg_path.stat().st_mode) == 0o600
    data = yaml.safe_load(cfg_path.read_text())
    assert data["current-context"] == "prod"
    assert data["contexts"]["prod"] == {
        "host": "https://pve.example.com:8443",
        "token_id": "pmpc@pve!cli",
        "token_secret": SECRET,
    }
    assert SECRET not in result.stdout + result.stderr


def test_password_from_stdin_and_update_keeps_other_fields(cli, cfg_path, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(PASSWORD + "\n"))
    first = cli(
        "config", "set-context", "lab", "--host", "10.0.0.2", "--user", "root@pam", "--password-stdin"
    )
    assert first.exit_code == 0, first.output
    second = cli("config", "set-context", "lab", "--port", "8443", "--no-verify-tls")
    assert second.exit_code == 0, second.output
    assert second.stdout == "context/lab updated\n"
    lab = yaml.safe_load(cfg_path.read_text())["contexts"]["lab"]
    assert lab == {
        "host": "10.0.0.2",
        "user": "root@pam",
        "password": PASSWORD,
        "port": 8443,
        "verify_tls": False,
    }


def test_view_redacts_secrets(cli, secret_file, monkeypatch):
    cli(
        "config",
        "set-context",
        "prod",
        "--host",
        "pve",
        "--token-id",
        "a@pam!b",
        "--token-secret-file",
        str(secret_file),
        "--database-url",
        "postgresql+psycopg://u:dbpw@db/x",
    )
    result = cli("config", "view", "-o", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["current-context"] == "prod"  # as the file spells it
    assert data["contexts"]["prod"]["token_secret"] == "********"
    assert data["contexts"]["prod"]["database_url"] == "postgresql+psycopg://u:********@db/x"
    monkeypatch.setenv("PMPC_PORT", "9000")
    effective = cli("config", "view", "--effective")
    assert effective.exit_code == 0, effective.output
    settings = yaml.safe_load(effective.stdout)
    assert settings["port"] == 9000 and settings["host"] == "pve" and settings["token_secret"] == "********"
    assert settings["sources"]["port"] == "environment (PMPC_PORT)" and settings["sources"]["host"] == "context prod"
    assert settings["sources"]["timeout"] == "default" and settings["sources"]["context"].startswith("contexts file")
    for out in (result, effective):
        assert SECRET not in out.stdout + out.stderr and "dbpw" not in out.stdout + out.stderr


def test_get_contexts_and_use_context(cli):
    cli("config", "set-context", "a", "--host", "pve-a")
    cli("config", "set-context", "b", "--host", "https://pve-b:8443", "--user", "ops@pve")
    table = cli("config", "get-contexts")
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    # Wave 2 adds READ-ONLY (read-only contexts).
    assert lines[0].split() == ["CURRENT", "NAME", "HOST", "PORT", "AUTH", "VERIFY-TLS", "PINNED", "READ-ONLY"]
    assert lines[1].split()[:3] == ["*", "a", "pve-a"]
    assert lines[2].split()[:4] == ["b", "pve-b", "8443", "password"]
    switched = cli("config", "use-context", "b")
    assert switched.exit_code == 0, switched.output
    assert switched.stdout == "context/b is now current\n"
    listed = cli("config", "get-contexts", "-o", "json").json()
    assert [(c["name"], c["current"]) for c in listed] == [("a", False), ("b", True)]
    assert cli("config", "get-contexts", "-o", "name").stdout == "context/a\ncontext/b\n"


def test_use_unknown_context_exits_6(cli):
    result = cli("config", "use-context", "nope")
    assert result.exit_code == 6
    assert result.stdout == ""
    assert "No context named 'nope'" in result.stderr


def test_dry_run_writes_nothing(cli, cfg_path):
    result = cli("config", "set-context", "x", "--host", "pve", "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.stdout == "context/x created (dry run)\n"
    assert not cfg_path.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--fingerprint", "12:34"), "Invalid --fingerprint"),
        (("--trust", "--fingerprint", "ab" * 32), "either --fingerprint or --trust"),
        (("--password-stdin", "--token-secret-stdin"), "Only one secret"),
        (("--unset", "hots"), "Unknown context field"),
    ],
    ids=["bad-fingerprint", "trust-and-fingerprint", "two-stdin", "unknown-unset"],
)
def test_bad_arguments_are_usage_errors(cli, cfg_path, args, message):
    result = cli("config", "set-context", "x", "--host", "pve", *args)
    assert result.exit_code == 64, result.output
    assert message in result.stderr
    assert result.stdout == ""
    assert not cfg_path.exists()


def test_trust_pins_the_server_fingerprint(cli, cfg_path, fakepve, fakepve_cafile):
    result = cli("config", "set-context", "fake", "--host", fakepve.url, "--trust")
    assert result.exit_code == 0, result.output
    expected = fingerprint_of(fakepve_cafile)
    assert result.stdout == (
        f"fingerprint (SHA-256) of the server certificate: {expected}\ncontext/fake created, pinned\n"
    )
    assert yaml.safe_load(cfg_path.read_text())["contexts"]["fake"]["fingerprint"] == expected


def test_trust_on_an_unreachable_host_exits_1_and_saves_nothing(cli, cfg_path, unused_port):
    result = cli(
        "config", "set-context", "gone", "--host", "127.0.0.1", "--port", str(unused_port), "--trust"
    )
    assert result.exit_code == 1
    assert result.stderr == f"pmpc: error: Cannot connect to 127.0.0.1:{unused_port}: connection refused.\n"
    assert not cfg_path.exists()


@pytest.fixture
def unused_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_current_rename_and_delete_context(cli):
    assert cli("config", "current-context").exit_code == 6
    assert cli("config", "set-context", "lab", "--host", "pve-a", "-y").exit_code == 0
    cli("config", "set-context", "prod", "--host", "pve-b", "--read-only", "-y")
    assert cli("config", "current-context").stdout == "lab\n"
    listed = {c["name"]: c["read_only"] for c in cli("config", "get-contexts", "-o", "json").json()}
    assert listed == {"lab": False, "prod": True}
    preview = cli("config", "rename-context", "lab", "lab-old", "--dry-run")
    assert preview.exit_code == 0 and cli("config", "current-context").stdout == "lab\n"
    renamed = cli("config", "rename-context", "lab", "lab-old", "-y")
    assert renamed.stdout == "context/lab renamed to context/lab-old\n", renamed.output
    assert cli("config", "current-context").stdout == "lab-old\n"
    taken = cli("config", "rename-context", "lab-old", "prod")
    assert taken.exit_code == 1 and "already exists" in taken.stderr
    assert cli("config", "delete-context", "nope").exit_code == 6
    deleted = cli("config", "delete-context", "lab-old", "-y")
    assert deleted.exit_code == 0 and deleted.stdout == "context/lab-old deleted\n"
    assert "was the current context" in deleted.stderr
    assert cli("config", "current-context").exit_code == 6
    assert [c["name"] for c in cli("config", "get-contexts", "-o", "json").json()] == ["prod"]
    writable = cli("config", "set-context", "prod", "--read-write")
    assert writable.exit_code == 0 and cli("config", "get-contexts", "-o", "json").json()[0]["read_only"] is False


def test_setters_accept_yes_and_global_options_anywhere(cli, tmp_path):
    assert cli("config", "set-context", "a", "--host", "pve-a", "--yes").exit_code == 0
    assert cli("config", "use-context", "a", "-y").exit_code == 0
    assert cli("init", str(tmp_path / "ws"), "-y").exit_code == 0
    late = cli("config", "view", "--effective", "-o", "json", "--context", "a")
    assert late.exit_code == 0, late.output
    assert late.json()["context"] == "a" and late.json()["sources"]["context"] == "flag"
    unknown = cli("config", "view", "--effective", "--context", "zzz")
    assert unknown.exit_code == 6 and "zzz" in unknown.stderr
