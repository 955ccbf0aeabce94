"""Every `pmpc vm|ct` verb against fakepve: the change lands, the result says so, repeats are no-ops."""

from __future__ import annotations

import json

import pytest

CT_TEMPLATE = "debian-12-standard_12.7-1_amd64.tar.zst"


def _one(result):
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert len(records) == 1
    record = records[0]
    assert set(record) == {"target", "kind", "vmid", "node", "action", "ok", "changed", "upid", "error"}
    return record


def _writes(pve):
    return [(m, p.removeprefix("/api2/json"), body) for m, p, body in pve.requests if m != "GET"]


def _guest(pve, vmid):
    return pve.guest(vmid)


VERBS = [
    # (kind, args, check on the fake after the verb)
    ("vm", ("start", "103"), lambda pve: pve.vm(103).status == "running"),
    ("vm", ("stop", "web-1"), lambda pve: pve.vm(101).status == "stopped"),
    ("vm", ("shutdown", "102"), lambda pve: pve.vm(102).status == "stopped"),
    ("vm", ("reboot", "101"), lambda pve: pve.vm(101).status == "running"),
    ("vm", ("suspend", "101"), lambda pve: pve.vm(101).qmpstatus == "paused"),
    ("vm", ("delete", "103"), lambda pve: pve.vm(103) is None),
    ("vm", ("set", "103", "cores=8", "description=db"), lambda pve: pve.vm(103).config["cores"] == "8"),
    ("vm", ("snapshot", "create", "103", "before"), lambda pve: "before" in pve.vm(103).snapshots),
    ("ct", ("start", "202"), lambda pve: pve.ct(202).status == "running"),
    ("ct", ("stop", "dns-1"), lambda pve: pve.ct(201).status == "stopped"),
    ("ct", ("shutdown", "201"), lambda pve: pve.ct(201).status == "stopped"),
    ("ct", ("reboot", "201"), lambda pve: pve.ct(201).status == "running"),
    ("ct", ("suspend", "201"), lambda pve: pve.ct(201).checkpoint),
    ("ct", ("delete", "202"), lambda pve: pve.ct(202) is None),
    ("ct", ("set", "202", "memory=2048"), lambda pve: str(pve.ct(202).config["memory"]) == "2048"),
    ("ct", ("set", "202", "memory=3G", "swap=1G"), lambda pve: str(pve.ct(202).config["swap"]) == "1024"),
    ("ct", ("resize", "202", "rootfs", "+2G"), lambda pve: "size=6G" in pve.ct(202).config["rootfs"]),
    ("ct", ("migrate", "202", "--target", "pve1"), lambda pve: pve.ct(202).node == "pve1"),
    ("ct", ("snapshot", "create", "202", "before"), lambda pve: "before" in pve.ct(202).snapshots),
]


@pytest.mark.parametrize(
    ("kind", "args", "check"), VERBS, ids=[f"{k}-{'-'.join(a[:2])}" for k, a, _ in VERBS]
)
def test_verb_changes_the_cluster(cluster, cli, kind, args, check):
    record = _one(cli(kind, *args, "-y", "-o", "json"))
    assert record["ok"] is True and record["changed"] is True and record["error"] is None
    assert record["kind"] == kind
    assert check(cluster)


def test_table_lines_and_idempotent_repeats(cluster, cli):
    first = cli("vm", "start", "db-1", "-y")
    assert first.exit_code == 0, first.output
    assert first.stdout == "vm/103 started\n"
    again = cli("vm", "start", "db-1", "web-1", "-y")
    assert again.exit_code == 0, again.output
    assert again.stdout == "vm/103 already running\nvm/101 already running\n"
    record = json.loads(cli("vm", "start", "103", "-y", "-o", "json").stdout)[0]
    assert record["ok"] is True and record["changed"] is False and record["upid"] is None
    names = cli("vm", "stop", "103", "-y", "-o", "name")
    assert names.exit_code == 0, names.output
    assert names.stdout == "vm/103\n"
    stopped = cli("ct", "stop", "cache-1", "-y")
    assert stopped.stdout == "ct/202 already stopped\n"
    assert cli("ct", "shutdown", "202", "-y").stdout == "ct/202 already stopped\n"


