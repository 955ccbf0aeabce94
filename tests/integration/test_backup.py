"""Backups against fakepve (extended so vzdump stores a volume): back up, list, delete, restore."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import pytest

from tests.helpers.backups import BACKUP_SIZE
from tests.helpers.runner import invoke as invoke_cli


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


def _posts(pve, suffix):
    return [parse_qs(b.decode()) for m, p, b in pve.requests if m == "POST" and p.endswith(suffix)]


def test_container_restore_to_a_new_vmid_sends_pve_s_parameters(backup_cluster, cli):
    volid = _backup(cli, "ct", "backup", "201", "--storage", "local")[0]["volid"]
    backup_cluster.requests.clear()
    result = cli("ct", "restore", volid, "--vmid", "250", "--storage", "local-lvm", "--unique", "-y", "-o", "json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)[0]
    assert (record["target"], record["node"], record["action"], record["ok"]) == ("ct/250", "pve1", "restore", True)
    assert _posts(backup_cluster, "/nodes/pve1/lxc") == [
        {"vmid": ["250"], "ostemplate": [volid], "restore": ["1"], "storage": ["local-lvm"], "unique": ["1"]}
    ]
    assert backup_cluster.ct(250) is not None


def test_restore_refuses_to_overwrite_an_existing_guest_without_force(backup_cluster, cli):
    volid = _backup(cli, "ct", "backup", "202", "--storage", "local")[0]["volid"]
    backup_cluster.requests.clear()
    refused = cli("ct", "restore", volid, "--vmid", "202", "-y")
    assert refused.exit_code == 7, refused.output
    assert "ct/202 (cache-1) exists on pve3: add --force" in refused.stderr
    assert {m for m, _, _ in backup_cluster.requests} <= {"GET"}
    forced = cli("ct", "restore", volid, "--vmid", "202", "--force", "--storage", "local-lvm", "-y")
    assert forced.exit_code == 0, forced.output
    assert forced.stdout == f"ct/202 restored from {volid}\n"
    assert _posts(backup_cluster, "/nodes/pve3/lxc") == [
        {"vmid": ["202"], "ostemplate": [volid], "restore": ["1"], "storage": ["local-lvm"], "force": ["1"]}
    ]


def test_vm_restore_sends_the_archive_and_reports_the_fake_s_refusal(backup_cluster, cli):
    volid = _backup(cli, "vm", "backup", "103", "--storage", "local")[0]["volid"]
    backup_cluster.requests.clear()
    result = cli("vm", "restore", volid, "--vmid", "150", "--storage", "local-lvm", "-y")
    assert result.exit_code == 1, result.output
    assert "restoring an archive is not supported" in result.stderr
    assert _posts(backup_cluster, "/nodes/pve2/qemu") == [
        {"vmid": ["150"], "archive": [volid], "storage": ["local-lvm"]}
    ]
    assert backup_cluster.vm(150) is None


def test_restore_of_the_other_kind_or_an_unknown_backup(backup_cluster, cli):
    volid = _backup(cli, "ct", "backup", "201", "--storage", "local")[0]["volid"]
    wrong = cli("vm", "restore", volid, "--vmid", "150", "-y")
    assert wrong.exit_code == 64, wrong.output
    assert "use `pmpc ct restore`" in wrong.stderr
    missing = cli("vm", "restore", "local:backup/vzdump-qemu-999-2026_01_01-00_00_00.vma.zst", "--vmid", "150", "-y")
    assert missing.exit_code == 6, missing.output


def test_forced_restore_confirms_with_the_guest_s_name(backup_cluster):
    from tests.integration.test_guest_safety import _run_on_tty

    volid = _backup(invoke_cli, "vm", "backup", "103", "--storage", "local")[0]["volid"]
    backup_cluster.requests.clear()
    result, asked = _run_on_tty(["vm", "restore", volid, "--vmid", "103", "--force"], answer=False)
    assert result.exit_code == 4, result.output
    assert asked == ["Overwrite 1 target(s)?"]
    assert f"About to overwrite:\n  vm/103 (db-1) on pve2 with {volid}\n" in result.stderr
    assert {m for m, _, _ in backup_cluster.requests} <= {"GET"}


def test_no_wait_prints_the_vzdump_task(backup_cluster, cli):
    result = cli("vm", "backup", "101", "--storage", "local", "--no-wait", "-y", "-o", "json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)[0]
    assert ":vzdump:101:" in record["upid"] and record["volid"] is None
    table = cli("ct", "backup", "201", "--storage", "local", "--no-wait", "-y")
    assert table.stdout.startswith("ct/201 backup submitted: UPID:pve1:")
