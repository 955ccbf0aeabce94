"""The pure parts of health, logs, report and test: table-driven."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from proxmox_mpc.core.manifest import CtManifest, VmManifest
from proxmox_mpc.errors import UsageError
from proxmox_mpc.services import health, infra_test, logs, report

FINGERPRINT = ":".join(["DB", "CD", "3A", "B4"] * 8)
NOW = datetime(2026, 1, 2, 12, 0, tzinfo=timezone.utc)


# ----------------------------------------------------------------------------- report


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["vm", "list"], ["vm", "list"]),
        (
            ["config", "set-context", "x", "--token-secret", "abc"],
            ["config", "set-context", "x", "--token-secret", "********"],
        ),
        (["--password=abc", "vm"], ["--password=********", "vm"]),
        (
            ["vm", "set", "101", "cipassword=abc", "memory=2048"],
            ["vm", "set", "101", "cipassword=********", "memory=2048"],
        ),
        (["vm", "list", "--selector", "name=secret-box"], ["vm", "list", "--selector", "name=secret-box"]),
    ],
    ids=["plain", "option-value", "option-equals", "key-value", "value-is-not-a-key"],
)
def test_redact_argv(argv, expected):
    assert report.redact_argv(argv) == expected


def test_anonymiser_replaces_consistently():
    anon = report.Anonymiser(
        hosts=["pve1", "pve10", "cluster-a"], guests=["web-1", "web-10"], secrets=["s3cr3t"]
    )
    text = anon.apply(
        "pve1 and pve10 run web-1, web-10 and web-1 again; web-1b stays; pve1.example.org\n"
        "ip 192.0.2.11 and 192.0.2.11 and 10.0.0.5/24, v6 fe80::1 and 2001:db8::7, mac BC:24:11:00:01:01\n"
        "version 9.0.10 and file state.db and token s3cr3t and time 01:32:05\n"
        f"fingerprint {FINGERPRINT}"
    )
    assert "host-1 and host-2 run guest-1, guest-2 and guest-1 again; web-1b stays; host-3" in text
    assert "ip ip-1 and ip-1 and ip-2/24, v6 ip-3 and ip-4, mac mac-1" in text
    assert "version 9.0.10 and file state.db and token ******** and time 01:32:05" in text
    assert f"fingerprint {FINGERPRINT}" in text


def test_issue_title():
    assert report.issue_title(None) == "pmpc: bug report"
    title = report.issue_title({"argv": ["vm", "start", "web-1", "-y"], "message": "x" * 200})
    assert title.startswith("pmpc vm start web-1: xxx") and len(title) == report.TITLE_MAX


def test_error_log_keeps_the_last_entries(isolated_env):
    for n in range(report.ERROR_LOG_KEEP + 5):
        report.remember_error(["vm", "get", str(n)], UsageError(f"error {n}"), 64)
    errors = report.read_errors(limit=1000)
    assert len(errors) == report.ERROR_LOG_KEEP
    assert errors[-1]["message"] == f"error {report.ERROR_LOG_KEEP + 4}"
    assert report.error_log_path().stat().st_mode & 0o777 == 0o600


# ----------------------------------------------------------------------------- logs


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", NOW - timedelta(minutes=30)),
        ("1h", NOW - timedelta(hours=1)),
        ("2d", NOW - timedelta(days=2)),
        ("1w", NOW - timedelta(weeks=1)),
        ("45s", NOW - timedelta(seconds=45)),
        ("2026-01-01T10:00:00Z", datetime(2026, 1, 1, 10, 0, tzinfo=timezone.utc)),
        ("2026-01-01", datetime(2026, 1, 1, tzinfo=timezone.utc)),
    ],
)
def test_parse_since(text, expected):
    assert logs.parse_since(text, NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "1y", "-1h", ""])
def test_parse_since_rejects(text):
    with pytest.raises(UsageError):
        logs.parse_since(text, NOW)


@pytest.mark.parametrize(
    ("task", "status"),
    [
        ({"status": "OK"}, "ok"),
        ({"status": "WARNINGS: 2"}, "ok"),
        ({"status": "command 'qm start' failed"}, "error"),
        ({}, "running"),
        ({"status": "running"}, "running"),
    ],
)
def test_task_status(task, status):
    assert logs.task_status(task) == status


# ----------------------------------------------------------------------------- health


def test_quorum_check():
    status = [
        {"type": "cluster", "name": "c1", "quorate": 0},
        {"type": "node", "online": 1},
        {"type": "node", "online": 0},
        {"type": "node", "online": 0},
    ]
    assert health.check_quorum(status).status == "FAIL"
    status[0]["quorate"] = "1"  # PVE may send numbers as strings
    check = health.check_quorum(status)
    assert check.status == "OK" and "1/3 nodes online" in check.message
    assert health.check_quorum([{"type": "node", "online": 1}]).status == "OK"


def test_storage_check_counts_shared_storage_once_and_skips_disabled():
    limits = health.Thresholds()
    shared = {"storage": "ceph", "shared": 1, "total": 100, "used": 96, "active": 1}
    per_node = {
        "pve1": [shared, {"storage": "local", "total": 100, "used": 10}],
        "pve2": [
            shared,
            {"storage": "local", "total": 100, "used": 81},
            {"storage": "nfs", "total": 100, "used": 99, "enabled": 0},
        ],
    }
    check = health.check_storages(per_node, limits, [])
    assert check.status == "FAIL"
    assert check.items == ["ceph 96%", "pve2/local 81%"]


def test_inactive_storage_warns():
    check = health.check_storages(
        {"pve1": [{"storage": "nfs", "active": 0, "total": 0}]}, health.Thresholds(), []
    )
    assert check.status == "WARN" and check.items == ["pve1/nfs"]


@pytest.mark.parametrize(
    ("states", "status"),
    [([], "OK"), (["started"], "OK"), (["started", "recovery"], "WARN"), (["fence", "freeze"], "FAIL")],
)
def test_ha_check(states, status):
    resources = [{"type": "qemu", "vmid": 100 + i, "hastate": s} for i, s in enumerate(states)]
    assert health.check_ha(resources).status == status


@pytest.mark.parametrize(("latency", "status"), [(0.05, "OK"), (1.5, "WARN"), (6.0, "FAIL")])
def test_latency_check(latency, status):
    assert health.check_latency(latency, health.Thresholds()).status == status


def test_worst():
    assert health.worst([]) == "OK"
    assert health.worst(["OK", "WARN"]) == "WARN"
    assert health.worst(["WARN", "FAIL", "OK"]) == "FAIL"


# ----------------------------------------------------------------------------- pmpc test


def vm(**spec) -> VmManifest:
    return VmManifest.model_validate({"name": "web-1", "node": "pve1", "vmid": 101, "spec": spec})


RUNNING = {"type": "qemu", "vmid": 101, "name": "web-1", "node": "pve1", "status": "running", "template": 0}


@pytest.mark.parametrize(
    ("manifest", "observed", "config", "failed"),
    [
        (
            vm(state="running", cores=2, memory=2048, tags=["Web"]),
            RUNNING,
            {"cores": 2, "memory": "2048", "tags": "web"},
            [],
        ),
        (vm(state="stopped"), RUNNING, {}, ["state: want stopped, got running"]),
        (vm(cores=4), RUNNING, {}, ["cores: want 4, got 1"]),
        (vm(memory=4096), RUNNING, {"memory": 2048}, ["memory: want 4096, got 2048"]),
        (vm(tags=["a", "b"]), RUNNING, {"tags": "b;c"}, ["tags: want ['a', 'b'], got ['b', 'c']"]),
        (vm(), dict(RUNNING, node="pve2"), {}, ["node: want pve1, got pve2"]),
        (vm(), None, {}, ["does not exist on the cluster"]),
        (vm(state="absent"), None, {}, []),
        (vm(state="absent"), RUNNING, {}, ["exists but should be absent"]),
    ],
    ids=["match", "state", "cores-default", "memory", "tags", "node", "missing", "absent-ok", "absent-bad"],
)
def test_check_guest(manifest, observed, config, failed):
    checks = infra_test.check_guest(manifest, observed, config)
    assert [c.message for c in checks if not c.ok] == failed


def test_container_against_a_vm_of_the_same_vmid_fails_on_kind():
    manifest = CtManifest.model_validate({"name": "web-1", "node": "pve1", "vmid": 101})
    checks = infra_test.check_guest(manifest, RUNNING, {})
    assert [c.message for c in checks if not c.ok] == ["kind: want lxc, got qemu"]


def test_find_observed_by_name_needs_one_match():
    manifest = VmManifest.model_validate({"name": "web-1", "node": "pve1"})
    twice = [RUNNING, dict(RUNNING, vmid=102)]
    assert infra_test.find_observed(manifest, [RUNNING]) == RUNNING
    assert infra_test.find_observed(manifest, twice) is None


def test_parse_junit_groups_by_parameter():
    xml = """<testsuites><testsuite>
      <testcase classname="test_guests" name="test_power_state[web-1]"/>
      <testcase classname="test_guests" name="test_power_state[web-2]">
        <failure message="assert 'stopped' == 'running'&#10;more">x</failure></testcase>
      <testcase classname="test_guests" name="test_cores[web-2]"/>
      <testcase classname="test_guests" name="test_tags[web-1]"><skipped/></testcase>
      <testcase classname="pkg.test_other" name="test_plain"><error message="boom"/></testcase>
    </testsuite></testsuites>"""
    groups = {g.guest: g for g in infra_test.parse_junit(xml)}
    assert groups["web-1"].result == "pass" and groups["web-1"].passed == 1
    assert groups["web-2"].result == "fail" and groups["web-2"].passed == 1
    assert groups["web-2"].details == "test_power_state: assert 'stopped' == 'running'"
    assert groups["test_other"].details == "test_plain: boom"