def test_vm_resume_after_suspend(cluster, cli):
    assert cli("vm", "suspend", "101", "-y").exit_code == 0
    resumed = cli("vm", "resume", "101", "-y")
    assert resumed.exit_code == 0, resumed.output
    assert resumed.stdout == "vm/101 resumed\n"
    assert cluster.vm(101).qmpstatus == "running"
    assert cli("vm", "resume", "101", "-y").stdout == "vm/101 already running\n"


def test_vm_suspend_todisk_hibernates(cluster, cli):
    cluster.requests.clear()
    paused = cli("vm", "suspend", "102", "-y")
    assert paused.exit_code == 0, paused.output
    assert _writes(cluster)[0][:2] == ("POST", "/nodes/pve2/qemu/102/status/suspend")
    assert b"todisk" not in _writes(cluster)[0][2]
    cluster.requests.clear()
    hibernated = cli("vm", "suspend", "101", "--todisk", "-y")
    assert hibernated.exit_code == 0, hibernated.output
    assert hibernated.stdout == "vm/101 suspended\n"
    writes = _writes(cluster)
    assert writes[0][:2] == ("POST", "/nodes/pve1/qemu/101/status/suspend")
    assert b"todisk=1" in writes[0][2]
    assert cluster.vm(101).status == "stopped" and cluster.vm(101).lock == "suspended"
    assert cli("vm", "suspend", "101", "--todisk", "-y").stdout == "vm/101 already suspended\n"
    offered = cli("ct", "suspend", "201", "--todisk", "-y")
    assert offered.exit_code == 64, offered.output
    assert "--todisk" in cli("vm", "suspend", "--help").stdout


def test_ct_resume_after_suspend(cluster, cli):
    assert cli("ct", "suspend", "201", "-y").exit_code == 0
    resumed = cli("ct", "resume", "201", "-y")
    assert resumed.exit_code == 0, resumed.output
    assert cluster.ct(201).status == "running"


def test_vm_resize_and_migrate_send_their_requests(cluster, cli):
    cluster.requests.clear()
    resized = cli("vm", "resize", "db-1", "scsi0", "+10G", "-y")
    assert resized.exit_code == 0, resized.output
    assert resized.stdout == "vm/103 resized (scsi0 64G -> 74G)\n"
    moved = cli("vm", "migrate", "103", "--target", "pve3", "--with-local-disks", "-y")
    assert moved.exit_code == 0, moved.output
    assert moved.stdout == "vm/103 migrated to pve3\n"
    writes = _writes(cluster)
    assert writes[0][:2] == ("PUT", "/nodes/pve2/qemu/103/resize")
    assert b"disk=scsi0" in writes[0][2] and b"size=%2B10G" in writes[0][2] and b"digest=" in writes[0][2]
    assert writes[1][:2] == ("POST", "/nodes/pve2/qemu/103/migrate")
    assert b"target=pve3" in writes[1][2] and b"with-local-disks=1" in writes[1][2]
    same = cli("vm", "migrate", "103", "--target", "pve2", "-y")
    assert same.stdout == "vm/103 already on pve2\n"


def test_resize_grows_only(cluster, cli):
    shrink = cli("ct", "resize", "202", "rootfs", "2G", "-y")
    assert shrink.exit_code == 64, shrink.output
    assert "grows disks only" in shrink.stderr and "4G" in shrink.stderr
    same = cli("ct", "resize", "202", "rootfs", "4G", "-y")
    assert same.exit_code == 0
    assert same.stdout == "ct/202 rootfs already 4G\n"
    bad = cli("vm", "resize", "101", "rootfs", "+1G", "-y")
    assert bad.exit_code == 64
    assert "DISK 'rootfs' is not a disk of a VM" in bad.stderr


def test_unknown_migrate_target_is_6(cluster, cli):
    result = cli("vm", "migrate", "101", "--target", "pve9", "-y")
    assert result.exit_code == 6
    assert "No node named 'pve9'" in result.stderr


