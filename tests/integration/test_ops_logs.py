"""`pmpc logs` against fakepve: tasks by node, guest, type, status and time; --follow; offline nodes."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from tests.helpers.cluster import TOKEN_ID, TOKEN_SECRET


def post(pve, path: str) -> str:
    """Start a task on the fake through its API, as any other client would."""
    response = httpx.post(
        f"{pve.url}/api2/json{path}",
        headers={"Authorization": f"PVEAPIToken={TOKEN_ID}={TOKEN_SECRET}"},
        verify=False,
    )
    response.raise_for_status()
    return response.json()["data"]


def add_task(pve, node: str, ttype: str, ident: str, status: str, age: int) -> None:
    """Record a finished task `age` seconds old (as PVE's task index would hold it)."""
    start = int(time.time()) - age
    pve.tasklog.append(
        {
            "upid": f"UPID:{node}:00000A{age % 100:02d}:00001000:{start:08X}:{ttype}:{ident}:root@pam:",
            "node": node,
            "pid": 2560 + age % 100,
            "pstart": 4096,
            "starttime": start,
            "type": ttype,
            "id": ident,
            "user": "root@pam",
            "status": "stopped",
            "exitstatus": status,
            "endtime": start + 5,
            "log": [],
        }
    )


@pytest.fixture
def busy(cluster):
    post(cluster, "/nodes/pve1/qemu/101/status/stop")
    post(cluster, "/nodes/pve3/lxc/202/status/start")
    add_task(cluster, "pve2", "qmstart", "103", "start failed: disk missing", age=600)
    add_task(cluster, "pve2", "vzdump", "102", "OK", age=3 * 3600)
    return cluster


def test_lists_tasks_of_every_node_oldest_first(busy, cli):
    result = cli("logs", "-o", "json")
    assert result.exit_code == 0, result.output
    entries = json.loads(result.stdout)
    assert [(e["node"], e["type"], e["target"], e["status"]) for e in entries] == [
        ("pve2", "vzdump", "102", "ok"),
        ("pve2", "qmstart", "103", "error"),
        ("pve1", "qmstop", "101", "ok"),
        ("pve3", "vzstart", "202", "ok"),
    ]
    assert entries[1]["guest"] == "db-1" and entries[1]["message"] == "start failed: disk missing"
    assert all(e["source"] == "cluster" for e in entries)


def test_table(busy, cli):
    result = cli("logs")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["TIME", "NODE", "TYPE", "TARGET", "GUEST", "STATUS", "USER"]
    assert lines[2].split()[2:7] == ["pve2", "qmstart", "103", "db-1", "error"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--guest", "web-1"), [("qmstop", "101")]),
        (("-g", "103"), [("qmstart", "103")]),
        (("--node", "pve2"), [("vzdump", "102"), ("qmstart", "103")]),
        (("--type", "vzstart"), [("vzstart", "202")]),
        (("--status", "error"), [("qmstart", "103")]),
        (("--since", "1h"), [("qmstart", "103"), ("qmstop", "101"), ("vzstart", "202")]),
        (("--since", "1h", "--limit", "1"), [("vzstart", "202")]),
    ],
    ids=["guest-name", "guest-vmid", "node", "type", "status", "since", "limit"],
)
def test_filters(busy, cli, args, expected):
    result = cli("logs", *args, "-o", "json")
    assert result.exit_code == 0, result.output
    assert [(e["type"], e["target"]) for e in json.loads(result.stdout)] == expected


def test_since_accepts_an_iso_time(busy, cli):
    since = (datetime.now(timezone.utc) - timedelta(hours=2)).isoformat()
    result = cli("logs", "--since", since, "-o", "json")
    assert result.exit_code == 0, result.output
    assert "vzdump" not in {e["type"] for e in json.loads(result.stdout)}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--since", "yesterday"), "Bad --since 'yesterday'"),
        (("--status", "failed"), "Bad --status 'failed': use one of ok, error, running, skipped."),
        (("--source", "syslog"), "Bad --source 'syslog'"),
        (("-o", "xml"), "Unknown output format 'xml'"),
    ],
)
def test_bad_flags_are_usage_errors_before_any_request(cluster, cli, args, message):
    result = cli("logs", *args)
    assert result.exit_code == 64, result.output
    assert result.stdout == ""
    assert message in result.stderr
    assert not cluster.requests


