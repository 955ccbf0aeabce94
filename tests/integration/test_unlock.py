"""`pmpc vm|ct unlock` against fakepve: clears the lock the locked-vm scenario sets, refuses while a task holds it."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qs

from tests.integration.test_guest_safety import _run_on_tty


def _puts(pve):
    return [(p.removeprefix("/api2/json"), parse_qs(b.decode())) for m, p, b in pve.requests if m == "PUT"]


def _running_task(pve, node, ttype, vmid):
    start = int(time.time())
    upid = f"UPID:{node}:00000ABC:00001000:{start:08X}:{ttype}:{vmid}:root@pam:"
    pve.tasklog.append(
        {"upid": upid, "node": node, "pid": 2748, "pstart": 4096, "starttime": start, "type": ttype,
         "id": str(vmid), "user": "root@pam", "status": "running", "log": []}
    )
    return upid


def test_unlock_clears_the_lock_of_the_locked_vm_scenario(day2_cluster, cli):
    day2_cluster.snapshot_lock(101)
    digest = day2_cluster.vm(101).digest()
    result = cli("vm", "unlock", "web-1", "-y")
    assert result.exit_code == 0, result.output
    assert result.stdout == "vm/101 unlocked (was snapshot)\n"
    assert _puts(day2_cluster) == [
        ("/nodes/pve1/qemu/101/config", {"delete": ["lock"], "skiplock": ["1"], "digest": [digest]})
    ]
    assert day2_cluster.vm(101).lock is None and "lock" not in day2_cluster.vm(101).config
    again = cli("vm", "unlock", "101", "-y", "-o", "json")
    assert again.exit_code == 0, again.output
    record = json.loads(again.stdout)[0]
    assert record["changed"] is False and record["ok"] is True


def test_unlock_refuses_while_the_lock_s_task_runs_unless_forced(day2_cluster, cli):
    day2_cluster.snapshot_lock(101, lock="backup")
    upid = _running_task(day2_cluster, "pve1", "vzdump", 101)
    refused = cli("vm", "unlock", "101", "-y")
    assert refused.exit_code == 7, refused.output
    assert f"locked (backup) by a task that is still running ({upid})" in refused.stderr
    assert "--force" in refused.stderr
    assert _puts(day2_cluster) == []
    forced = cli("vm", "unlock", "101", "--force", "-y")
    assert forced.exit_code == 0, forced.output
    assert day2_cluster.vm(101).lock is None


def test_a_finished_task_of_another_kind_does_not_hold_the_lock(day2_cluster, cli):
    day2_cluster.snapshot_lock(101, lock="backup")
    _running_task(day2_cluster, "pve1", "qmstart", 101)
    result = cli("vm", "unlock", "101", "-y")
    assert result.exit_code == 0, result.output


def test_an_api_token_cannot_skiplock_and_exits_5(cluster, cli):
    cluster.snapshot_lock(101)
    result = cli("vm", "unlock", "101", "-y")
    assert result.exit_code == 5, result.output
    assert "allows only for root@pam" in result.stderr and "root@pam!pmpc" in result.stderr
    assert {m for m, _, _ in cluster.requests} <= {"GET"}
    assert cluster.vm(101).lock == "snapshot"
    dry = cli("vm", "unlock", "101", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "PUT /nodes/pve1/qemu/101/config delete=lock skiplock=1" in dry.stdout


def test_a_locked_container_names_the_pct_command(day2_cluster, cli):
    day2_cluster.ct(202).lock = "backup"
    result = cli("ct", "unlock", "cache-1", "-y")
    assert result.exit_code == 1, result.output
    assert "run `pct unlock 202` on pve3" in result.stderr
    assert _puts(day2_cluster) == []
    assert cli("ct", "unlock", "201", "-y").stdout == "ct/201 not locked\n"


def test_confirmation_names_the_lock(day2_cluster):
    day2_cluster.snapshot_lock(101, lock="migrate")
    result, asked = _run_on_tty(["vm", "unlock", "101"], answer=False)
    assert result.exit_code == 4, result.output
    assert asked == ["Unlock 1 target(s)?"]
    assert "About to unlock:\n  vm/101 (web-1) on pve1: lock migrate\n" in result.stderr
    assert day2_cluster.vm(101).lock == "migrate"