@pytest.mark.parametrize("kind,vmid", [("vm", "103"), ("ct", "202")])
def test_snapshot_rollback_and_delete(cluster, cli, kind, vmid):
    assert cli(kind, "snapshot", "create", vmid, "snap1", "--description", "before", "-y").exit_code == 0
    assert cli(kind, "set", vmid, "cores=6", "-y").exit_code == 0
    rolled = cli(kind, "snapshot", "rollback", vmid, "snap1", "-y")
    assert rolled.exit_code == 0, rolled.output
    assert rolled.stdout == f"{kind}/{vmid} rolled back to snap1\n"
    guest = cluster.guest(int(vmid))
    assert str(guest.config.get("cores")) != "6"
    again = cli(kind, "snapshot", "create", vmid, "snap1", "-y")
    assert again.stdout == f"{kind}/{vmid} snapshot snap1 already exists\n"
    deleted = cli(kind, "snapshot", "delete", vmid, "snap1", "-y")
    assert deleted.exit_code == 0, deleted.output
    assert "snap1" not in guest.snapshots
    missing = cli(kind, "snapshot", "rollback", vmid, "snap1", "-y")
    assert missing.exit_code == 6
    assert "has no snapshot 'snap1'" in missing.stderr


def test_set_delete_key_and_unchanged(cluster, cli):
    assert cli("vm", "set", "103", "description=hello", "-y").exit_code == 0
    assert cluster.vm(103).config["description"] == "hello"
    unchanged = cli("vm", "set", "103", "description=hello", "-y")
    assert unchanged.stdout == "vm/103 unchanged\n"
    removed = cli("vm", "set", "103", "--delete", "description", "-y")
    assert removed.exit_code == 0, removed.output
    assert "description" not in cluster.vm(103).config
    nothing = cli("vm", "set", "103", "-y")
    assert nothing.exit_code == 64
    assert "Nothing to change" in nothing.stderr


def test_set_by_selector(cluster, cli):
    result = cli("vm", "set", "-l", "tag=web", "onboot=1", "-y")
    assert result.exit_code == 0, result.output
    # web-1 has onboot=1 already; pmpc compares before it writes.
    assert result.stdout.splitlines() == ["vm/101 unchanged", "vm/102 updated"]
    assert cluster.vm(102).config["onboot"] == "1"


def test_delete_refuses_protected_and_running(cluster, cli):
    cluster.vm(103).config["protection"] = 1
    protected = cli("vm", "delete", "103", "-y")
    assert protected.exit_code == 7
    assert "protected" in protected.stderr
    assert cluster.vm(103) is not None
    running = cli("vm", "delete", "101", "-y")
    assert running.exit_code == 7
    assert "is running: stop it before deleting" in running.stderr


def test_delete_purge_sends_purge(cluster, cli):
    planned = cli("ct", "delete", "cache-1", "--purge", "--dry-run", "-o", "json")
    assert planned.exit_code == 0, planned.output
    request = json.loads(planned.stdout)[0]["requests"][0]
    assert request == {
        "method": "DELETE",
        "path": "/nodes/pve3/lxc/202",
        "params": {"purge": 1, "destroy-unreferenced-disks": 1},
    }
    cluster.requests.clear()
    result = cli("ct", "delete", "cache-1", "--purge", "-y")
    assert result.exit_code == 0, result.output
    assert result.stdout == "ct/202 deleted\n"
    assert [(m, p) for m, p, _ in _writes(cluster)] == [("DELETE", "/nodes/pve3/lxc/202")]
    assert cluster.ct(202) is None


def test_start_a_template_is_refused(cluster, cli):
    result = cli("vm", "start", "ubuntu-tmpl", "-y")
    assert result.exit_code == 7
    assert "is a template" in result.stderr


