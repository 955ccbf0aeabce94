"""Dry run sends only reads, for every mutating verb of both kinds; confirmation prompts or refuses."""

from __future__ import annotations

import io
import json

import pytest

from proxmox_mpc.cli import run_cli
from proxmox_mpc.config import load_settings
from proxmox_mpc.context import AppContext
from tests.helpers.cluster import PASSWORD
from tests.helpers.runner import Result

CT_TEMPLATE = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"

MUTATING = [
    ("vm", ("start", "103")),
    ("vm", ("stop", "101")),
    ("vm", ("shutdown", "101", "--force-stop")),
    ("vm", ("reboot", "101")),
    ("vm", ("suspend", "102")),
    ("vm", ("resume", "101")),
    ("vm", ("delete", "103", "--purge")),
    ("vm", ("set", "101", "memory=4096", "--delete", "onboot")),
    ("vm", ("resize", "103", "scsi0", "+1G")),
    ("vm", ("migrate", "101", "--target", "pve2")),
    ("vm", ("snapshot", "create", "101", "fresh")),
    ("vm", ("snapshot", "rollback", "101", "old")),
    ("vm", ("snapshot", "delete", "101", "old")),
    (
        "vm",
        ("create", "--name", "new-1", "--node", "pve1", "--disk", "local-lvm:8G", "--net", "bridge=vmbr0"),
    ),
    ("vm", ("clone", "ubuntu-tmpl", "--name", "copy", "--count", "2")),
    ("ct", ("start", "202")),
    ("ct", ("stop", "201")),
    ("ct", ("shutdown", "201")),
    ("ct", ("reboot", "201")),
    ("ct", ("suspend", "201")),
    ("ct", ("resume", "202")),
    ("ct", ("delete", "202")),
    ("ct", ("set", "201", "memory=1024")),
    ("ct", ("resize", "201", "rootfs", "+1G")),
    ("ct", ("migrate", "202", "--target", "pve1")),
    ("ct", ("snapshot", "create", "201", "fresh")),
    ("ct", ("snapshot", "rollback", "201", "old")),
    ("ct", ("snapshot", "delete", "201", "old")),
    ("ct", ("create", "--hostname", "new-ct", "--node", "pve2", "--ostemplate", CT_TEMPLATE)),
    ("ct", ("clone", "dns-1", "--name", "copy")),
    ("vm", ("backup", "101", "--storage", "local")),
    ("ct", ("backup", "201", "--storage", "local", "--mode", "stop")),
    ("backup", ("delete", "local:backup/vzdump-qemu-101-2026_12_06-03_54_36.vma.zst")),
    ("vm", ("restore", "local:backup/vzdump-qemu-101-2026_12_06-03_54_36.vma.zst", "--vmid", "150")),
    ("ct", ("restore", "local:backup/vzdump-lxc-201-2026_12_06-03_54_36.tar.zst", "--vmid", "201", "--force")),
    ("vm", ("unlock", "104")),
    ("node", ("drain", "pve3", "--include-stopped", "--with-local-disks")),
]
# The verbs of the day-2 operations (issue 17): each refuses without a TTY and without --yes. (`ct unlock`
# has nothing to send: PVE's API cannot clear a container's lock; tests/integration/test_unlock.py.)
DAY2 = MUTATING[-7:]
IDS = [f"{kind}-{'-'.join(a for a in args[:2] if not a[0].isdigit())}" for kind, args in MUTATING]


@pytest.fixture
def prepared(cluster):
    cluster.vm(101).qmpstatus = "paused"
    cluster.vm(101).snapshots["old"] = {"snaptime": 1700000000}
    cluster.ct(201).snapshots["old"] = {"snaptime": 1700000000}
    cluster.snapshot_lock(104, lock="backup")
    cluster.storages["local"]["volumes"] = {
        "backup/vzdump-qemu-101-2026_12_06-03_54_36.vma.zst": {
            "content": "backup", "format": "vma.zst", "size": 1024, "ctime": 1796529276, "vmid": 101
        },
        "backup/vzdump-lxc-201-2026_12_06-03_54_36.tar.zst": {
            "content": "backup", "format": "tar.zst", "size": 1024, "ctime": 1796529276, "vmid": 201
        },
    }
    cluster.requests.clear()
    return cluster


