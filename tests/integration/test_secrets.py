"""The token secret and the password appear nowhere but in the 0600 contexts file.

Not in stdout, stderr, the --debug trace and tracebacks, or any file pmpc writes under the workspace,
the cache or the state directories.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tests.helpers.cluster import TOKEN_ID, TOKEN_SECRET

# Distinctive, so finding it anywhere means it leaked (the fixture's default, "secret", is an ordinary word).
PASSWORD = "pw-7Hq2-ZmX9-leak-canary"


@pytest.fixture
def contexts(cluster, cli, tmp_path, monkeypatch, fakepve_cafile):
    """Two contexts for the fake cluster (token and password), set from files outside the scanned tree."""
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "token").write_text(TOKEN_SECRET + "\n")
    (inputs / "password").write_text(PASSWORD + "\n")
    for key in ("PMPC_HOST", "PMPC_TOKEN_ID", "PMPC_TOKEN_SECRET", "PMPC_CA_FILE"):
        monkeypatch.delenv(key)
    token = cli(
        "config",
        "set-context",
        "tok",
        "--host",
        cluster.url,
        "--token-id",
        TOKEN_ID,
        "--token-secret-file",
        str(inputs / "token"),
        "--ca-file",
        fakepve_cafile,
    )
    password = cli(
        "config",
        "set-context",
        "pw",
        "--host",
        cluster.url,
        "--user",
        "root@pam",
        "--password-file",
        str(inputs / "password"),
        "--ca-file",
        fakepve_cafile,
    )
    assert token.exit_code == 0 and password.exit_code == 0, token.output + password.output
    (Path.cwd() / "pmpc.yaml").write_text("context: tok\n")
    return [token, password]


COMMANDS = [
    ("node", "list"),
    ("node", "list", "-o", "json"),
    ("node", "describe", "pve1", "-o", "yaml"),
    ("node", "status", "pve2"),
    ("node", "get", "nope"),  # an error: exit 6 with a traceback under --debug
    ("config", "view"),
    ("config", "view", "--effective", "-o", "json"),
    ("config", "get-contexts", "-o", "wide"),
]


def scan_files(tmp_path: Path) -> list[Path]:
    """Assert no file written under home (config, cache, state) or the workspace holds a secret, but one."""
    contexts_file = tmp_path / "home" / "xdg_config_home" / "pmpc" / "config.yaml"
    assert stat.S_IMODE(contexts_file.stat().st_mode) == 0o600
    assert TOKEN_SECRET in contexts_file.read_text() and PASSWORD in contexts_file.read_text()
    written = [p for root in (tmp_path / "home", tmp_path / "work") for p in root.rglob("*") if p.is_file()]
    for path in written:
        if path == contexts_file:
            continue
        data = path.read_bytes()
        assert TOKEN_SECRET.encode() not in data, path
        assert PASSWORD.encode() not in data, path
    return written


@pytest.mark.fakepve(password=PASSWORD)
def test_secrets_never_leave_the_contexts_file(contexts, cli, cluster, tmp_path, monkeypatch):
    results = list(contexts)
    for name in ("tok", "pw"):
        for command in COMMANDS:
            results.append(cli("--debug", "--context", name, *command))
    written = scan_files(tmp_path)
    assert any("tickets" in p.parts for p in written)  # the password login cached its ticket: scanned too
    # A wrong secret and a wrong password, with the debug trace on through the environment.
    monkeypatch.setenv("PMPC_DEBUG", "1")
    monkeypatch.setenv("PMPC_TOKEN_SECRET", TOKEN_SECRET[::-1])
    results.append(cli("--context", "tok", "node", "list", "-o", "json"))
    monkeypatch.delenv("PMPC_TOKEN_SECRET")
    cluster.tickets.clear()  # so the cached ticket is refused and pmpc must log in with the wrong password
    monkeypatch.setenv("PMPC_PASSWORD", PASSWORD[::-1])
    results.append(cli("--context", "pw", "node", "list"))
    scan_files(tmp_path)

    assert results[2].exit_code == 0, results[2].output
    assert "[debug] > GET" in results[2].stderr  # the trace was on
    assert any("Traceback" in r.stderr for r in results)  # and so were tracebacks
    assert [r.exit_code for r in results[-2:]] == [5, 5]
    for result in results:
        for secret in (TOKEN_SECRET, PASSWORD, TOKEN_SECRET[::-1], PASSWORD[::-1]):
            assert secret not in result.stdout, result.output
            assert secret not in result.stderr, result.output


# A cloud-init password set on a guest: Proxmox hands it back in the config, pmpc must never keep it.
CI_PASSWORD = "ci-4Kd8-guest-leak-canary"


@pytest.mark.fakepve(password=PASSWORD)
def test_secrets_stay_out_of_the_workspace_the_state_store_and_generated_files(contexts, cli, cluster, tmp_path):
    cluster.vm(101).config["cipassword"] = CI_PASSWORD
    workspace = Path.cwd()
    (workspace / "pmpc.yaml").unlink()
    steps = [
        ("init", "."),
        ("sync", "--import"),
        ("plan", "-o", "json"),
        ("vm", "describe", "web-1", "-o", "json"),
        ("vm", "get", "web-1", "-o", "yaml"),
        ("state", "show", "web-1", "-o", "json"),
        ("generate", "terraform"),
        ("generate", "ansible"),
        ("generate", "tests"),
        ("health", "-o", "json"),
        ("logs", "-o", "json"),
        ("debug",),
        ("report-issue",),
        ("vm", "set", "web-1", "memory=4096", "--dry-run", "-o", "json"),
    ]
    results = []
    for name in ("tok", "pw"):
        for step in steps:
            results.append(cli("--debug", "--context", name, *step))
    for result in results[: len(steps)]:
        assert result.exit_code in (0, 1), result.output  # health may FAIL on the fake; nothing else may
    assert results[1].exit_code == 0, results[1].output
    assert "cipassword" in results[3].stdout  # the key is shown (redacted): the canary was really there
    written = scan_files(tmp_path)
    assert (workspace / ".pmpc" / "state.db") in written
    assert any(p.suffix == ".tf" for p in written) and any(p.name == "web-1.yaml" for p in written)
    for path in written:
        assert CI_PASSWORD.encode() not in path.read_bytes(), path
    for result in results:
        for secret in (TOKEN_SECRET, PASSWORD, CI_PASSWORD):
            assert secret not in result.stdout, result.output
            assert secret not in result.stderr, result.output
