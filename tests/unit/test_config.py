"""Settings precedence, the contexts file (mode 0600), host URL parsing and fingerprints."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import yaml

from proxmox_mpc.config import (
    ContextsFile,
    Settings,
    contexts_path,
    load_settings,
    normalise_fingerprint,
    settings_from_values,
    write_private,
)
from proxmox_mpc.errors import ConfigError, NotFound


def write_contexts(path: Path, current: str | None, contexts: dict) -> ContextsFile:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"current-context": current, "contexts": contexts}))
    return ContextsFile.load(path)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    return ws


def layered(workspace: Path, monkeypatch: pytest.MonkeyPatch, levels: set[str]) -> ContextsFile:
    """Set `timeout` at each of the given levels to a distinct value."""
    contexts = write_contexts(
        workspace.parent / "contexts.yaml",
        "lab",
        {"lab": {"host": "pve.lab", **({"timeout": 11} if "contexts" in levels else {})}},
    )
    settings = {"timeout": 12} if "workspace" in levels else {}
    (workspace / "pmpc.yaml").write_text(yaml.safe_dump({"settings": settings}))
    if "dotenv" in levels:
        (workspace / ".env").write_text("PMPC_TIMEOUT=13\n")
    if "env" in levels:
        monkeypatch.setenv("PMPC_TIMEOUT", "14")
    return contexts


@pytest.mark.parametrize(
    ("levels", "expected"),
    [
        (set(), 30.0),
        ({"contexts"}, 11.0),
        ({"contexts", "workspace"}, 12.0),
        ({"contexts", "workspace", "dotenv"}, 13.0),
        ({"contexts", "workspace", "dotenv", "env"}, 14.0),
        ({"contexts", "workspace", "dotenv", "env", "flag"}, 15.0),
        ({"contexts", "flag"}, 15.0),
        ({"workspace", "env"}, 14.0),
        ({"dotenv", "contexts"}, 13.0),
    ],
    ids=[
        "defaults",
        "contexts",
        "workspace",
        "dotenv",
        "env",
        "flag",
        "flag-over-contexts",
        "env-over-ws",
        "dotenv-over-contexts",
    ],
)
def test_precedence(levels, expected, workspace, monkeypatch):
    contexts = layered(workspace, monkeypatch, levels)
    flags = {"timeout": 15.0} if "flag" in levels else {}
    settings = load_settings(flags, workspace, contexts)
    assert settings.timeout == expected
    assert settings.host == "pve.lab"
    assert settings.context == "lab"


def test_context_is_chosen_by_flag_then_env_then_workspace_then_current(workspace, monkeypatch):
    contexts = write_contexts(
        workspace.parent / "c.yaml",
        "a",
        {name: {"host": f"pve.{name}"} for name in ("a", "b", "c", "d")},
    )
    assert load_settings({}, None, contexts).host == "pve.a"
    (workspace / "pmpc.yaml").write_text("context: b\n")
    assert load_settings({}, workspace, contexts).host == "pve.b"
    monkeypatch.setenv("PMPC_CONTEXT", "c")
    assert load_settings({}, workspace, contexts).host == "pve.c"
    assert load_settings({"context": "d"}, workspace, contexts).host == "pve.d"


def test_unknown_context_is_not_found(workspace):
    contexts = write_contexts(workspace.parent / "c.yaml", None, {"a": {"host": "x"}})
    with pytest.raises(NotFound, match=r"No context named 'zz'.*known: a"):
        load_settings({"context": "zz"}, None, contexts)


def test_env_names_reach_every_field(monkeypatch):
    values = {
        "PMPC_HOST": "pve.example",
        "PMPC_PORT": "8443",
        "PMPC_USER": "ops@pve",
        "PMPC_PASSWORD": "pw",
        "PMPC_TOKEN_ID": "ops@pve!cli",
        "PMPC_TOKEN_SECRET": "s",
        "PMPC_VERIFY_TLS": "false",
        "PMPC_CA_FILE": "/etc/ca.pem",
        "PMPC_FINGERPRINT": "ab" * 32,
        "PMPC_TIMEOUT": "5",
        "PMPC_CONCURRENCY": "3",
        "PMPC_DATABASE_URL": "sqlite:///x.db",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    s = load_settings({}, None, ContextsFile(Path("/nonexistent"), {}))
    assert (s.host, s.port, s.user, s.token_id, s.verify_tls, s.ca_file) == (
        "pve.example",
        8443,
        "ops@pve",
        "ops@pve!cli",
        False,
        "/etc/ca.pem",
    )
    assert s.password is not None and s.password.get_secret_value() == "pw"
    assert s.token_secret is not None and s.token_secret.get_secret_value() == "s"
    assert (s.timeout, s.concurrency, s.database_url) == (5.0, 3, "sqlite:///x.db")
    assert s.fingerprint == ":".join(["AB"] * 32)


def test_workspace_file_must_not_hold_secrets(workspace):
    (workspace / "pmpc.yaml").write_text(yaml.safe_dump({"settings": {"host": "x", "password": "pw"}}))
    with pytest.raises(ConfigError, match="must not hold secrets"):
        load_settings({}, workspace, ContextsFile(Path("/nonexistent"), {}))


def test_invalid_values_are_one_config_error_naming_the_field(monkeypatch):
    monkeypatch.setenv("PMPC_PORT", "99999")
    with pytest.raises(ConfigError) as caught:
        load_settings({}, None, ContextsFile(Path("/nonexistent"), {}))
    assert "port" in caught.value.message
    assert "\n" not in caught.value.message


@pytest.mark.parametrize(
    ("host", "port", "base_url"),
    [
        ("pve.example.com", 8006, "https://pve.example.com:8006"),
        ("https://pve.example.com", 8006, "https://pve.example.com:8006"),
        ("https://pve.example.com:8443", 8443, "https://pve.example.com:8443"),
        ("https://10.0.0.5:443/", 443, "https://10.0.0.5:443"),
        ("https://[fd00::5]:8006", 8006, "https://[fd00::5]:8006"),
        ("fd00::5", 8006, "https://[fd00::5]:8006"),
    ],
)
def test_host_url_parsing(host, port, base_url):
    settings = settings_from_values({"host": host})
    assert settings.port == port
    assert settings.base_url == base_url


def test_host_url_must_be_https():
    with pytest.raises(ConfigError, match="https"):
        settings_from_values({"host": "http://pve.example.com:8006"})


def test_missing_host_is_a_config_error_with_the_fix():
    with pytest.raises(ConfigError, match="PMPC_HOST"):
        _ = Settings.model_construct().base_url


@pytest.mark.parametrize(
    "value",
    ["ab" * 32, ":".join(["ab"] * 32), "AB " * 32, "sha256=" + "ab" * 32, "SHA256:" + "AB" * 32],
)
def test_fingerprint_forms_normalise(value):
    assert normalise_fingerprint(value) == ":".join(["AB"] * 32)


@pytest.mark.parametrize("value", ["ab" * 31, "zz" * 32, "ab" * 33])
def test_bad_fingerprints_are_refused(value):
    with pytest.raises(ValueError):
        normalise_fingerprint(value)


def test_token_id_must_name_user_realm_and_token():
    with pytest.raises(ConfigError, match="token_id"):
        settings_from_values({"token_id": "root!x"})
    assert settings_from_values({"token_id": "root@pam!x"}).token_id == "root@pam!x"


def test_settings_from_values_ignores_the_environment(monkeypatch):
    monkeypatch.setenv("PMPC_HOST", "elsewhere")
    monkeypatch.setenv("PMPC_TOKEN_ID", "evil@pam!x")
    settings = settings_from_values({"host": "127.0.0.9", "user": "root@pam"})
    assert settings.host == "127.0.0.9" and settings.token_id is None


def test_secrets_are_redacted_in_the_settings_view():
    settings = settings_from_values(
        {
            "host": "h",
            "password": "pw-1",
            "token_id": "a@pam!b",
            "token_secret": "tok-2",
            "database_url": "postgresql+psycopg://pmpc:db-3@db/pmpc",
        }
    )
    text = repr(settings.redacted()) + repr(settings)
    for secret in ("pw-1", "tok-2", "db-3"):
        assert secret not in text
    assert settings.redacted()["database_url"] == "postgresql+psycopg://pmpc:********@db/pmpc"


# ----------------------------------------------------------------------------- the contexts file


def test_contexts_path_honours_pmpc_config_then_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    assert contexts_path() == tmp_path / "xdg" / "pmpc" / "config.yaml"
    monkeypatch.setenv("PMPC_CONFIG", str(tmp_path / "mine.yaml"))
    assert contexts_path() == tmp_path / "mine.yaml"


def test_contexts_file_is_written_0600_even_over_a_world_readable_file(tmp_path):
    path = tmp_path / "cfg" / "config.yaml"
    path.parent.mkdir()
    path.write_text("contexts: {}\n")
    os.chmod(path, 0o644)
    old = os.umask(0o022)
    try:
        contexts = ContextsFile.load(path)
        contexts.set("prod", {"host": "pve", "token_id": "a@pam!b", "token_secret": "s3"})
        contexts.current = "prod"
        contexts.save()
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = yaml.safe_load(path.read_text())
    assert data == {
        "current-context": "prod",
        "contexts": {"prod": {"host": "pve", "token_id": "a@pam!b", "token_secret": "s3"}},
    }
    assert [p.name for p in path.parent.iterdir()] == ["config.yaml"]


def test_write_private_creates_parents_and_mode_0600(tmp_path):
    target = tmp_path / "a" / "b" / "ticket.json"
    write_private(target, "{}")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_text() == "{}"


def test_contexts_file_rejects_unknown_fields_and_invalid_values(tmp_path):
    contexts = ContextsFile.load(tmp_path / "none.yaml")
    assert contexts.contexts == {} and contexts.current is None
    with pytest.raises(ConfigError, match="Unknown context field"):
        contexts.set("x", {"hots": "typo"})
    with pytest.raises(ConfigError, match="port"):
        contexts.set("x", {"port": 0})
    assert contexts.contexts == {}


def test_a_broken_contexts_file_is_a_config_error(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("contexts: [1, 2]\n")
    with pytest.raises(ConfigError, match="must map each context"):
        ContextsFile.load(path)
    path.write_text("contexts: {a: [\n")
    with pytest.raises(ConfigError, match="Cannot read the contexts file"):
        ContextsFile.load(path)
