"""Guest verbs under trouble: locks, slow and failing tasks, permissions, offline nodes, races."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest

from tests.helpers.cluster import TOKEN_ID


def on_fakepve_loop(pve, coro):
    """Run a fakepve scenario coroutine (backup, hold_config_lock...) on the loop that serves the fake."""
    for thread in threading.enumerate():
        if thread.name == f"fakepve-{id(pve)}":
            loop = thread._target.__self__.loop  # the plugin's server thread runs loop.run_forever
            return asyncio.run_coroutine_threadsafe(coro, loop).result(10)
    raise RuntimeError("fakepve server thread not found")


@pytest.mark.fakepve(time_scale=0.01)
def test_backup_lock_held_past_timeout_is_7_naming_the_lock(cluster, cli):
    on_fakepve_loop(cluster, cluster.backup(101, secs=100))
    result = cli("vm", "stop", "web-1", "--timeout", "0.3", "-y")
    assert result.exit_code == 7, result.output
    assert result.stdout == ""
    assert "vm/101 is locked (backup)" in result.stderr
    assert "still locked after 0.3s" in result.stderr
    assert cluster.vm(101).status == "running"


@pytest.mark.fakepve(time_scale=0.01)
def test_backup_lock_released_within_timeout_then_succeeds(cluster, cli):
    on_fakepve_loop(cluster, cluster.backup(101, secs=50))
    result = cli("vm", "stop", "101", "--timeout", "60", "-y")
    assert result.exit_code == 0, result.output
    assert result.stdout == "vm/101 stopped\n"
    assert cluster.vm(101).status == "stopped"


def test_lock_error_answers_are_retried_with_backoff(cluster, cli):
    cluster.fail("POST", "/nodes/pve1/qemu/101/status/stop", 500, "VM is locked (backup)", times=2)
    result = cli("vm", "stop", "101", "--timeout", "60", "-y")
    assert result.exit_code == 0, result.output
    assert result.stdout == "vm/101 stopped\n"
    posts = [p for m, p, _ in cluster.requests if m == "POST" and p.endswith("/status/stop")]
    assert len(posts) == 3


def _unlock_after_failed_task(pve, vmid, task_type):
    """Clear the guest's lock once a `task_type` task of it has failed (deterministic: no timing)."""

    def watch():
        for _ in range(2000):
            if any(
                t["type"] == task_type and t["id"] == str(vmid) and t.get("exitstatus", "OK") != "OK"
                for t in list(pve.tasklog)
            ):
                pve.unlock(vmid)
                return
            threading.Event().wait(0.005)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.mark.fakepve(time_scale=0.01)
def test_lock_checked_inside_the_start_task_is_retried(cluster, cli):
    cluster.snapshot_lock(103, "backup")
    watcher = _unlock_after_failed_task(cluster, 103, "qmstart")
    result = cli("vm", "start", "db-1", "--timeout", "60", "-y", "-o", "json")
    watcher.join(5)
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)[0]
    assert record["ok"] is True and ":qmstart:103:" in record["upid"]
    assert cluster.vm(103).status == "running"
    starts = [t for t in cluster.tasklog if t["type"] == "qmstart"]
    assert len(starts) >= 2 and starts[0]["exitstatus"] == "VM is locked (backup)"


@pytest.mark.fakepve(time_scale=0.01)
def test_config_file_lock_timeout_retried_then_named(cluster, cli):
    on_fakepve_loop(cluster, cluster.hold_config_lock(103, None))
    held = cli("vm", "set", "103", "cores=3", "--timeout", "0.5", "-y")
    assert held.exit_code == 7, held.output
    assert "vm/103 is locked (config)" in held.stderr
    assert "can't lock file" in held.stderr
    assert cluster.vm(103).config["cores"] == 4
    cluster.release_config_lock(103)
    done = cli("vm", "set", "103", "cores=3", "-y")
    assert done.exit_code == 0, done.output
    assert cluster.vm(103).config["cores"] == "3"


@pytest.mark.fakepve(time_scale=0.01)
def test_shutdown_outlasting_its_timeout_is_8_and_force_stop_stops(cluster, cli):
    cluster.vm(101).shutdown_secs = 1000
    cluster.requests.clear()
    result = cli("vm", "shutdown", "web-1", "--timeout", "3", "-y")
    assert result.exit_code == 8, result.output
    assert "did not shut down within 3s" in result.stderr and "--force-stop" in result.stderr
    assert cluster.vm(101).status == "running"
    bodies = [body for m, p, body in cluster.requests if p.endswith("/status/shutdown")]
    assert bodies == [b"timeout=3"]
    forced = cli("vm", "shutdown", "web-1", "--timeout", "3", "--force-stop", "-y")
    assert forced.exit_code == 0, forced.output
    assert forced.stdout == "vm/101 shut down\n"
    assert cluster.vm(101).status == "stopped"


@pytest.mark.fakepve(time_scale=0.01)
def test_task_still_running_at_timeout_is_8(cluster, cli):
    cluster.vm(103).start_secs = 1000
    result = cli("vm", "start", "103", "--timeout", "0.3", "-y")
    assert result.exit_code == 8, result.output
    assert "still running after 0.3s" in result.stderr


