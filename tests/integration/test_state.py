"""`pmpc status`, `state upgrade` and the workspace lock (`state unlock`), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from proxmox_mpc.state.migrations import HEAD

HOLDER = textwrap.dedent("""
    import sys, time
    from proxmox_mpc.state.store import open_store
    store = open_store(sys.argv[1])
    with store.workspace_lock(sys.argv[2], "pmpc apply", 0):
        print("locked", flush=True)
        time.sleep(600)
""")


@pytest.fixture
def workspace(isolated_env: Path) -> Path:
    (isolated_env / "pmpc.yaml").write_text("name: team-infra\n", encoding="utf-8")
    return isolated_env


@pytest.fixture
def holder(state_url: str, workspace: Path) -> Iterator[Any]:
    """Start a process that takes the workspace lock and keeps it; yields a function to start it again."""
    procs: list[subprocess.Popen[str]] = []

    def start() -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, state_url, "team-infra"], stdout=subprocess.PIPE, text=True
        )
        procs.append(proc)
        assert proc.stdout is not None and proc.stdout.readline() == "locked\n"
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)


def test_status_before_and_after_sync(cluster, cli, state_url):
    before = cli("status", "-o", "json")
    assert before.exit_code == 0, before.output
    data = json.loads(before.stdout)
    assert data["connection"] == "ok" and data["pve_version"] == "9.0.10"
    assert data["counts_source"] == "cluster" and data["last_sync"] is None and data["drift"] is None
    assert data["counts"]["vm"] == {"running": 3, "stopped": 1, "template": 1}
    assert data["workspace"] is None and data["cluster"].startswith("127.0.0.1:")

    assert cli("sync").exit_code == 0
    cluster.vm(101).config["memory"] = 4096
    after = json.loads(cli("status", "-o", "json").stdout)
    assert after["counts_source"] == "state" and after["last_sync_guests"] == 7
    assert after["counts"] == {
        "vm": {"running": 3, "stopped": 1, "template": 1},
        "ct": {"running": 1, "stopped": 1},
    }
    assert after["drift"] == 1 and after["problems"] == []

    table = cli("status")
    assert table.exit_code == 0
    lines = dict(line.split(":", 1) for line in table.stdout.splitlines())
    assert lines["Connection"].strip() == "ok (Proxmox VE 9.0.10)"
    assert lines["Drift"].strip() == "1 change(s) since the last sync"
    assert "ct: 1 running, 1 stopped" in lines["Guests"]


def test_status_works_with_the_cluster_down(cluster, cli, state_url):
    assert cli("sync").exit_code == 0
    cluster.flaky_network(drop_rate=1.0)  # every connection is reset: the cluster is unreachable
    result = cli("status", "-o", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["connection"] == "failed" and data["drift"] is None
    assert data["counts_source"] == "state" and data["counts"]["ct"] == {"running": 1, "stopped": 1}
    assert data["problems"] and "127.0.0.1" in data["problems"][0]


def test_status_works_with_the_database_down(cluster, cli, monkeypatch):
    monkeypatch.setenv("PMPC_DATABASE_URL", "postgresql+psycopg://pmpc:s3cr3t-pw@127.0.0.1:9/nope")
    result = cli("status")
    assert result.exit_code == 0, result.output
    assert "s3cr3t-pw" not in result.stdout + result.stderr
    assert "Database:   postgresql+psycopg://pmpc:********@127.0.0.1:9/nope" in result.stdout
    assert "Connection: ok" in result.stdout
    assert "Problem:" in result.stdout and "cannot be used" in result.stdout


def test_state_upgrade_is_explicit_and_idempotent(cli, state_url):
    first = cli("state", "upgrade")
    assert first.exit_code == 0, first.output
    assert first.stdout.endswith(f"upgraded from empty to {HEAD}.\n")
    again = cli("state", "upgrade", "-o", "json")
    assert again.exit_code == 0
    assert json.loads(again.stdout)["changed"] is False and json.loads(again.stdout)["after"] == HEAD


def test_second_holder_exits_7_naming_the_holder(cluster, cli, state_url, holder):
    proc = holder()
    busy = cli("sync")
    assert busy.exit_code == 7, busy.output
    assert busy.stdout == ""
    assert f"The workspace lock 'team-infra' is held by pmpc apply (pid {proc.pid} on " in busy.stderr
    assert " since 20" in busy.stderr and "UTC" in busy.stderr and "pmpc state unlock" in busy.stderr

    waited = cli("sync", "--lock-timeout", "0.3", "-o", "json")
    assert waited.exit_code == 7
    assert "gave up after 0.3s" in waited.stderr and "waiting up to 0.3s" in waited.stderr
    assert json.loads(waited.stderr.splitlines()[-1])["error"]["kind"] == "conflict"
    assert json.loads(cli("state", "show", "-o", "json").stdout) == []


def test_crashed_holder_and_state_unlock(cluster, cli, state_url, holder):
    proc = holder()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)
    if state_url.startswith("postgresql"):
        # The advisory lock dies with the holder's session (the server notices the closed connection a
        # moment later, hence the wait): nothing to release.
        assert cli("sync", "--lock-timeout", "30").exit_code == 0
        live = holder()
        refused = cli("state", "unlock")
        assert refused.exit_code == 4 and refused.stdout == ""
        released = cli("state", "unlock", "-y")
        assert released.exit_code == 0, released.output
        assert released.stdout.startswith("lock/team-infra released (was held by pmpc apply")
        assert live.poll() is None  # the process lives on; its database session was ended
        assert cli("sync").exit_code == 0
        return

    # Changed by issue 12: a SQLite lock row whose process is gone (killed, or its release failed on a
    # full disk) expires for the next taker, as PostgreSQL's advisory lock dies with its session.
    assert cli("sync").exit_code == 0
    live = holder()

    no_tty = cli("state", "unlock")
    assert no_tty.exit_code == 4, no_tty.output
    assert no_tty.stdout == "" and "--yes" in no_tty.stderr

    dry = cli("state", "unlock", "--dry-run")
    assert dry.exit_code == 0
    assert (
        dry.stdout == f"lock/team-infra held by pmpc apply (pid {live.pid} on {os.uname().nodename}) "
        "would be released (dry run).\n"
    )
    assert cli("sync").exit_code == 7

    released = cli("state", "unlock", "-y", "-o", "json")
    assert released.exit_code == 0, released.output
    data = json.loads(released.stdout)
    assert data["released"] is True and data["holder"]["pid"] == live.pid
    assert cli("sync").exit_code == 0
    nothing = cli("state", "unlock", "-y")
    assert nothing.exit_code == 0 and nothing.stdout == "lock/team-infra is not held.\n"
