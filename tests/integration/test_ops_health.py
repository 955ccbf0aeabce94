"""`pmpc health` against a fakepve cluster: each check's OK/WARN/FAIL and the exit code they lead to."""

from __future__ import annotations

import json
import time

import pytest

GIB = 1024**3


def checks_of(result) -> dict[str, dict]:
    data = json.loads(result.stdout)
    return {c["name"]: c for c in data["checks"]}


def fill(pve, storage: str, used_gib: int, total_gib: int = 100) -> None:
    """Make a storage hold `used_gib` of `total_gib` (fakepve counts its stored volumes as used)."""
    store = pve.storages[storage]
    store["total"] = total_gib * GIB
    store.pop("avail", None)
    store["volumes"] = {
        "iso/filler.iso": {"content": "iso", "size": used_gib * GIB, "ctime": 0, "format": "iso"}
    }


def test_healthy_cluster_passes_and_lists_every_check(cluster, cli):
    result = cli("health", "-o", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    checks = {c["name"]: c for c in data["checks"]}
    # "tls" added by issue 12: insecure TLS is never silent.
    assert list(checks) == ["api", "quorum", "nodes", "storage", "ha", "tasks", "onboot", "state", "tls"]
    for name in ("api", "quorum", "nodes", "storage", "ha", "tasks", "onboot", "tls"):
        assert checks[name]["status"] == "OK", checks[name]
    assert "3/3 nodes online" in checks["quorum"]["message"]
    # No sync yet: the state database does not exist, which is worth a warning, not a failure.
    assert checks["state"]["status"] in ("OK", "WARN")
    assert data["status"] in ("OK", "WARN")
    assert result.stderr == ""


def test_table_output_has_one_row_per_check(cluster, cli):
    result = cli("health")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["CHECK", "STATUS", "MESSAGE"]
    rows = {line.split()[0]: line.split()[1] for line in lines[1:]}
    assert rows["quorum"] == "OK" and rows["nodes"] == "OK"
    assert len(rows) == 9


def test_lost_quorum_fails_with_exit_1(cluster, cli):
    cluster.lose_quorum()
    result = cli("health", "-o", "json")
    assert result.exit_code == 1, result.output
    checks = checks_of(result)
    assert checks["quorum"]["status"] == "FAIL"
    assert "lost quorum" in checks["quorum"]["message"]
    assert json.loads(result.stdout)["status"] == "FAIL"
    first = result.stderr.splitlines()[0]
    assert first == "pmpc: error: 1 health check(s) failed: quorum."


def test_offline_node_fails_and_its_storage_is_not_checked(cluster, cli):
    cluster.set_node_offline("pve3")
    result = cli("health", "-o", "json")
    assert result.exit_code == 1, result.output
    checks = checks_of(result)
    assert checks["nodes"]["status"] == "FAIL"
    assert checks["nodes"]["items"] == ["node/pve3"]
    assert checks["quorum"]["status"] == "OK"
    assert "2/3 nodes online" in checks["quorum"]["message"]
    assert "pve3" not in " ".join(checks["storage"]["items"])
    assert result.stderr.startswith("pmpc: error: 1 health check(s) failed: nodes.")


def test_full_storage_fails_and_a_filling_one_warns(cluster, cli):
    fill(cluster, "local", 97)
    fill(cluster, "local-lvm", 85)
    result = cli("health", "-o", "json")
    assert result.exit_code == 1, result.output
    storage = checks_of(result)["storage"]
    assert storage["status"] == "FAIL"
    assert "pve1/local 97%" in storage["items"]
    assert "pve1/local-lvm 85%" in storage["items"]
    assert "at or over 95%" in storage["message"] and "over 80%" in storage["message"]


def test_storage_warning_alone_exits_0(cluster, cli):
    fill(cluster, "local-lvm", 85)
    result = cli("health", "-o", "json")
    assert result.exit_code == 0, result.output
    assert checks_of(result)["storage"]["status"] == "WARN"


def test_storage_thresholds_are_flags(cluster, cli):
    fill(cluster, "local-lvm", 85)
    relaxed = cli("health", "--storage-warn", "90", "-o", "json")
    assert relaxed.exit_code == 0, relaxed.output
    assert checks_of(relaxed)["storage"]["status"] == "OK"
    strict = cli("health", "--storage-fail", "80", "--storage-warn", "70", "-o", "json")
    assert strict.exit_code == 1, strict.output
    assert checks_of(strict)["storage"]["status"] == "FAIL"


def test_warn_above_fail_is_a_usage_error(cluster, cli):
    result = cli("health", "--storage-warn", "96")
    assert result.exit_code == 64
    assert result.stdout == ""
    assert "--storage-warn (96) must not be above --storage-fail (95)" in result.stderr
    assert not cluster.requests


def test_onboot_guest_that_is_stopped_warns(cluster, cli):
    cluster.vm(103).config["onboot"] = 1
    result = cli("health", "-o", "json")
    assert result.exit_code == 0, result.output
    onboot = checks_of(result)["onboot"]
    assert onboot["status"] == "WARN"
    assert onboot["items"] == ["vm/103 (db-1)"]


def test_failed_task_of_the_last_day_warns(cluster, cli):
    now = int(time.time())
    cluster.tasklog.append(
        {
            "upid": f"UPID:pve2:00000F00:00006900:{now - 60:08X}:qmstart:103:root@pam:",
            "node": "pve2",
            "pid": 3840,
            "pstart": 26880,
            "starttime": now - 60,
            "type": "qmstart",
            "id": "103",
            "user": "root@pam",
            "status": "stopped",
            "exitstatus": "start failed: disk missing",
            "endtime": now - 59,
            "log": [],
        }
    )
    result = cli("health", "-o", "json")
    assert result.exit_code == 0, result.output
    tasks = checks_of(result)["tasks"]
    assert tasks["status"] == "WARN"
    assert tasks["items"] == ["qmstart 103 on pve2: start failed: disk missing"]


def test_ha_resource_in_error_fails(cluster, cli):
    cluster.vm(102).ha_state = "error"
    result = cli("health", "-o", "json")
    assert result.exit_code == 1, result.output
    ha = checks_of(result)["ha"]
    assert ha["status"] == "FAIL"
    assert ha["items"] == ["vm/102 error"]


def test_unreachable_cluster_fails_every_cluster_check_but_reports_the_state_store(cluster, cli, monkeypatch):
    monkeypatch.setenv("PMPC_HOST", "https://127.0.0.1:9")
    result = cli("health", "-o", "json")
    assert result.exit_code == 1, result.output
    checks = checks_of(result)
    assert checks["api"]["status"] == "FAIL"
    assert "Cannot connect" in checks["api"]["message"]
    assert all(checks[n]["status"] == "FAIL" for n in ("quorum", "nodes", "storage", "ha", "tasks", "onboot"))
    assert checks["state"]["status"] in ("OK", "WARN")


def test_health_reads_only(cluster, cli):
    cluster.lose_quorum()
    cli("health")
    assert {method for method, _path, _body in cluster.requests} <= {"GET"}


@pytest.mark.parametrize("fmt", ["yaml", "name"])
def test_other_formats(cluster, cli, fmt):
    result = cli("health", "-o", fmt)
    assert result.exit_code == 0, result.output
    if fmt == "name":
        assert result.stdout.startswith("health/")
    else:
        assert "checks:" in result.stdout


def test_state_store_after_a_sync_is_ok_and_at_head(cluster, cli):
    synced = cli("sync")
    assert synced.exit_code == 0, synced.output
    result = cli("health", "-o", "json")
    assert result.exit_code == 0, result.output
    state = checks_of(result)["state"]
    assert state["status"] == "OK"
    assert "(head)" in state["message"]
    assert json.loads(result.stdout)["status"] == "OK"


def test_unreachable_state_store_fails_only_its_check(cluster, cli, monkeypatch):
    monkeypatch.setenv("PMPC_DATABASE_URL", "postgresql+psycopg://pmpc:pw-xyz@127.0.0.1:9/pmpc")
    result = cli("health", "-o", "json")
    assert result.exit_code == 1, result.output
    checks = checks_of(result)
    assert checks["state"]["status"] == "FAIL"
    assert checks["quorum"]["status"] == "OK"
    assert "pw-xyz" not in result.stdout + result.stderr
