"""A guest's FirewallPolicy (`firewall/vm/101`, `firewall/ct/201`) end to end against fakepve.

Import, plan, apply with digest-checked positional writes through the guest's current node, a reorder
by someone else refused with exit 7, the reference to the guest, a guest created first or deleted
with its policy, which guests are read, and the generators.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tests.helpers.workspace import imported_workspace, reorder_between_plan_and_apply

VM_FW = "/nodes/pve1/qemu/101/firewall"
CT_FW = "/nodes/pve1/lxc/201/firewall"
NET0 = "virtio=BC:24:11:00:01:01,bridge=vmbr0,firewall=1"


def api(cli: Any, method: str, path: str, *params: str) -> None:
    rule = method == "post" and path.endswith("/rules")
    result = cli("api", method, path, *params, *(("enable=1",) if rule else ()), "-y")
    assert result.exit_code == 0, result.output


def _writes_since(pve: Any, start: int) -> list[tuple[str, str]]:
    return [(m, p.removeprefix("/api2/json")) for m, p, _ in pve.requests[start:] if m != "GET"]


def _reads_since(pve: Any, start: int) -> list[str]:
    return [p.removeprefix("/api2/json") for m, p, _ in pve.requests[start:] if m == "GET"]


def _seed(cluster: Any, cli: Any) -> None:
    """VM 101 has a NIC with firewall=1, rules and options; CT 201 has rules but no firewalled NIC."""
    cluster.vm(101).config["net0"] = NET0  # in effect (a PUT to the running VM would wait for its restart)
    # PVE puts each new rule at the top: posted last, listed first.
    api(cli, "post", f"{VM_FW}/rules", "type=in", "action=DROP", "proto=tcp", "dport=23", "comment=no telnet")
    api(cli, "post", f"{VM_FW}/rules", "type=in", "action=ACCEPT", "proto=tcp", "dport=443", "comment=web")
    api(cli, "post", f"{VM_FW}/rules", "type=in", "action=ACCEPT", "macro=SSH", "iface=net0", "comment=ssh")
    api(cli, "put", f"{VM_FW}/options", "enable=1", "policy_in=DROP")
    api(cli, "post", f"{CT_FW}/rules", "type=out", "action=DROP", "proto=udp", "dport=53", "comment=dns")


def _policy(ws: Path, name: str = "vm_101") -> Path:
    return ws / "resources" / "firewall" / f"{name}.yaml"


def _comments(cli: Any, guest: str = "101") -> list[str]:
    rows = json.loads(cli("firewall", "rules", "list", "--guest", guest, "-o", "json").stdout)
    return [r["comment"] for r in rows]


def _ready(cluster: Any, cli: Any, tmp_path: Path) -> Path:
    _seed(cluster, cli)
    return imported_workspace(cli, tmp_path)


def test_import_writes_the_firewalled_guest_only_and_plan_is_empty(cluster: Any, cli: Any, tmp_path: Path) -> None:
    ws = _ready(cluster, cli, tmp_path)
    doc = yaml.safe_load(_policy(ws).read_text())
    assert doc["kind"] == "FirewallPolicy" and doc["name"] == "vm/101"
    assert doc["spec"]["options"] == {"enable": "1", "policy_in": "DROP"}
    assert doc["spec"]["rules"][0] == {
        "type": "in",
        "action": "ACCEPT",
        "macro": "SSH",
        "iface": "net0",
        "enable": True,
        "comment": "ssh",
    }
    # The container's NIC has no firewall=1: its rules take no effect and are not read.
    assert not _policy(ws, "ct_201").exists()
    # `pmpc firewall rules list --guest` shows the policy's rules, in its order, field for field.
    rows = json.loads(cli("firewall", "rules", "list", "--guest", "web-1", "-o", "json").stdout)
    assert [{k: v for k, v in r.items() if k not in ("level", "pos") and v is not None} for r in rows] == doc[
        "spec"
    ]["rules"]
    assert {r["level"] for r in rows} == {"vm/101"}
    names = cli("firewall", "rules", "list", "--guest", "101", "-o", "name").stdout.splitlines()
    assert names == [f"firewall/vm/101/rules/{i}" for i in range(3)]
    result = cli("--workspace", str(ws), "plan", "--detailed-exitcode")
    assert result.exit_code == 0, result.output
    # A sync reads the firewall of the guests whose NIC has firewall=1 only (two requests each).
    before = len(cluster.requests)
    assert cli("--workspace", str(ws), "sync").exit_code == 0
    guests = [p for p in _reads_since(cluster, before) if "/firewall" in p and ("/qemu/" in p or "/lxc/" in p)]
    assert sorted(guests) == [f"{VM_FW}/options", f"{VM_FW}/rules"]


def test_an_edit_is_planned_exactly_applied_on_the_guests_node_and_plans_empty(
    cluster: Any, cli: Any, tmp_path: Path
) -> None:
    ws = _ready(cluster, cli, tmp_path)
    doc = yaml.safe_load(_policy(ws).read_text())
    rules = doc["spec"]["rules"]
    doc["spec"]["rules"] = [rules[2], rules[0], rules[1]]  # "no telnet" first
    doc["spec"]["options"]["policy_out"] = "REJECT"
    _policy(ws).write_text(yaml.safe_dump(doc, sort_keys=False))
    plan = cli("--workspace", str(ws), "plan", "-o", "json", "--detailed-exitcode")
    assert plan.exit_code == 2, plan.output
    [change] = json.loads(plan.stdout)["changes"]
    assert (change["address"], change["kind"], change["action"]) == ("firewall/vm/101", "firewall", "update")
    assert [(f["name"], f["old"], f["new"]) for f in change["fields"]] == [
        ("options.policy_out", None, "REJECT"),
        ("rules[2->0]", "in DROP proto=tcp dport=23 # no telnet", "in DROP proto=tcp dport=23 # no telnet"),
    ]
    text = cli("--workspace", str(ws), "plan")
    assert "~ firewall/vm/101" in text.stdout and "rules[2->0]" in text.stdout
    before = len(cluster.requests)
    applied = cli("--workspace", str(ws), "apply", "-y")
    assert applied.exit_code == 0, applied.output
    assert _writes_since(cluster, before) == [("PUT", f"{VM_FW}/options"), ("PUT", f"{VM_FW}/rules/2")]
    assert _comments(cli) == ["no telnet", "ssh", "web"]
    assert cli("--workspace", str(ws), "plan", "--detailed-exitcode").exit_code == 0


def test_a_reorder_by_someone_else_between_plan_and_apply_is_refused(cluster: Any, cli: Any, tmp_path: Path) -> None:
    ws = _ready(cluster, cli, tmp_path)
    refused = reorder_between_plan_and_apply(cluster, cli, ws, _policy(ws), f"{VM_FW}/rules", tmp_path / "plan.json")
    assert refused.exit_code == 7, refused.output
    assert "firewall/vm/101" in refused.stderr
    assert _comments(cli) == ["no telnet", "ssh", "web"]


def test_a_policy_for_a_missing_guest_is_a_validate_error_before_any_write(
    cluster: Any, cli: Any, tmp_path: Path
) -> None:
    ws = _ready(cluster, cli, tmp_path)
    for name in ("vm/999", "ct/101"):  # 101 is a VM, not a container
        _policy(ws, "missing").write_text(f"kind: FirewallPolicy\nname: {name}\nspec:\n  rules: []\n")
        before = len(cluster.requests)
        result = cli("--workspace", str(ws), "validate")
        assert result.exit_code == 1, result.output
        what = "VM '999'" if name == "vm/999" else "CT '101'"
        assert f"missing.yaml:2:7: name: no {what} in the cluster or the workspace" in result.stderr, result.stderr
        assert cli("--workspace", str(ws), "apply", "-y").exit_code == 1
        assert _writes_since(cluster, before) == []


def test_a_described_policy_is_read_for_a_guest_without_a_firewalled_nic(
    cluster: Any, cli: Any, tmp_path: Path
) -> None:
    ws = _ready(cluster, cli, tmp_path)
    _policy(ws, "ct_201").write_text(
        "kind: FirewallPolicy\nname: ct/201\nspec:\n  options: {enable: 1}\n  rules:\n"
        "    - {type: out, action: DROP, proto: udp, dport: '53', comment: dns}\n"
        "    - {type: in, action: ACCEPT, macro: SSH, comment: ssh}\n"
    )
    before = len(cluster.requests)
    plan = cli("--workspace", str(ws), "plan", "-o", "json")
    assert plan.exit_code == 0, plan.output
    # Only the guests that are firewalled or described are read: 101 and 201, not 102, 103, ...
    read = {p.split("/firewall")[0] for p in _reads_since(cluster, before) if "/firewall/" in p and "/nodes/" in p}
    assert read == {"/nodes/pve1/qemu/101", "/nodes/pve1/lxc/201"} | {f"/nodes/pve{i}" for i in (1, 2, 3)}
    [change] = json.loads(plan.stdout)["changes"]
    assert (change["address"], change["action"]) == ("firewall/ct/201", "update")  # its rules exist: read
    assert [(f["name"], f["old"], f["new"]) for f in change["fields"]] == [
        ("options.enable", None, "1"),
        ("rules[1]", None, "in ACCEPT macro=SSH # ssh"),
    ]
    applied = cli("--workspace", str(ws), "apply", "-y")
    assert applied.exit_code == 0, applied.output
    assert _comments(cli, "ct/201") == ["dns", "ssh"]
    assert cli("--workspace", str(ws), "plan", "--detailed-exitcode").exit_code == 0


def test_a_new_guest_is_created_before_its_firewall(cluster: Any, cli: Any, tmp_path: Path) -> None:
    ws = _ready(cluster, cli, tmp_path)
    (ws / "resources" / "vms" / "app-1.yaml").write_text(
        "kind: VM\nname: app-1\nnode: pve2\nvmid: 150\nspec:\n  cores: 1\n  memory: 512\n"
        "  disks: [{slot: scsi0, storage: local-lvm, size: 4G}]\n"
        "  networks: [{slot: net0, bridge: vmbr0, firewall: true}]\n  state: stopped\n"
    )
    _policy(ws, "vm_150").write_text(
        "kind: FirewallPolicy\nname: vm/150\nspec:\n  options: {enable: 1}\n"
        "  rules: [{type: in, action: ACCEPT, macro: SSH}]\n"
    )
    assert cli("--workspace", str(ws), "validate").exit_code == 0
    plan = cli("--workspace", str(ws), "plan", "-o", "json")
    assert sorted((c["address"], c["action"]) for c in json.loads(plan.stdout)["changes"]) == [
        ("firewall/vm/150", "create"),
        ("vm/app-1", "create"),
    ]
    before = len(cluster.requests)
    applied = cli("--workspace", str(ws), "apply", "-y")
    assert applied.exit_code == 0, applied.output
    writes = _writes_since(cluster, before)
    assert writes[0] == ("POST", "/nodes/pve2/qemu")
    fw = "/nodes/pve2/qemu/150/firewall"
    assert writes[-2:] == [("PUT", f"{fw}/options"), ("POST", f"{fw}/rules")]
    assert cli("--workspace", str(ws), "plan", "--detailed-exitcode").exit_code == 0


def test_a_guest_deleted_by_the_plan_takes_its_policy_along(cluster: Any, cli: Any, tmp_path: Path) -> None:
    ws = _ready(cluster, cli, tmp_path)
    doc = yaml.safe_load(_policy(ws).read_text())
    doc["spec"]["rules"] = []  # would empty the rules: but the guest goes
    _policy(ws).write_text(yaml.safe_dump(doc, sort_keys=False))
    web1 = ws / "resources" / "vms" / "web-1.yaml"
    guest = yaml.safe_load(web1.read_text())
    guest["spec"]["state"] = "absent"
    guest["lifecycle"] = {"allow_destroy": True}
    web1.write_text(yaml.safe_dump(guest, sort_keys=False))
    plan = cli("--workspace", str(ws), "plan", "-o", "json")
    assert [(c["address"], c["action"]) for c in json.loads(plan.stdout)["changes"]] == [("vm/web-1", "delete")]
    before = len(cluster.requests)
    applied = cli("--workspace", str(ws), "apply", "-y")
    assert applied.exit_code == 0, applied.output
    assert not [w for w in _writes_since(cluster, before) if "/firewall" in w[1]]


def test_a_guest_that_moved_after_the_plan_is_written_on_its_new_node(cluster: Any, cli: Any, tmp_path: Path) -> None:
    ws = _ready(cluster, cli, tmp_path)
    doc = yaml.safe_load(_policy(ws).read_text())
    doc["spec"]["rules"] = doc["spec"]["rules"][:2]  # drop "no telnet"
    _policy(ws).write_text(yaml.safe_dump(doc, sort_keys=False))
    saved = tmp_path / "plan.json"
    assert cli("--workspace", str(ws), "plan", "--out", str(saved)).exit_code == 0
    cluster.vm(101).node = "pve2"  # migrated by someone else: same VMID, same firewall
    before = len(cluster.requests)
    applied = cli("--workspace", str(ws), "apply", str(saved), "-y")
    assert applied.exit_code == 0, applied.output
    assert _writes_since(cluster, before) == [("DELETE", "/nodes/pve2/qemu/101/firewall/rules/2")]


def test_generated_terraform_and_ansible_for_a_guests_policy(cluster: Any, cli: Any, tmp_path: Path) -> None:
    ws = _ready(cluster, cli, tmp_path)
    result = cli("--workspace", str(ws), "generate", "terraform")
    assert result.exit_code == 0, result.output
    tf = (ws / "terraform" / "firewall.tf").read_text()
    block = tf[tf.index("# firewall/vm/101") :]
    attrs = [" ".join(line.split()) for line in block.splitlines()[3:6]]
    # On the guest's node, by VMID, made after the guest.
    assert attrs == ['node_name = "pve1"', "vm_id = 101", "depends_on = [proxmox_virtual_environment_vm.web_1]"]
    result = cli("--workspace", str(ws), "generate", "ansible")
    assert result.exit_code == 0, result.output
    play = yaml.safe_load((ws / "ansible" / "provision.yml").read_text())
    [task] = [t for t in play[0]["tasks"] if t.get("community.proxmox.proxmox_firewall", {}).get("vmid") == 101]
    args = task["community.proxmox.proxmox_firewall"]
    assert args["level"] == "vm" and [r["comment"] for r in args["rules"]] == ["ssh", "web", "no telnet"]
