"""`pmpc storage list|content` and `pmpc task list|get|wait|log` against fakepve."""

from __future__ import annotations

import json

import pytest

CT_TEMPLATE = "debian-12-standard_12.7-1_amd64.tar.zst"


def test_storage_list_every_node(cluster, cli):
    result = cli("storage", "list", "-o", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert {(r["name"], r["node"]) for r in rows} >= {("local", "pve1"), ("local-lvm", "pve3")}
    assert all(r["kind"] == "storage" for r in rows)
    table = cli("storage", "list", "--node", "pve2")
    assert table.exit_code == 0
    lines = table.stdout.splitlines()
    assert lines[0].split()[:3] == ["NAME", "NODE", "TYPE"]
    assert {line.split()[1] for line in lines[1:]} == {"pve2"}
    unknown = cli("storage", "list", "--node", "pve9")
    assert unknown.exit_code == 6
    assert "No node named 'pve9'" in unknown.stderr


def test_storage_content_filters_by_type(cluster, cli):
    cluster.store_file("local", CT_TEMPLATE, 100 * 1024**2, content="vztmpl")
    cluster.store_file("local", "ubuntu.iso", 10 * 1024**2)
    result = cli("storage", "content", "local", "--node", "pve1", "--content", "vztmpl", "-o", "json")
    assert result.exit_code == 0, result.output
    volumes = json.loads(result.stdout)
    assert [v["volid"] for v in volumes] == [f"local:vztmpl/{CT_TEMPLATE}"]
    assert volumes[0]["size"] == 100 * 1024**2 and volumes[0]["node"] == "pve1"
    names = cli("storage", "content", "local", "--node", "pve1", "-o", "name")
    assert names.stdout.splitlines() == ["local:iso/ubuntu.iso", f"local:vztmpl/{CT_TEMPLATE}"]
    missing = cli("storage", "content", "nope")
    assert missing.exit_code == 6
    assert "No active storage named 'nope'" in missing.stderr


def _upid(cli, *args):
    result = cli(*args, "--no-wait", "-y", "-o", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)[0]["upid"]


def test_task_list_get_and_log(cluster, cli):
    upid = _upid(cli, "vm", "start", "103")
    listed = cli("task", "list", "--vmid", "103", "-o", "json")
    assert listed.exit_code == 0, listed.output
    tasks = json.loads(listed.stdout)
    assert tasks[0]["upid"] == upid and tasks[0]["type"] == "qmstart" and tasks[0]["exit_status"] == "OK"
    assert tasks[0]["node"] == "pve2"
    got = cli("task", "get", upid, "-o", "json")
    assert got.exit_code == 0, got.output
    info = json.loads(got.stdout)
    assert info["status"] == "stopped" and info["ok"] is True and info["id"] == "103"
    log = cli("task", "log", upid)
    assert log.exit_code == 0
    assert log.stdout.splitlines()[-1] == "TASK OK"
    name = cli("task", "list", "-o", "name", "--limit", "1")
    assert name.stdout.startswith("UPID:")


def test_task_list_errors_only(cluster, cli):
    cluster.vm(103).start_error = "boom"
    assert cli("vm", "start", "103", "-y").exit_code == 1
    assert cli("vm", "stop", "101", "-y").exit_code == 0
    result = cli("task", "list", "--errors", "-o", "json")
    assert result.exit_code == 0, result.output
    assert [t["exit_status"] for t in json.loads(result.stdout)] == ["boom"]


def test_task_wait_failed_and_bad_upid(cluster, cli):
    cluster.vm(103).start_error = "disk missing"
    upid = _upid(cli, "vm", "start", "103")
    failed = cli("task", "wait", upid)
    assert failed.exit_code == 1
    assert "failed: disk missing" in failed.stderr
    assert "  TASK ERROR: disk missing" in failed.stderr
    ok_upid = _upid(cli, "vm", "stop", "101")
    done = cli("task", "wait", ok_upid, "-o", "json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)[0]["ok"] is True
    bad = cli("task", "get", "not-a-upid")
    assert bad.exit_code == 64
    assert "Not a Proxmox task id" in bad.stderr


@pytest.mark.fakepve(time_scale=0.01)
def test_task_wait_and_log_follow_a_running_task(cluster, cli):
    cluster.vm(101).shutdown_secs = 20
    upid = _upid(cli, "vm", "shutdown", "101")
    followed = cli("task", "log", upid, "--follow")
    assert followed.exit_code == 0, followed.output
    assert followed.stdout.splitlines()[-1] == "TASK OK"
    assert cluster.vm(101).status == "stopped"
    cluster.vm(103).start_secs = 1000
    slow = _upid(cli, "vm", "start", "103")
    timed_out = cli("task", "wait", slow, "--timeout", "0.2")
    assert timed_out.exit_code == 8
    assert "still running" in timed_out.stderr