def test_unknown_guest_name_shows_nothing(busy, cli):
    result = cli("logs", "-g", "nope", "-o", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []


def test_offline_node_is_a_warning_not_an_error(busy, cli):
    busy.set_node_offline("pve3")
    result = cli("logs", "-o", "json")
    assert result.exit_code == 0, result.output
    assert "pve3" not in {e["node"] for e in json.loads(result.stdout)}
    assert "pmpc: warning: node pve3 is unreachable: its tasks are not shown." in result.stderr


def test_empty_table_says_so(cluster, cli):
    result = cli("logs", "--source", "cluster")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "No log entries found." in result.stderr


def test_unreachable_cluster_with_source_cluster_fails(cli, monkeypatch):
    monkeypatch.setenv("PMPC_HOST", "https://127.0.0.1:9")
    monkeypatch.setenv("PMPC_TOKEN_ID", TOKEN_ID)
    monkeypatch.setenv("PMPC_TOKEN_SECRET", TOKEN_SECRET)
    only_cluster = cli("logs", "--source", "cluster")
    assert only_cluster.exit_code == 1
    assert only_cluster.stderr.startswith("pmpc: error: Cannot connect to https://127.0.0.1:9")
    everything = cli("logs", "-o", "json")
    assert everything.exit_code == 0, everything.output
    assert json.loads(everything.stdout) == []
    assert "pmpc: warning: cluster tasks are not shown: Cannot connect" in everything.stderr


def test_follow_yields_new_tasks_as_they_appear(busy):
    from proxmox_mpc.config import find_workspace, load_settings
    from proxmox_mpc.context import AppContext
    from proxmox_mpc.services import logs

    app_ctx = AppContext(loader=lambda: load_settings({}, find_workspace()))
    flt = logs.LogFilter(source="cluster", since=datetime.now(timezone.utc) - timedelta(hours=1))

    async def watch() -> list[list[tuple[str, str]]]:
        batches = []
        stream = logs.follow(app_ctx, flt, interval=0.01)
        async for entries, _warnings in stream:
            batches.append([(e.type, e.target) for e in entries])
            if len(batches) == 1:
                await asyncio.to_thread(post, busy, "/nodes/pve2/qemu/103/status/start")
            if len(batches) == 2:
                break
        await stream.aclose()
        return batches

    first, second = asyncio.run(watch())
    assert ("qmstop", "101") in first and ("qmstart", "103") in first
    assert second == [("qmstart", "103")]


def test_pmpc_journal_of_an_apply_is_shown_with_the_cluster_task(cluster, cli, isolated_env):
    assert cli("init").exit_code == 0
    assert cli("sync", "--import").exit_code == 0
    manifest = isolated_env / "resources" / "vms" / "batch-1.yaml"
    manifest.write_text(manifest.read_text().replace("memory: 1024", "memory: 1536"))
    applied = cli("apply", "-y")
    assert applied.exit_code == 0, applied.output

    journal = cli("logs", "--source", "pmpc", "-o", "json")
    assert journal.exit_code == 0, journal.output
    entries = json.loads(journal.stdout)
    assert [(e["source"], e["type"], e["target"], e["status"], e["node"]) for e in entries] == [
        ("pmpc", "apply:config", "vm/batch-1", "ok", "pve3")
    ]
    assert "memory=1536" in entries[0]["message"]

    both = cli("logs", "-g", "batch-1", "-o", "json")
    assert both.exit_code == 0, both.output
    assert {(e["source"], e["type"]) for e in json.loads(both.stdout)} == {
        ("cluster", "qmconfig"),
        ("pmpc", "apply:config"),
    }
