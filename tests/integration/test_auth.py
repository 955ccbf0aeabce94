"""Both authentication methods against fakepve, and how auth, connection and TLS failures are reported."""

from __future__ import annotations

import json
import socket
import stat
from pathlib import Path

import pytest

from tests.helpers.cluster import PASSWORD
from tests.unit.api.helpers import fingerprint_of


def logins(pve) -> int:
    return sum(1 for method, path, *_ in pve.requests if method == "POST" and path.endswith("/access/ticket"))


def assert_one_sentence(stderr: str) -> None:
    assert stderr.startswith("pmpc: error: ")
    assert stderr.count("\n") == 1 and stderr.endswith(".\n"), stderr
    assert "Traceback" not in stderr


@pytest.fixture
def password_env(cluster, monkeypatch):
    monkeypatch.delenv("PMPC_TOKEN_ID")
    monkeypatch.delenv("PMPC_TOKEN_SECRET")
    monkeypatch.setenv("PMPC_USER", "root@pam")
    monkeypatch.setenv("PMPC_PASSWORD", PASSWORD)
    return cluster


@pytest.fixture
def unused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_token_auth_lists_nodes_without_logging_in(cluster, cli):
    result = cli("node", "list", "-o", "name")
    assert result.exit_code == 0, result.output
    assert result.stdout == "node/pve1\nnode/pve2\nnode/pve3\n"
    assert result.stderr == ""
    assert logins(cluster) == 0


def test_password_auth_logs_in_once_and_caches_the_ticket_0600(password_env, cli, tmp_path):
    first = cli("node", "list", "-o", "name")
    assert first.exit_code == 0, first.output
    assert first.stdout == "node/pve1\nnode/pve2\nnode/pve3\n"
    assert first.stderr == ""
    second = cli("node", "get", "pve2", "-o", "name")
    assert second.exit_code == 0, second.output
    assert second.stdout == "node/pve2\n"
    assert logins(password_env) == 1
    cache = tmp_path / "home" / "xdg_cache_home" / "pmpc" / "tickets"
    tickets = list(cache.iterdir())
    assert len(tickets) == 1
    assert stat.S_IMODE(tickets[0].stat().st_mode) == 0o600
    assert PASSWORD not in tickets[0].read_text()


def test_password_auth_logs_in_again_when_the_cached_ticket_was_revoked(password_env, cli):
    assert cli("node", "list").exit_code == 0
    password_env.tickets.clear()  # the server forgot every ticket (restarted, say)
    result = cli("node", "list", "-o", "name")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["node/pve1", "node/pve2", "node/pve3"]
    assert logins(password_env) == 2


def test_wrong_token_exits_5_with_one_sentence(cluster, cli, monkeypatch):
    monkeypatch.setenv("PMPC_TOKEN_SECRET", "00000000-0000-0000-0000-000000000000")
    result = cli("node", "list")
    assert result.exit_code == 5
    assert result.stdout == ""
    assert_one_sentence(result.stderr)
    assert "Authentication failed" in result.stderr
    assert "00000000-0000" not in result.stderr


def test_wrong_password_exits_5_with_one_sentence(password_env, cli, monkeypatch):
    monkeypatch.setenv("PMPC_PASSWORD", "not-the-password")
    result = cli("node", "list")
    assert result.exit_code == 5
    assert result.stdout == ""
    assert_one_sentence(result.stderr)
    assert "root@pam" in result.stderr and "not-the-password" not in result.stderr


def test_auth_error_is_also_a_json_object_with_o_json(cluster, cli, monkeypatch):
    monkeypatch.setenv("PMPC_TOKEN_ID", "root@pam!unknown")
    result = cli("node", "list", "-o", "json")
    assert result.exit_code == 5
    assert result.stdout == ""
    sentence, obj = result.stderr.splitlines()
    assert sentence.startswith("pmpc: error: Authentication failed")
    error = json.loads(obj)["error"]
    assert error["kind"] == "auth"
    assert error["details"]["status"] == 401


def test_unreachable_host_exits_1_with_a_clear_message(cluster, cli, monkeypatch, unused_port):
    monkeypatch.setenv("PMPC_HOST", f"https://127.0.0.1:{unused_port}")
    result = cli("node", "list")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert_one_sentence(result.stderr)
    assert (
        result.stderr
        == f"pmpc: error: Cannot connect to https://127.0.0.1:{unused_port}: connection refused.\n"
    )


def test_fingerprint_mismatch_exits_1_showing_both_fingerprints(cluster, cli, monkeypatch, fakepve_cafile):
    wrong = ":".join(["0F"] * 32)
    monkeypatch.setenv("PMPC_FINGERPRINT", wrong)
    result = cli("node", "list")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert_one_sentence(result.stderr)
    assert "does not match the pinned fingerprint" in result.stderr
    assert f"expected {wrong}, got {fingerprint_of(fakepve_cafile)}" in result.stderr
    assert cluster.requests == []


def test_pinned_fingerprint_from_a_context_connects_without_a_ca(cluster, cli, monkeypatch, fakepve_cafile):
    monkeypatch.delenv("PMPC_CA_FILE")
    refused = cli("node", "list")
    assert refused.exit_code == 1
    assert "TLS verification" in refused.stderr and "--trust" in refused.stderr
    trusted = cli("config", "set-context", "fake", "--host", cluster.url, "--trust")
    assert trusted.exit_code == 0, trusted.output
    monkeypatch.delenv("PMPC_HOST")
    result = cli("--context", "fake", "node", "list", "-o", "name")
    assert result.exit_code == 0, result.output
    assert result.stdout == "node/pve1\nnode/pve2\nnode/pve3\n"


def test_insecure_skips_verification_when_asked(cluster, cli, monkeypatch):
    monkeypatch.delenv("PMPC_CA_FILE")
    result = cli("--insecure", "node", "list", "-o", "name")
    assert result.exit_code == 0, result.output
    assert result.stdout.count("\n") == 3


def test_no_credentials_is_a_config_error_naming_the_variables(cluster, cli, monkeypatch):
    monkeypatch.delenv("PMPC_TOKEN_ID")
    monkeypatch.delenv("PMPC_TOKEN_SECRET")
    result = cli("node", "list")
    assert result.exit_code == 1
    assert_one_sentence(result.stderr)
    assert "PMPC_TOKEN_ID" in result.stderr
    assert cluster.requests == []


def test_ticket_cache_is_outside_the_workspace(password_env, cli, tmp_path):
    work = Path.cwd()
    (work / "pmpc.yaml").write_text("settings: {}\n")
    assert cli("node", "list").exit_code == 0
    assert sorted(p.name for p in work.rglob("*")) == ["pmpc.yaml"]