def test_task_error_is_1_with_exit_status_and_log_tail(cluster, cli):
    cluster.vm(103).start_error = "unable to activate storage 'local-lvm'"
    result = cli("vm", "start", "103", "-y")
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert (
        "pmpc: error: vm/103: Task qmstart on pve2 failed: unable to activate storage 'local-lvm'."
        in result.stderr
    )
    assert "Last lines of the task log" in result.stderr
    assert "  TASK ERROR: unable to activate storage 'local-lvm'" in result.stderr
    as_json = cli("vm", "start", "103", "-y", "-o", "json")
    assert as_json.exit_code == 1
    record = json.loads(as_json.stdout)[0]
    assert record["ok"] is False and "unable to activate storage" in record["error"]
    assert record["upid"].startswith("UPID:pve2:")
    error = json.loads(as_json.stderr.splitlines()[-1])
    assert error["error"]["kind"] == "task_failed"


def test_limited_token_gets_403_exit_5(cluster, cli, monkeypatch):
    cluster.apitokens["ops@pve!readonly"] = "ro-secret-0001"
    cluster.grant("ops@pve!readonly", "/", "VM.Audit")
    cluster.grant(TOKEN_ID, "/", "VM.Audit")
    monkeypatch.setenv("PMPC_TOKEN_ID", "ops@pve!readonly")
    monkeypatch.setenv("PMPC_TOKEN_SECRET", "ro-secret-0001")
    listed = cli("vm", "list", "-o", "name")
    assert listed.exit_code == 0, listed.output
    assert "vm/101" in listed.stdout
    result = cli("vm", "stop", "101", "-y")
    assert result.exit_code == 5, result.output
    assert "Permission denied" in result.stderr and "VM.PowerMgmt" in result.stderr
    assert cluster.vm(101).status == "running"
    assert "ro-secret-0001" not in result.stdout + result.stderr


def test_offline_node_in_a_batch_is_3_and_the_others_are_done(cluster, cli):
    cluster.set_node_offline("pve3")
    result = cli("vm", "stop", "-l", "template=false", "-y", "-o", "json")
    assert result.exit_code == 3, result.output
    records = {r["target"]: r for r in json.loads(result.stdout)}
    assert set(records) == {"vm/101", "vm/102", "vm/103", "vm/104"}
    assert records["vm/101"]["ok"] and records["vm/101"]["changed"]
    assert records["vm/102"]["ok"] and records["vm/102"]["changed"]
    assert records["vm/103"]["ok"] and not records["vm/103"]["changed"]
    assert records["vm/104"]["ok"] is False and "No route to host" in records["vm/104"]["error"]
    assert "vm/104: error:" in result.stderr
    assert "1 of 4 targets failed: vm/104." in result.stderr
    assert cluster.vm(101).status == "stopped" and cluster.vm(102).status == "stopped"
    table = cli("ct", "stop", "-l", "tag=infra", "-y")
    assert table.exit_code == 3, table.output
    assert table.stdout == "ct/201 stopped\n"
    assert "ct/202: error:" in table.stderr


@pytest.mark.parametrize(
    ("kind", "vmid", "key", "theirs", "ours"),
    [
        ("vm", 103, "memory", "4096", "16384"),
        ("ct", 202, "memory", "2048", "4096"),
    ],
    ids=["vm", "ct"],
)
def test_digest_conflict_on_set_is_7_and_overwrites_nothing(cluster, cli, kind, vmid, key, theirs, ours):
    guest = cluster.guest(vmid)
    real_digest = type(guest).digest
    changed = []

    def digest_then_someone_else_writes():
        digest = real_digest(guest)
        if not changed:
            # Someone else writes right after pmpc read the config (and its digest).
            changed.append(True)
            guest.config[key] = theirs
        return digest

    guest.digest = digest_then_someone_else_writes
    result = cli(kind, "set", str(vmid), f"{key}={ours}", "-y")
    assert result.exit_code == 7, result.output
    assert result.stdout == ""
    assert f"{kind}/{vmid}" in result.stderr
    assert str(guest.config[key]) == theirs
    puts = [body for m, p, body in cluster.requests if m == "PUT" and p.endswith("/config")]
    assert len(puts) == 1 and b"digest=" in puts[0]


@pytest.mark.fakepve(time_scale=0.01)
def test_twenty_concurrent_clones_get_twenty_distinct_vmids(cluster, cli):
    result = cli(
        "vm",
        "clone",
        "ubuntu-tmpl",
        "--name",
        "farm",
        "--count",
        "20",
        "--concurrency",
        "20",
        "--full",
        "-y",
        "-o",
        "json",
    )
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    vmids = [r["vmid"] for r in records]
    assert len(records) == 20 and len(set(vmids)) == 20
    assert all(r["ok"] for r in records)
    assert {cluster.vm(v).name for v in vmids} == {f"farm-{i}" for i in range(1, 21)}
    clone_posts = [p for m, p, _ in cluster.requests if m == "POST" and p.endswith("/clone")]
    assert len(clone_posts) == 20


def test_vmid_collision_is_retried_with_a_new_id(cluster, cli):
    cluster.fail(
        "POST",
        "/nodes/pve1/qemu/9000/clone",
        500,
        "unable to create VM 100: config file already exists",
        times=1,
    )
    result = cli("vm", "clone", "9000", "--name", "racer", "-y", "-o", "json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)[0]
    assert record["vmid"] != 100
    assert cluster.vm(record["vmid"]).name == "racer"
    clone_posts = [p for m, p, _ in cluster.requests if m == "POST" and p.endswith("/clone")]
    assert len(clone_posts) == 2