@pytest.mark.parametrize(("kind", "args"), MUTATING, ids=IDS)
@pytest.mark.parametrize("fmt", ["table", "json"])
def test_dry_run_sends_only_gets(prepared, cli, kind, args, fmt):
    before = {g.vmid: (g.status, dict(g.config)) for g in prepared.vms + prepared.cts}
    result = cli(kind, *args, "--dry-run", "-o", fmt)
    assert result.exit_code == 0, result.output
    assert {method for method, _, _ in prepared.requests} <= {"GET"}
    assert prepared.requests, "planning reads the cluster"
    after = {g.vmid: (g.status, dict(g.config)) for g in prepared.vms + prepared.cts}
    assert after == before
    if fmt == "json":
        records = json.loads(result.stdout)
        assert records and all(r["dry_run"] is True for r in records)
        assert all(r["requests"] for r in records)
        for record in records:
            for request in record["requests"]:
                assert request["method"] in ("POST", "PUT", "DELETE")
                assert request["path"].startswith("/nodes/")
    else:
        lines = result.stdout.splitlines()
        assert any(line.endswith("(dry run)") for line in lines)
        assert any(line.startswith(("  POST /nodes/", "  PUT /nodes/", "  DELETE /nodes/")) for line in lines)


def test_dry_run_shows_the_digest_and_hides_secrets(cluster, cli, tmp_path):
    digest = cluster.vm(101).digest()
    result = cli("vm", "set", "101", "memory=4096", "--dry-run", "-o", "json")
    assert result.exit_code == 0, result.output
    request = json.loads(result.stdout)[0]["requests"][0]
    assert request == {
        "method": "PUT",
        "path": "/nodes/pve1/qemu/101/config",
        "params": {"memory": "4096", "digest": digest},
    }
    password = tmp_path / "pw"
    password.write_text("hunter2-secret\n")
    created = cli(
        "ct",
        "create",
        "--hostname",
        "ct-x",
        "--node",
        "pve1",
        "--ostemplate",
        CT_TEMPLATE,
        "--password-file",
        str(password),
        "--dry-run",
    )
    assert created.exit_code == 0, created.output
    assert "hunter2-secret" not in created.stdout + created.stderr
    assert "password=<redacted>" in created.stdout


def test_dry_run_table_wording(cluster, cli):
    result = cli("vm", "start", "103", "101", "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "vm/103 started (dry run)\n"
        "  POST /nodes/pve2/qemu/103/status/start\n"
        "vm/101 already running (dry run)\n"
    )


def test_no_tty_without_yes_refuses_with_4(cluster, cli):
    cluster.requests.clear()
    result = cli("vm", "stop", "-l", "tag=web")
    assert result.exit_code == 4
    assert result.stdout == ""
    assert "pass --yes" in result.stderr
    assert {m for m, _, _ in cluster.requests} <= {"GET"}
    assert cluster.vm(101).status == "running"


@pytest.mark.parametrize(("kind", "args"), DAY2, ids=[f"{k}-{a[0]}" for k, a in DAY2])
def test_day2_verbs_refuse_without_tty_or_yes(prepared, cli, kind, args, monkeypatch):
    # As root@pam by password, whom PVE lets unlock (skiplock): the refusal is the missing --yes alone.
    monkeypatch.delenv("PMPC_TOKEN_ID")
    monkeypatch.setenv("PMPC_USER", "root@pam")
    monkeypatch.setenv("PMPC_PASSWORD", PASSWORD)
    result = cli(kind, *args)
    assert result.exit_code == 4, result.output
    assert result.stdout == ""
    assert "pass --yes" in result.stderr
    assert [(m, p) for m, p, _ in prepared.requests if m != "GET" and not p.endswith("/access/ticket")] == []


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _run_on_tty(args, answer):
    asked = []
    out, err = io.StringIO(), _Tty()

    def prompt(question):
        asked.append(question)
        return answer

    app_ctx = AppContext(
        loader=lambda: load_settings({"context": None}, None),
        out=out,
        err=err,
        stdin_tty=True,
        no_color=True,
        prompt=prompt,
    )
    code = run_cli(list(args), obj=app_ctx)
    return Result(code, out.getvalue(), err.getvalue()), asked


