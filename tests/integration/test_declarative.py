"""The declarative workflow against fakepve: init, sync --import, validate, plan, apply, destroy."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from proxmox_mpc.state.db import sqlite_url
from proxmox_mpc.state.store import open_store


def _init_and_import(cli, work: Path) -> Path:
    result = cli("init", str(work / "infra"), "--name", "infra")
    assert result.exit_code == 0, result.output
    ws = work / "infra"
    result = cli("--workspace", str(ws), "sync", "--import")
    assert result.exit_code == 0, result.output
    return ws


def _journal(ws: Path):
    store = open_store(sqlite_url(ws / ".pmpc" / "state.db"))
    try:
        runs = store.apply_runs()
        return runs, [store.journal(r.id) for r in runs]
    finally:
        store.close()


def test_round_trip_edit_apply_and_plan_again(cluster, cli, tmp_path):
    ws = _init_and_import(cli, tmp_path)
    result = cli("--workspace", str(ws), "plan", "--detailed-exitcode")
    assert result.exit_code == 0, result.output
    assert "No changes" in result.stdout

    web1 = ws / "resources" / "vms" / "web-1.yaml"
    doc = yaml.safe_load(web1.read_text())
    doc["spec"]["memory"] = 4096
    web1.write_text(yaml.safe_dump(doc, sort_keys=False))
    (ws / "resources" / "vms" / "app-1.yaml").write_text(
        "kind: VM\nname: app-1\nnode: pve2\nspec:\n  cores: 2\n  memory: 1024\n"
        "  disks: [{slot: scsi0, storage: local-lvm, size: 10G}]\n"
        "  networks: [{slot: net0, bridge: vmbr0}]\n  tags: [App]\n  state: stopped\n"
    )
    result = cli("--workspace", str(ws), "plan", "-o", "json", "--detailed-exitcode")
    assert result.exit_code == 2, result.output
    plan = json.loads(result.stdout)
    assert [(c["address"], c["action"]) for c in plan["changes"]] == [
        ("vm/app-1", "create"),
        ("vm/web-1", "update"),
    ]
    update = plan["changes"][1]
    assert update["fields"] == [{"name": "memory", "old": "2048", "new": "4096", "needs_reboot": True}]
    assert plan["summary"] == {"add": 1, "change": 1, "replace": 0, "destroy": 0, "power": 0}

    result = cli("--workspace", str(ws), "apply", "-y")
    assert result.exit_code == 0, result.output
    assert "Plan: 1 to add, 1 to change, 0 to destroy." in result.stdout
    result = cli("--workspace", str(ws), "plan", "--detailed-exitcode")
    assert result.exit_code == 0, result.output
    runs, journals = _journal(ws)
    assert len(runs) == 1 and runs[0].status == "ok"
    steps = {(j.address, j.action, j.status) for j in journals[0]}
    assert ("vm/app-1", "create", "ok") in steps
    assert ("vm/web-1", "config", "ok") in steps


def add_variety(pve) -> None:
    """Guests beyond the fixture cluster: a linked clone, cloud-init, many disks and NICs, odd spellings."""
    keys = "ssh-ed25519%20AAAAC3NzaC1lZDI1NTE5AAAAIJx%20ops%40laptop%0Assh-rsa%20AAAAB3Nza%20ci%40runner%0A"
    pve.add_vm(
        105,
        "clone-1",
        node="pve1",
        status="running",
        config={
            "cores": "2",
            "memory": "2048",
            "scsihw": "virtio-scsi-pci",
            "ostype": "l26",
            "agent": "1",
            "scsi0": "local-lvm:base-9000-disk-0/vm-105-disk-0,size=8G",
            "ide2": "local-lvm:vm-105-cloudinit,media=cdrom",
            "ciuser": "ops",
            "sshkeys": keys,
            "ipconfig0": "gw=10.0.0.1,ip=10.0.0.5/24",
            "nameserver": "10.0.0.53",
            "searchdomain": "lab.example",
            "net0": "virtio=BC:24:11:00:01:05,bridge=vmbr0,firewall=1",
            "net1": "virtio=BC:24:11:00:11:05,bridge=vmbr0,rate=12.5,tag=30",
            "tags": "Prod;WEB;blue",
            "smbios1": "uuid=7b0f5a8e-1111-4222-8333-944455556666",
            "vmgenid": "0a1b2c3d-0000-4000-8000-000000000001",
            "meta": "creation-qemu=9.0.2,ctime=1700000000",
            "boot": "order=scsi0;ide2;net0",
            "cipassword": "**********",
        },
    )
    pve.add_vm(
        106,
        "big-1",
        node="pve2",
        status="stopped",
        config={
            "cores": 8,
            "sockets": 2,
            "cpu": "host",
            "numa": 1,
            "memory": "16384",
            "balloon": 4096,
            "bios": "ovmf",
            "machine": "q35",
            "efidisk0": "local-lvm:vm-106-disk-0,efitype=4m,pre-enrolled-keys=1,size=4M",
            "tpmstate0": "local-lvm:vm-106-disk-1,size=4M,version=v2.0",
            "virtio0": "local-lvm:vm-106-disk-2,discard=on,iothread=1,size=100G",
            "sata0": "local-lvm:vm-106-disk-3,size=1T",
            "ide2": "local:iso/debian-12.iso,media=cdrom",
            "net0": "e1000=BC:24:11:00:01:06,bridge=vmbr0",
            "net1": "vmxnet3=bc:24:11:00:11:06,bridge=vmbr0,mtu=9000",
            "agent": "enabled=1,fstrim_cloned_disks=1",
            "description": "Big box.\nSecond line.\n",
            "onboot": 0,
            "protection": 1,
            "startup": "order=3,up=30",
            "tags": "DB;Heavy",
        },
    )
    pve.add_ct(
        203,
        "dev-1",
        node="pve2",
        status="running",
        config={
            "hostname": "dev-1",
            "cores": 2,
            "memory": 2048,
            "swap": 1024,
            "ostype": "ubuntu",
            "arch": "amd64",
            "rootfs": "local-lvm:subvol-203-disk-0,size=16G",
            "mp0": "local-lvm:subvol-203-disk-1,backup=1,mp=/srv,size=32G",
            "mp1": "/mnt/shared,mp=/shared,ro=1",
            "net0": "name=eth0,bridge=vmbr0,firewall=1,gw=192.168.1.1,hwaddr=BC:24:11:00:02:03,"
            "ip=192.168.1.3/24,"
            "tag=40,type=veth",
            "net1": "name=eth1,bridge=vmbr0,hwaddr=bc:24:11:00:12:03,ip6=auto,type=veth",
            "features": "keyctl=1,nesting=1",
            "nameserver": "1.1.1.1",
            "searchdomain": "dev.example",
            "onboot": 1,
            "startup": "order=2",
            "tags": "Dev;LAB",
            "unprivileged": 1,
            "description": "dev box",
        },
    )
    pve.add_ct(
        8000,
        "debian-ct-tmpl",
        node="pve3",
        template=True,
        config={
            "hostname": "debian-ct-tmpl",
            "ostype": "debian",
            "rootfs": "local-lvm:basevol-8000-disk-0,size=4G",
            "net0": "name=eth0,bridge=vmbr0,ip=dhcp,type=veth,hwaddr=BC:24:11:00:80:00",
        },
    )


def test_import_round_trip_on_varied_guests(cluster, cli, tmp_path):
    add_variety(cluster)
    ws = _init_and_import(cli, tmp_path)
    files = sorted(p.relative_to(ws).as_posix() for p in (ws / "resources").rglob("*.yaml"))
    assert "resources/vms/clone-1.yaml" in files and "resources/cts/dev-1.yaml" in files
    # Ten guests and, since the kind registry, the fixture's pool.
    assert "resources/pools/prod.yaml" in files
    # The storage definitions (the Storage kind) are imported too.
    assert {"resources/storages/local.yaml", "resources/storages/local-lvm.yaml"} <= set(files)
    assert len(files) == 14
    clone = yaml.safe_load((ws / "resources" / "vms" / "clone-1.yaml").read_text())
    assert clone["spec"]["tags"] == ["blue", "prod", "web"]
    assert clone["spec"]["cloud_init"]["ssh_keys"] == [
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJx ops@laptop",
        "ssh-rsa AAAAB3Nza ci@runner",
    ]
    assert "cipassword" not in (ws / "resources" / "vms" / "clone-1.yaml").read_text()
    result = cli("--workspace", str(ws), "validate")
    assert result.exit_code == 0, result.output
    result = cli("--workspace", str(ws), "plan", "--detailed-exitcode")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("No changes"), result.stdout
    result = cli("--workspace", str(ws), "plan", "--offline", "--detailed-exitcode", "-o", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["changes"] == []


APP_1 = (
    "kind: VM\nname: app-1\nnode: pve2\nspec:\n  cores: 2\n  memory: 1024\n"
    "  disks: [{slot: scsi0, storage: local-lvm, size: 10G}]\n"
    "  networks: [{slot: net0, bridge: vmbr0}]\n  state: running\n"
)


def _set_memory(ws: Path, name: str, memory: int) -> None:
    path = ws / "resources" / "vms" / f"{name}.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["spec"]["memory"] = memory
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def _writes(pve) -> list[tuple[str, str]]:
    return [(m, p) for m, p, _ in pve.requests if m != "GET"]


def test_task_failure_mid_apply_journals_and_next_plan_shows_the_rest(cluster, cli, tmp_path):
    ws = _init_and_import(cli, tmp_path)
    _set_memory(ws, "web-1", 3072)
    (ws / "resources" / "vms" / "app-1.yaml").write_text(APP_1)
    batch = ws / "resources" / "vms" / "batch-1.yaml"
    batch.write_text(batch.read_text().replace("state: running", "state: stopped"))
    cluster.fail("POST", "/nodes/pve2/qemu", error="unable_parse_drive_interface")
    result = cli("--workspace", str(ws), "apply", "-y")
    assert result.exit_code == 1, result.output
    assert "vm/app-1" in result.stderr and "unable to parse drive interface" in result.stderr
    assert "vm/web-1 (vm/101): update done" in result.stdout
    runs, journals = _journal(ws)
    assert runs[0].status == "partial"
    steps = {(j.address, j.action, j.status) for j in journals[0]}
    assert {
        ("vm/web-1", "config", "ok"),
        ("vm/batch-1", "stop", "ok"),
        ("vm/app-1", "create", "failed"),
    } <= steps
    cluster.failures.clear()
    result = cli("--workspace", str(ws), "plan", "-o", "json")
    assert result.exit_code == 0, result.output
    assert [(c["address"], c["action"]) for c in json.loads(result.stdout)["changes"]] == [
        ("vm/app-1", "create")
    ]


def test_failed_start_after_create_leaves_only_the_power_change(cluster, cli, tmp_path):
    ws = _init_and_import(cli, tmp_path)
    (ws / "resources" / "vms" / "app-1.yaml").write_text(
        APP_1.replace("node: pve2\n", "node: pve2\nvmid: 150\n")
    )
    cluster.fail("POST", "/nodes/pve2/qemu/150/status/start", error="start_failed")
    result = cli("--workspace", str(ws), "apply", "-y")
    assert result.exit_code == 1, result.output
    cluster.failures.clear()
    result = cli("--workspace", str(ws), "plan", "-o", "json")
    changes = json.loads(result.stdout)["changes"]
    assert [(c["address"], c["action"], [f["name"] for f in c["fields"]]) for c in changes] == [
        ("vm/app-1", "power", ["state"])
    ]
    result = cli("--workspace", str(ws), "apply", "-y")
    assert result.exit_code == 0, result.output
    assert cluster.vm(150).status == "running"


BAD_MANIFESTS = {
    "unknown-field": (
        "kind: VM\nname: bad-1\nnode: pve1\nspec:\n  cores: 2\n  colour: red\n",
        "bad.yaml:6:3: spec.colour: unknown field",
    ),
    "wrong-type": (
        "kind: VM\nname: bad-1\nnode: pve1\nspec:\n  cores: lots\n",
        "bad.yaml:5:10: spec.cores: Input should be a valid integer",
    ),
    "memory-not-a-size": (
        "kind: VM\nname: bad-1\nnode: pve1\nspec:\n  memory: lots\n",
        "bad.yaml:5:11: spec.memory: not a size: 'lots' (write e.g. 32G, 512M)",
    ),
    "duplicate-vmid": (
        "kind: VM\nname: bad-1\nnode: pve1\nvmid: 101\nspec: {cores: 1}\n",
        "web-1.yaml:4:7: vmid: VMID 101 is already used by vm/bad-1 (bad.yaml:4:7)",
    ),
    "missing-storage": (
        "kind: VM\nname: bad-1\nnode: pve1\nspec:\n  disks: [{slot: scsi0, storage: fast-ssd, size: 8G}]\n",
        "bad.yaml:5:34: spec.disks[0].storage: no storage 'fast-ssd' on node pve1",
    ),
    "yaml-syntax": (
        "kind: VM\nname: bad-1\nnode: pve1\nspec: {cores: [1\n",
        "bad.yaml:5:1: YAML syntax error",
    ),
}


import pytest  # noqa: E402


@pytest.mark.parametrize("case", sorted(BAD_MANIFESTS), ids=sorted(BAD_MANIFESTS))
def test_bad_manifest_is_one_clear_error_and_changes_nothing(cluster, cli, tmp_path, monkeypatch, case):
    ws = _init_and_import(cli, tmp_path)
    _set_memory(ws, "web-1", 4096)  # a real change that must not be applied
    text, expected = BAD_MANIFESTS[case]
    (ws / "resources" / "vms" / "bad.yaml").write_text(text)
    monkeypatch.chdir(ws / "resources" / "vms")
    before = len(_writes(cluster))
    for args in (("validate",), ("plan",), ("apply", "-y"), ("destroy", "-y")):
        result = cli("--workspace", str(ws), *args)
        assert result.exit_code == 1, (args, result.output)
        assert result.stdout == ""
        lines = result.stderr.splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith("pmpc: error: " + expected), result.stderr
    assert len(_writes(cluster)) == before
    assert _journal(ws)[0] == []


def test_saved_plan_is_refused_when_a_guest_changed(cluster, cli, tmp_path):
    ws = _init_and_import(cli, tmp_path)
    _set_memory(ws, "web-1", 4096)
    plan_file = tmp_path / "plan.json"
    result = cli("--workspace", str(ws), "plan", "--out", str(plan_file))
    assert result.exit_code == 0, result.output
    saved = json.loads(plan_file.read_text())
    assert saved["format_version"] == "1.1" and saved["changes"][0]["digest"]
    cluster.vm(101).config["cores"] = 4  # someone else edits web-1 meanwhile
    before = len(_writes(cluster))
    result = cli("--workspace", str(ws), "apply", str(plan_file), "-y")
    assert result.exit_code == 7, result.output
    assert "stale" in result.stderr
    assert len(_writes(cluster)) == before


def test_saved_plan_applies_when_nothing_changed(cluster, cli, tmp_path):
    ws = _init_and_import(cli, tmp_path)
    _set_memory(ws, "db-1", 4096)
    plan_file = tmp_path / "plan.json"
    assert cli("--workspace", str(ws), "plan", "--out", str(plan_file)).exit_code == 0
    result = cli("--workspace", str(ws), "apply", str(plan_file), "-y", "-o", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [(r["address"], r["ok"]) for r in report["results"]] == [("vm/db-1", True)]
    assert str(cluster.vm(103).config["memory"]) == "4096"


def test_plan_dry_run_sends_only_reads_and_writes_nothing(cluster, cli, tmp_path):
    ws = _init_and_import(cli, tmp_path)
    _set_memory(ws, "web-1", 4096)
    db = ws / ".pmpc" / "state.db"
    stamp = db.stat().st_mtime_ns
    cluster.requests.clear()
    result = cli("--workspace", str(ws), "plan", "--dry-run", "--detailed-exitcode", "-o", "json")
    assert result.exit_code == 2, result.output
    result = cli("--workspace", str(ws), "apply", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "~ memory: 2048 -> 4096  (needs reboot)" in result.stdout
    assert {m for m, _, _ in cluster.requests} == {"GET"}
    assert db.stat().st_mtime_ns == stamp
    assert cli("--workspace", str(ws), "plan", "--dry-run", "--out", "x.json").exit_code == 64


def test_unmanaged_guests_are_listed_and_never_touched(cluster, cli, tmp_path):
    ws = _init_and_import(cli, tmp_path)
    (ws / "resources" / "vms" / "batch-1.yaml").unlink()
    result = cli("--workspace", str(ws), "plan")
    assert result.exit_code == 0, result.output
    assert "Unmanaged guests" in result.stdout and "vm/104 (batch-1)" in result.stdout
    result = cli("--workspace", str(ws), "destroy", "-y", "-l", "tag=batch")
    assert result.exit_code == 0, result.output
    assert cluster.vm(104) is not None


def test_selector_limits_the_plan(cluster, cli, tmp_path):
    ws = _init_and_import(cli, tmp_path)
    _set_memory(ws, "web-1", 4096)
    _set_memory(ws, "db-1", 4096)
    result = cli("--workspace", str(ws), "plan", "-l", "tag=db", "-o", "json")
    assert result.exit_code == 0, result.output
    assert [c["address"] for c in json.loads(result.stdout)["changes"]] == ["vm/db-1"]


def test_destroy_deletes_managed_guests_and_honours_protection(cluster, cli, tmp_path):
    ws = _init_and_import(cli, tmp_path)
    cluster.vm(103).config["protection"] = 1
    result = cli("--workspace", str(ws), "sync", "--import")
    assert result.exit_code == 0, result.output
    # Imported guests are protected (pmpc did not create them): without --allow-destroy nothing goes.
    result = cli("--workspace", str(ws), "destroy", "web-2", "db-1", "-y")
    assert result.exit_code == 1, result.output
    assert "--allow-destroy vm/web-2" in result.stderr and "vm/db-1" in result.stderr
    assert cluster.vm(102) is not None
    allow = ("--allow-destroy", "vm/web-2", "--allow-destroy", "vm/103")
    result = cli("--workspace", str(ws), "destroy", "web-2", "db-1", "-y", *allow)
    assert result.exit_code == 7, result.output
    assert "protected" in result.stderr
    assert cluster.vm(102) is None
    assert cluster.vm(103) is not None
    _, journals = _journal(ws)
    steps = {(j.address, j.action, j.status) for j in journals[0]}
    assert ("vm/web-2", "delete", "ok") in steps and ("vm/db-1", "delete", "failed") in steps
    result = cli("--workspace", str(ws), "destroy", "nope", "-y")
    assert result.exit_code == 6


def test_apply_needs_confirmation_without_a_tty(cluster, cli, tmp_path):
    ws = _init_and_import(cli, tmp_path)
    _set_memory(ws, "web-1", 4096)
    before = len(_writes(cluster))
    result = cli("--workspace", str(ws), "apply")
    assert result.exit_code == 4, result.output
    assert len(_writes(cluster)) == before


def test_clone_and_container_create_then_plan_is_empty(cluster, cli, tmp_path):
    cluster.store_file("local", "debian-12-standard_12.7-1_amd64.tar.zst", 200 * 1024**2, content="vztmpl")
    ws = _init_and_import(cli, tmp_path)
    (ws / "resources" / "vms" / "app-2.yaml").write_text(
        "kind: VM\nname: app-2\nnode: pve1\nspec:\n  clone: {from: ubuntu-tmpl, full: true}\n  cores: 4\n"
        "  memory: 4096\n  disks: [{slot: scsi0, storage: local-lvm, size: 8G}]\n"
        "  networks: [{slot: net0, bridge: vmbr0, tag: 12}]\n"
        "  cloud_init: {user: ops, ip: 10.0.0.20/24, gw: 10.0.0.1,\n"
        "               ssh_keys: [ssh-ed25519 AAAAC3Nz ops@laptop]}\n"
        "  tags: [App, Blue]\n  state: running\n"
    )
    (ws / "resources" / "cts" / "web-ct.yaml").write_text(
        "kind: CT\nname: web-ct\nnode: pve2\nvmid: 250\nspec:\n"
        "  ostemplate: local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst\n  unprivileged: true\n"
        "  cores: 1\n  memory: 256\n  swap: 0\n  rootfs: {storage: local-lvm, size: 4G}\n"
        "  mounts: [{slot: mp0, storage: local-lvm, size: 2G, path: /data}]\n"
        "  networks: [{slot: net0, name: eth0, bridge: vmbr0, ip: dhcp}]\n  tags: [Web]\n  state: running\n"
    )
    result = cli("--workspace", str(ws), "apply", "-y")
    assert result.exit_code == 0, result.output
    assert "vm/app-2" in result.stdout and "ct/web-ct (ct/250): create done" in result.stdout
    clone = next(vm for vm in cluster.vms if vm.name == "app-2")
    assert clone.status == "running" and clone.config["ciuser"] == "ops"
    assert cluster.ct(250).status == "running"
    result = cli("--workspace", str(ws), "plan", "--detailed-exitcode")
    assert result.exit_code == 0, result.output


def test_plan_of_one_file_lists_only_truly_unmanaged_guests(cluster, cli, tmp_path):
    ws = _init_and_import(cli, tmp_path)
    (ws / "resources" / "vms" / "batch-1.yaml").unlink()
    _set_memory(ws, "web-1", 4096)
    result = cli("--workspace", str(ws), "plan", str(ws / "resources" / "vms" / "web-1.yaml"))
    assert result.exit_code == 0, result.output
    assert "~ memory: 2048 -> 4096" in result.stdout
    unmanaged = result.stdout.split("Unmanaged guests")[1]
    assert "vm/104 (batch-1)" in unmanaged and "vm/102" not in unmanaged


def test_pool_and_template_changes_apply(cluster, cli, tmp_path):
    cluster.pools["dev"] = set()
    ws = _init_and_import(cli, tmp_path)
    path = ws / "resources" / "vms" / "web-2.yaml"
    path.write_text(path.read_text().replace("pool: prod", "pool: dev"))
    db = ws / "resources" / "vms" / "db-1.yaml"
    db.write_text(db.read_text().replace("state: stopped", "template: true"))
    result = cli("--workspace", str(ws), "apply", "-y")
    assert result.exit_code == 0, result.output
    assert cluster.vm(102).pool == "dev" and cluster.vm(103).template
    result = cli("--workspace", str(ws), "plan", "--detailed-exitcode")
    assert result.exit_code == 0, result.output
    result = cli("--workspace", str(ws), "plan", "-l", "pool=nope", "-o", "json")
    assert result.exit_code == 0 and json.loads(result.stdout)["changes"] == []
    bad = cli("--workspace", str(ws), "plan", "-l", "colour=red")
    assert bad.exit_code == 64


def test_a_new_node_migrates_the_container(cluster, cli, tmp_path):
    ws = _init_and_import(cli, tmp_path)
    path = ws / "resources" / "cts" / "cache-1.yaml"
    path.write_text(
        path.read_text().replace("node: pve3", "node: pve1").replace("memory: 1024", "memory: 768")
    )
    result = cli("--workspace", str(ws), "plan", "-o", "json")
    change = json.loads(result.stdout)["changes"][0]
    assert [f["name"] for f in change["fields"]] == ["memory", "node"]
    result = cli("--workspace", str(ws), "apply", "-y")
    assert result.exit_code == 0, result.output
    assert cluster.ct(202).node == "pve1" and int(cluster.ct(202).config["memory"]) == 768
    assert cli("--workspace", str(ws), "plan", "--detailed-exitcode").exit_code == 0
