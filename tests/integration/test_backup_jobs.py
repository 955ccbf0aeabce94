"""Backup jobs end to end against fakepve (with the stateful objects of tests/helpers/cluster_objects.py):
import, plan, apply, references to guests and pools, destroy, protection, list and get."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.helpers.workspace import api_post, imported_workspace, planned, writes_since

JOBS = "/cluster/backup"


def _job_file(ws: Path, name: str) -> Path:
    folder = ws / "resources" / "backup-jobs"
    folder.mkdir(exist_ok=True)
    return folder / f"{name}.yaml"


def test_import_writes_the_job_and_plan_is_empty(cluster, cli, tmp_path):
    api_post(cli, JOBS, "id=nightly", "schedule=sat 02:00", "storage=local", "vmid=102,101", "mode=snapshot",
             "compress=zstd", "prune-backups=keep-weekly=2,keep-last=3", "comment=Nightly", "enabled=0")
    api_post(cli, JOBS, "id=everything", "schedule=daily", "storage=local", "all=1", "exclude=103")
    ws = imported_workspace(cli, tmp_path)
    doc = yaml.safe_load((ws / "resources" / "backup-jobs" / "nightly.yaml").read_text())
    assert doc == {
        "kind": "BackupJob",
        "name": "nightly",
        "spec": {
            "schedule": "sat 02:00",
            "vmids": [101, 102],
            "storage": "local",
            "mode": "snapshot",
            "compress": "zstd",
            "enabled": False,
            "retention": {"keep-last": 3, "keep-weekly": 2},
            "comment": "Nightly",
        },
    }
    doc = yaml.safe_load((ws / "resources" / "backup-jobs" / "everything.yaml").read_text())
    assert doc["spec"]["all"] is True and doc["spec"]["exclude"] == [103]
    result = cli("--workspace", str(ws), "plan", "--detailed-exitcode")
    assert result.exit_code == 0, result.output


def test_edit_plans_exactly_that_applies_and_plans_empty(cluster, cli, tmp_path):
    api_post(cli, JOBS, "id=nightly", "schedule=02:30", "storage=local", "vmid=101", "prune-backups=keep-last=3")
    ws = imported_workspace(cli, tmp_path)
    path = ws / "resources" / "backup-jobs" / "nightly.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["spec"]["schedule"] = "03:15"
    doc["spec"]["retention"] = {"keep-last": 5, "keep-daily": 7}
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    result = cli("--workspace", str(ws), "plan", "-o", "json", "--detailed-exitcode")
    assert result.exit_code == 2, result.output
    assert json.loads(result.stdout)["changes"] == [
        {
            "address": "backupjob/nightly",
            "kind": "backupjob",
            "vmid": None,
            "node": None,
            "action": "update",
            "fields": [
                {"name": "retention", "old": "keep-last=3", "new": "keep-daily=7,keep-last=5", "needs_reboot": False},
                {"name": "schedule", "old": "02:30", "new": "03:15", "needs_reboot": False},
            ],
            "digest": None,
        }
    ]
    before = len(cluster.requests)
    result = cli("--workspace", str(ws), "apply", "-y")
    assert result.exit_code == 0, result.output
    assert writes_since(cluster, before) == [
        ("PUT", "/cluster/backup/nightly", {"prune-backups": "keep-daily=7,keep-last=5", "schedule": "03:15"})
    ]
    result = cli("--workspace", str(ws), "plan", "--detailed-exitcode")
    assert result.exit_code == 0, result.output


def test_switching_the_selection_clears_the_old_one(cluster, cli, tmp_path):
    api_post(cli, JOBS, "id=prodjob", "schedule=02:30", "storage=local", "pool=prod")
    ws = imported_workspace(cli, tmp_path)
    path = ws / "resources" / "backup-jobs" / "prodjob.yaml"
    path.write_text("kind: BackupJob\nname: prodjob\nspec:\n  schedule: '02:30'\n  vmids: [101, 201]\n")
    changes = planned(cli, ws)
    assert [(f["name"], f["old"], f["new"]) for f in changes[0]["fields"]] == [
        ("pool", "prod", ""),
        ("vmids", None, "101,201"),
    ]
    before = len(cluster.requests)
    result = cli("--workspace", str(ws), "apply", "-y")
    assert result.exit_code == 0, result.output
    assert writes_since(cluster, before) == [
        ("PUT", "/cluster/backup/prodjob", {"vmid": "101,201", "delete": "pool"})
    ]
    job = cluster.objects("backup")["prodjob"]
    assert job["vmid"] == "101,201" and "pool" not in job
    assert planned(cli, ws) == []


def test_a_new_job_is_created_after_the_guest_it_names_and_destroyed(cluster, cli, tmp_path):
    ws = imported_workspace(cli, tmp_path)
    (ws / "resources" / "vms" / "new-1.yaml").write_text(
        "kind: VM\nname: new-1\nnode: pve1\nvmid: 150\nspec:\n  cores: 1\n  memory: 512\n"
        "  disks: [{slot: scsi0, storage: local-lvm, size: 4G}]\n"
    )
    _job_file(ws, "new").write_text(
        "kind: BackupJob\nname: new\nspec:\n  schedule: mon..fri 22:00\n  vmids: [150, 101]\n  storage: local\n"
    )
    changes = planned(cli, ws)
    assert [(c["address"], c["action"]) for c in changes] == [("backupjob/new", "create"), ("vm/new-1", "create")]
    before = len(cluster.requests)
    result = cli("--workspace", str(ws), "apply", "-y")
    assert result.exit_code == 0, result.output
    writes = [(m, p) for m, p, _ in writes_since(cluster, before)]
    assert writes.index(("POST", "/nodes/pve1/qemu")) < writes.index(("POST", "/cluster/backup"))
    job = cluster.objects("backup")["new"]
    assert job["vmid"] == "101,150" and job["schedule"] == "mon..fri 22:00"
    assert planned(cli, ws) == []
    # pmpc created it: destroy may delete it without --allow-destroy.
    before = len(cluster.requests)
    result = cli("--workspace", str(ws), "destroy", "backupjob/new", "-y")
    assert result.exit_code == 0, result.output
    assert [(m, p) for m, p, _ in writes_since(cluster, before)] == [("DELETE", "/cluster/backup/new")]
    assert "new" not in cluster.objects("backup")


def test_a_reference_to_a_missing_guest_or_pool_is_a_validate_error_before_any_request(cluster, cli, tmp_path):
    ws = imported_workspace(cli, tmp_path)
    path = _job_file(ws, "bad")
    path.write_text("kind: BackupJob\nname: bad\nspec:\n  schedule: '02:30'\n  vmids: [101, 999]\n")
    before = len(cluster.requests)
    result = cli("--workspace", str(ws), "validate")
    assert result.exit_code == 1, result.output
    assert "bad.yaml:5:" in result.stderr
    assert "spec.vmids[1]: no guest 999 in the cluster or the workspace" in result.stderr
    result = cli("--workspace", str(ws), "apply", "-y")
    assert result.exit_code == 1
    assert writes_since(cluster, before) == []
    path.write_text("kind: BackupJob\nname: bad\nspec:\n  schedule: '02:30'\n  pool: nope\n")
    result = cli("--workspace", str(ws), "validate")
    assert result.exit_code == 1, result.output
    assert "spec.pool: no Pool 'nope' in the cluster or the workspace (resources/pools/)" in result.stderr
    assert writes_since(cluster, before) == []


def test_a_bad_schedule_or_selection_is_refused_offline(cluster, cli, tmp_path):
    ws = imported_workspace(cli, tmp_path)
    path = _job_file(ws, "bad")
    path.write_text("kind: BackupJob\nname: bad\nspec:\n  schedule: every night\n  all: true\n")
    result = cli("--workspace", str(ws), "validate", "--offline")
    assert result.exit_code == 1, result.output
    assert "bad.yaml:4:" in result.stderr and "is not a PVE calendar event" in result.stderr
    path.write_text("kind: BackupJob\nname: bad\nspec:\n  schedule: '02:00'\n  all: true\n  pool: prod\n")
    result = cli("--workspace", str(ws), "validate", "--offline")
    assert result.exit_code == 1, result.output
    assert "exactly one of vmids, pool or all" in result.stderr


def test_an_adopted_job_is_protected(cluster, cli, tmp_path):
    api_post(cli, JOBS, "id=theirs", "schedule=02:30", "storage=local", "all=1")
    ws = imported_workspace(cli, tmp_path)
    before = len(cluster.requests)
    result = cli("--workspace", str(ws), "destroy", "backupjob/theirs", "-y")
    assert result.exit_code == 1, result.output
    assert "backupjob/theirs, which pmpc did not create" in result.stderr
    assert writes_since(cluster, before) == []
    result = cli("--workspace", str(ws), "destroy", "backupjob/theirs", "--allow-destroy", "backupjob/theirs", "-y")
    assert result.exit_code == 0, result.output
    assert cluster.objects("backup") == {}


def test_backup_job_list_and_get(cluster, cli):
    api_post(cli, JOBS, "id=nightly", "schedule=02:30", "storage=local", "pool=prod", "exclude=102",
             "comment=Nightly")
    result = cli("backup-job", "list")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "ID       SCHEDULE    SELECTION             STORAGE    MODE      ENABLED    COMMENT",
        "nightly  02:30       pool prod except 102  local      snapshot  true       Nightly",
    ]
    result = cli("backup-job", "list", "-o", "name")
    assert result.stdout == "backupjob/nightly\n"
    result = cli("backup-job", "get", "nightly", "-o", "json")
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)
    assert (row["id"], row["pool"], row["exclude"]) == ("nightly", "prod", "102")
    assert (row["all"], row["enabled"]) == (False, True)
    result = cli("backup-job", "get", "nope")
    assert result.exit_code == 6
    assert "No backupjob 'nope'" in result.stderr