def test_tty_prompt_lists_targets_and_declining_changes_nothing(cluster):
    result, asked = _run_on_tty(["vm", "stop", "-l", "tag=web"], answer=False)
    assert result.exit_code == 4, result.output
    assert asked == ["Stop 2 target(s)?"]
    assert "About to stop:\n  vm/101 (web-1) on pve1\n  vm/102 (web-2) on pve2\n" in result.stderr
    assert result.stdout == ""
    assert cluster.vm(101).status == "running" and cluster.vm(102).status == "running"


def test_tty_prompt_accepted_runs(cluster):
    result, asked = _run_on_tty(["ct", "stop", "dns-1"], answer=True)
    assert result.exit_code == 0, result.output
    assert asked == ["Stop 1 target(s)?"]
    assert result.stdout == "ct/201 stopped\n"
    assert cluster.ct(201).status == "stopped"


def test_nothing_to_do_needs_no_confirmation(cluster, cli):
    result = cli("vm", "start", "101")
    assert result.exit_code == 0, result.output
    assert result.stdout == "vm/101 already running\n"


def test_selector_matching_nothing(cluster, cli):
    result = cli("vm", "stop", "-l", "tag=none", "-y")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert result.stderr == "No VMs matched.\n"


def test_targets_and_selector_together_is_usage_error(cluster, cli):
    result = cli("vm", "stop", "101", "-l", "tag=web", "-y")
    assert result.exit_code == 64
    assert "not both" in result.stderr
    missing = cli("vm", "stop", "-y")
    assert missing.exit_code == 64
    assert "Name at least one VM" in missing.stderr


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (("vm", "create", "--name", "x", "--node", "pve1", "--disk", "local-lvm:big"), "--disk"),
        (("vm", "create", "--name", "x", "--node", "pve1", "--net", "model=virtio"), "--net"),
        (("vm", "create", "--name", "bad_name", "--node", "pve1"), "--name"),
        (("vm", "create", "--name", "x", "--node", "pve1", "--memory", "4"), "--memory"),
        (("vm", "create", "--name", "x", "--node", "pve1", "--cloud-init", "ip=10.0.0.5"), "--cloud-init"),
        (("vm", "create", "--name", "x", "--node", "pve1", "--tag", "a b!"), "--tag"),
        (
            ("ct", "create", "--hostname", "x", "--node", "pve1", "--ostemplate", "local:iso/x.iso"),
            "--ostemplate",
        ),
        (
            (
                "ct",
                "create",
                "--hostname",
                "x",
                "--node",
                "pve1",
                "--ostemplate",
                CT_TEMPLATE,
                "--net",
                "bridge=vmbr0,ip=dhcpx",
            ),
            "--net",
        ),
        (("vm", "clone", "9000", "--name", "c", "--linked", "--storage", "local-lvm"), "--storage"),
        (("vm", "set", "101", "memory"), "KEY=VALUE"),
        (("vm", "resize", "101", "scsi0", "+lots"), "SIZE"),
    ],
    ids=[
        "disk",
        "net",
        "name",
        "memory",
        "cloud-init",
        "tag",
        "ostemplate",
        "ct-net",
        "clone-storage",
        "set",
        "resize",
    ],
)
def test_bad_flags_are_64_before_any_request(cluster, cli, args, flag):
    cluster.requests.clear()
    result = cli(*args, "-y")
    assert result.exit_code == 64, result.output
    assert result.stdout == ""
    assert flag in result.stderr
    assert cluster.requests == []