def test_vm_create_from_flags(cluster, cli, tmp_path):
    key = tmp_path / "id.pub"
    key.write_text("ssh-ed25519 AAAAC3Nza ops@laptop\n")
    result = cli(
        "vm",
        "create",
        "--name",
        "web-3",
        "--node",
        "pve1",
        "--cores",
        "2",
        "--memory",
        "2G",
        "--disk",
        "local-lvm:32G",
        "--net",
        "bridge=vmbr0,tag=20",
        "--tag",
        "web",
        "--tag",
        "Prod",
        "--cloud-init",
        f"user=ops,ssh-key={key},ip=dhcp",
        "--os-type",
        "l26",
        "-y",
        "-o",
        "json",
    )
    record = _one(result)
    assert record["target"] == "vm/100" and record["node"] == "pve1" and record["action"] == "create"
    vm = cluster.vm(100)
    assert vm.name == "web-3" and vm.config["scsi0"].startswith("local-lvm:vm-100-disk-")
    assert "size=32G" in vm.config["scsi0"] and vm.config["tags"] == "prod;web"
    assert str(vm.config["memory"]) == "2048"  # --memory 2G, parsed as the disks' sizes are
    assert vm.config["net0"].startswith("virtio=") and "tag=20" in vm.config["net0"]
    assert vm.config["ciuser"] == "ops" and vm.config["ipconfig0"] == "ip=dhcp"
    assert "ssh-ed25519%20AAAAC3Nza" in vm.config["sshkeys"]


def test_vm_create_template_and_explicit_vmid(cluster, cli):
    result = cli(
        "vm",
        "create",
        "--name",
        "tmpl-2",
        "--node",
        "pve2",
        "--vmid",
        "9001",
        "--disk",
        "local-lvm:8G",
        "--template",
        "-y",
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == "vm/9001 created as a template\n"
    assert cluster.vm(9001).template is True
    taken = cli("vm", "create", "--name", "x", "--node", "pve1", "--vmid", "101", "-y")
    assert taken.exit_code == 7
    assert "VMID 101 is already in use" in taken.stderr


def test_ct_create_from_flags(cluster, cli, tmp_path):
    cluster.store_file("local", CT_TEMPLATE, 200 * 1024**2, content="vztmpl")
    password = tmp_path / "pw"
    password.write_text("s3cret-pass\n")
    result = cli(
        "ct",
        "create",
        "--hostname",
        "dns-2",
        "--node",
        "pve2",
        "--ostemplate",
        f"local:vztmpl/{CT_TEMPLATE}",
        "--rootfs",
        "local-lvm:8G",
        "--memory",
        "1024",
        "--net",
        "name=eth0,bridge=vmbr0,ip=10.0.0.20/24,gw=10.0.0.1",
        "--password-file",
        str(password),
        "--start",
        "-y",
        "-o",
        "json",
    )
    record = _one(result)
    assert record["target"] == "ct/100"
    ct = cluster.ct(100)
    assert ct.config["hostname"] == "dns-2" and ct.status == "running"
    assert "ip=10.0.0.20/24" in ct.config["net0"] and "size=8G" in ct.config["rootfs"]
    assert "s3cret-pass" not in result.stdout + result.stderr


@pytest.mark.parametrize("kind,source,vmid", [("vm", "ubuntu-tmpl", 9000), ("ct", "cache-1", 202)])
def test_clone(cluster, cli, kind, source, vmid):
    result = cli(kind, "clone", source, "--name", "copy", "--full", "-y", "-o", "json")
    record = _one(result)
    new = record["vmid"]
    assert record["target"] == f"{kind}/{new}" and record["action"] == "clone"
    assert cluster.guest(new).name == "copy"
    assert new not in (vmid, 101, 102, 103, 104, 201)


def test_clone_count_to_target_node(cluster, cli):
    result = cli("vm", "clone", "9000", "--name", "web", "--count", "3", "--target", "pve2", "-y")
    assert result.exit_code == 0, result.output
    assert (
        result.stdout
        == "vm/100 cloned from vm/9000\nvm/105 cloned from vm/9000\nvm/106 cloned from vm/9000\n"
    )
    assert [cluster.vm(v).name for v in (100, 105, 106)] == ["web-1", "web-2", "web-3"]
    assert {cluster.vm(v).node for v in (100, 105, 106)} == {"pve2"}


def test_no_wait_prints_upids(cluster, cli):
    result = cli("vm", "start", "103", "--no-wait", "-y")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("vm/103 start submitted: UPID:pve2:")
    record = _one(cli("vm", "stop", "103", "--no-wait", "-y", "-o", "json"))
    assert record["upid"].startswith("UPID:pve2:") and ":qmstop:103:" in record["upid"]
