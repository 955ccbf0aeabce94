"""Backups against fakepve (extended so vzdump stores a volume): back up, list, delete, restore."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest

from tests.helpers.backups import BACKUP_SIZE


def _backup(cli, *args):
    result = cli(*args, "-y", "-o", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_backup_creates_a_vzdump_task_and_a_volume_that_backup_list_shows(backup_cluster, cli):
    records = _backup(cli, "vm", "backup", "web-1", "--storage", "local", "--notes", "before {{guestname}}")
    assert len(records) == 1
    record = records[0]
    assert record["ok"] is True and record["action"] == "backup" and record["target"] == "vm/101"
    assert ":vzdump:101:" in record["upid"]
    volid = record["volid"]
    assert volid.startswith("local:backup/vzdump-qemu-101-") and volid.endswith(".vma.zst")
    sent = [(m, p.removeprefix("/api2/json")) for m, p, _ in backup_cluster.requests if m == "POST"]
    assert sent == [("POST", "/nodes/pve1/vzdump")]
    assert backup_cluster.vm(101).lock is None

    listed = cli("backup", "list", "-o", "json")
    assert listed.exit_code == 0, listed.output
    backups = json.loads(listed.stdout)
    assert [b["volid"] for b in backups] == [volid]
    entry = backups[0]
    assert entry["guest"] == "vm/101" and entry["vmid"] == 101 and entry["type"] == "qemu"
    assert entry["size"] == BACKUP_SIZE and entry["notes"] == "before web-1" and entry["protected"] is False
    assert entry["storage"] == "local" and entry["backup_time"].endswith("Z")
    table = cli("backup", "list")
    assert table.exit_code == 0, table.output
    assert volid in table.stdout and "vm/101" in table.stdout


def test_backup_options_reach_vzdump(backup_cluster, cli):
    records = _backup(
        cli, "ct", "backup", "dns-1", "--storage", "local", "--mode", "stop", "--compress", "none", "--protected"
    )
    assert records[0]["volid"].endswith(".tar")
    body = next(parse_qs(b.decode()) for m, p, b in backup_cluster.requests if p.endswith("/vzdump"))
    assert body == {
        "vmid": ["201"], "storage": ["local"], "mode": ["stop"], "compress": ["0"], "protected": ["1"]
    }
    listed = json.loads(cli("backup", "list", "--guest", "dns-1", "-o", "json").stdout)
    assert [b["protected"] for b in listed] == [True]


def test_backup_of_several_guests_runs_each_on_its_node(backup_cluster, cli):
    records = _backup(cli, "vm", "backup", "-l", "tag=web", "--storage", "local")
    assert sorted((r["target"], r["node"]) for r in records) == [("vm/101", "pve1"), ("vm/102", "pve2")]
    paths = sorted(p.removeprefix("/api2/json") for m, p, _ in backup_cluster.requests if m == "POST")
    assert paths == ["/nodes/pve1/vzdump", "/nodes/pve2/vzdump"]
    listed = json.loads(cli("backup", "list", "--guest", "102", "-o", "json").stdout)
    assert [b["guest"] for b in listed] == ["vm/102"]


def test_full_storage_fails_the_backup_with_the_task_log(backup_cluster, cli):
    backup_cluster.storages["local"]["avail"] = 1024
    result = cli("vm", "backup", "101", "--storage", "local", "-y")
    assert result.exit_code == 1, result.output
    assert "job errors" in result.stderr
    assert "No space left on device" in result.stderr
    assert result.stdout == ""
    listed = cli("backup", "list", "-o", "json")
    assert json.loads(listed.stdout) == []


def test_partial_failure_exits_3(backup_cluster, cli):
    backup_cluster.storages["local"]["avail"] = BACKUP_SIZE + 1
    result = cli("vm", "backup", "101", "102", "--storage", "local", "-y", "--concurrency", "1")
    assert result.exit_code == 3, result.output
    assert "No space left on device" in result.stderr


def test_unknown_storage_is_refused_before_any_write(backup_cluster, cli):
    result = cli("vm", "backup", "101", "--storage", "local-lvm", "-y")
    assert result.exit_code == 6, result.output
    assert "does not take backups on node pve1" in result.stderr
    assert {m for m, _, _ in backup_cluster.requests} <= {"GET"}


@pytest.mark.parametrize(
    ("args", "flag"), [(("--mode", "fast"), "--mode fast"), (("--compress", "xz"), "--compress xz")]
)
def test_bad_mode_or_compression_is_a_usage_error(backup_cluster, cli, args, flag):
    result = cli("vm", "backup", "101", "--storage", "local", *args, "-y")
    assert result.exit_code == 64, result.output
    assert flag in result.stderr


def test_backup_delete_removes_it(backup_cluster, cli):
    volid = _backup(cli, "vm", "backup", "101", "--storage", "local")[0]["volid"]
    deleted = cli("backup", "delete", volid, "-y")
    assert deleted.exit_code == 0, deleted.output
    assert deleted.stdout == f"{volid} deleted\n"
    assert json.loads(cli("backup", "list", "-o", "json").stdout) == []
    assert f"backup/{volid.split('/', 1)[1]}" not in backup_cluster.storages["local"].get("volumes", {})


def test_backup_delete_of_a_protected_backup_fails_with_the_task_error(backup_cluster, cli):
    volid = _backup(cli, "vm", "backup", "101", "--storage", "local", "--protected")[0]["volid"]
    result = cli("backup", "delete", volid, "-y")
    assert result.exit_code == 1, result.output
    assert "cannot remove protected volume" in result.stderr
    assert [b["volid"] for b in json.loads(cli("backup", "list", "-o", "json").stdout)] == [volid]
