"""HA resources and HA rules end to end against fakepve (with the stateful objects of
tests/helpers/cluster_objects.py): import, plan, apply, ordering against guests, destroy, protection,
references, list and get, and a server without HA rules (PVE 8)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.helpers.workspace import api_post, imported_workspace, planned, writes_since

HA_FILE = "vm_101.yaml"


def _workspace(cli, work: Path) -> Path:
    ws = imported_workspace(cli, work)
    (ws / "resources" / "ha").mkdir(exist_ok=True)
    return ws


def test_import_writes_resources_and_rules_and_plan_is_empty(cluster, cli, tmp_path):
    api_post(cli, "/cluster/ha/resources", "sid=vm:101", "max_restart=3", "comment=web", "state=started")
    api_post(cli, "/cluster/ha/resources", "sid=ct:201", "state=stopped")
    api_post(cli, "/cluster/ha/rules", "rule=dns-home", "type=node-affinity", "resources=ct:201",
          "nodes=pve2,pve1:2", "strict=1")
    ws = _workspace(cli, tmp_path)
    docs = {p.name: yaml.safe_load(p.read_text()) for p in (ws / "resources" / "ha").glob("*.yaml")}
    assert docs == {
        "vm_101.yaml": {
            "kind": "HAResource",
            "name": "vm:101",
            "spec": {"ha_state": "started", "max_restart": 3, "comment": "web"},
        },
        "ct_201.yaml": {"kind": "HAResource", "name": "ct:201", "spec": {"ha_state": "stopped"}},
        "dns-home.yaml": {
            "kind": "HARule",
            "name": "dns-home",
            "spec": {"type": "node-affinity", "resources": ["ct:201"], "nodes": {"pve1": 2, "pve2": None},
                     "strict": True},
        },
    }
    result = cli("--workspace", str(ws), "plan", "--detailed-exitcode")
    assert result.exit_code == 0, result.output


def test_edit_plans_exactly_that_applies_and_plans_empty(cluster, cli, tmp_path):
    api_post(cli, "/cluster/ha/resources", "sid=vm:101", "comment=web")
    api_post(cli, "/cluster/ha/resources", "sid=vm:102")
    api_post(cli, "/cluster/ha/rules", "rule=web-on-pve1", "type=node-affinity", "resources=vm:101", "nodes=pve1")
    ws = _workspace(cli, tmp_path)
    (ws / "resources" / "ha" / HA_FILE).write_text(
        "kind: HAResource\nname: vm:101\nspec:\n  ha_state: stopped\n  comment: ''\n"
    )
    (ws / "resources" / "ha" / "web-on-pve1.yaml").write_text(
        "kind: HARule\nname: web-on-pve1\nspec:\n  type: node-affinity\n  resources: [vm:101, vm:102]\n"
        "  nodes: {pve1: 1}\n"
    )
    result = cli("--workspace", str(ws), "plan", "-o", "json", "--detailed-exitcode")
    assert result.exit_code == 2, result.output
    changes = json.loads(result.stdout)["changes"]
    assert [(c["address"], c["kind"], c["action"]) for c in changes] == [
        ("ha/vm:101", "ha", "update"),
        ("harule/web-on-pve1", "harule", "update"),
    ]
    assert [(f["name"], f["old"], f["new"]) for f in changes[0]["fields"]] == [
        ("comment", "web", ""),
        ("ha_state", "started", "stopped"),
    ]
    assert [(f["name"], f["old"], f["new"]) for f in changes[1]["fields"]] == [
        ("nodes", "pve1", "pve1:1"),
        ("resources", "vm:101", "vm:101,vm:102"),
    ]
    before = len(cluster.requests)
    result = cli("--workspace", str(ws), "apply", "-y")
    assert result.exit_code == 0, result.output
    writes = writes_since(cluster, before)
    assert ("PUT", "/cluster/ha/resources/vm:101", {"state": "stopped", "delete": "comment"}) in writes
    # PVE's rule update names the rule's type: apply read it.
    assert (
        "PUT",
        "/cluster/ha/rules/web-on-pve1",
        {"type": "node-affinity", "nodes": "pve1:1", "resources": "vm:101,vm:102"},
    ) in writes
    assert len(writes) == 2
    assert cluster.objects("ha")["vm:101"]["state"] == "stopped"
    assert planned(cli, ws) == []


def test_a_new_guest_gets_its_ha_resource_and_rule_after_it_and_destroy_goes_in_reverse(cluster, cli, tmp_path):
    ws = _workspace(cli, tmp_path)
    (ws / "resources" / "vms" / "new-1.yaml").write_text(
        "kind: VM\nname: new-1\nnode: pve1\nvmid: 150\nspec:\n  cores: 1\n  memory: 512\n"
        "  disks: [{slot: scsi0, storage: local-lvm, size: 4G}]\n"
    )
    (ws / "resources" / "ha" / "vm_150.yaml").write_text("kind: HAResource\nname: vm:150\nspec:\n  max_restart: 2\n")
    (ws / "resources" / "ha" / "new-apart.yaml").write_text(
        "kind: HARule\nname: new-apart\nspec:\n  type: resource-affinity\n  resources: [vm:150, vm:101]\n"
        "  affinity: negative\n"
    )
    (ws / "resources" / "ha" / "vm_101.yaml").write_text("kind: HAResource\nname: vm:101\n")
    changes = planned(cli, ws)
    assert [(c["address"], c["action"]) for c in changes] == [
        ("ha/vm:101", "create"),
        ("ha/vm:150", "create"),
        ("harule/new-apart", "create"),
        ("vm/new-1", "create"),
    ]
    before = len(cluster.requests)
    result = cli("--workspace", str(ws), "apply", "-y")
    assert result.exit_code == 0, result.output
    writes = [(m, p, b.get("sid") or b.get("rule")) for m, p, b in writes_since(cluster, before)]
    guest = writes.index(("POST", "/nodes/pve1/qemu", None))
    ha_150 = writes.index(("POST", "/cluster/ha/resources", "vm:150"))
    rule = writes.index(("POST", "/cluster/ha/rules", "new-apart"))
    assert guest < ha_150 < rule
    assert writes.index(("POST", "/cluster/ha/resources", "vm:101")) < rule
    assert cluster.objects("rules")["new-apart"]["affinity"] == "negative"
    assert planned(cli, ws) == []

    # pmpc created all three: destroy deletes the rule, then the HA resource, then the guest.
    before = len(cluster.requests)
    result = cli("--workspace", str(ws), "destroy", "new-1", "ha/vm:150", "harule/new-apart", "-y")
    assert result.exit_code == 0, result.output
    deletes = [(m, p) for m, p, _ in writes_since(cluster, before) if m == "DELETE"]
    assert deletes[:2] == [("DELETE", "/cluster/ha/rules/new-apart"), ("DELETE", "/cluster/ha/resources/vm:150")]
    assert deletes[2][1].startswith("/nodes/pve1/qemu/150")
    assert "vm:150" not in cluster.objects("ha") and 150 not in cluster.vms


def test_a_reference_to_a_missing_guest_or_ha_resource_is_a_validate_error_before_any_request(cluster, cli, tmp_path):
    ws = _workspace(cli, tmp_path)
    # 201 is a container: vm:201 names no guest.
    (ws / "resources" / "ha" / "vm_201.yaml").write_text("kind: HAResource\nname: vm:201\n")
    before = len(cluster.requests)
    result = cli("--workspace", str(ws), "validate")
    assert result.exit_code == 1, result.output
    assert "vm_201.yaml:2:7: name: no VM '201' in the cluster or the workspace (resources/vms/)" in result.stderr
    result = cli("--workspace", str(ws), "apply", "-y")
    assert result.exit_code == 1
    (ws / "resources" / "ha" / "vm_201.yaml").unlink()
    (ws / "resources" / "ha" / "apart.yaml").write_text(
        "kind: HARule\nname: apart\nspec:\n  type: resource-affinity\n  resources: [vm:101, vm:102]\n"
        "  affinity: negative\n"
    )
    result = cli("--workspace", str(ws), "validate")
    assert result.exit_code == 1, result.output
    assert "spec.resources[0]: no HAResource 'vm:101' in the cluster or the workspace (resources/ha/)" in result.stderr
    assert writes_since(cluster, before) == []


def test_an_adopted_ha_resource_is_protected(cluster, cli, tmp_path):
    api_post(cli, "/cluster/ha/resources", "sid=vm:101")
    ws = _workspace(cli, tmp_path)
    before = len(cluster.requests)
    result = cli("--workspace", str(ws), "destroy", "ha/vm:101", "-y")
    assert result.exit_code == 1, result.output
    assert "ha/vm:101, which pmpc did not create" in result.stderr
    assert writes_since(cluster, before) == []
    result = cli("--workspace", str(ws), "destroy", "ha/vm:101", "--allow-destroy", "ha/vm:101", "-y")
    assert result.exit_code == 0, result.output
    assert cluster.objects("ha") == {}


def test_a_rule_that_changes_type_is_replaced(cluster, cli, tmp_path):
    api_post(cli, "/cluster/ha/resources", "sid=vm:101")
    api_post(cli, "/cluster/ha/resources", "sid=vm:102")
    api_post(cli, "/cluster/ha/rules", "rule=web", "type=node-affinity", "resources=vm:101,vm:102", "nodes=pve1")
    ws = _workspace(cli, tmp_path)
    (ws / "resources" / "ha" / "web.yaml").write_text(
        "kind: HARule\nname: web\nlifecycle: {allow_destroy: true}\nspec:\n  type: resource-affinity\n"
        "  resources: [vm:101, vm:102]\n  affinity: positive\n"
    )
    [change] = planned(cli, ws)
    assert change["action"] == "replace"
    assert [f["name"] for f in change["fields"] if f.get("forces_replacement")] == ["type"]
    before = len(cluster.requests)
    result = cli("--workspace", str(ws), "apply", "-y")
    assert result.exit_code == 0, result.output
    assert [(m, p) for m, p, _ in writes_since(cluster, before)] == [
        ("DELETE", "/cluster/ha/rules/web"),
        ("POST", "/cluster/ha/rules"),
    ]
    assert cluster.objects("rules")["web"]["type"] == "resource-affinity"
    assert planned(cli, ws) == []


def test_a_server_without_ha_rules_leaves_them_unread_and_refuses_rule_manifests(cluster, cli, tmp_path):
    ws = _workspace(cli, tmp_path)
    # PVE 8 has no /cluster/ha/rules: it answers 501.
    cluster.fail("GET", "/cluster/ha/rules", status=501, message="Method 'GET /cluster/ha/rules' not implemented")
    result = cli("--workspace", str(ws), "sync")
    assert result.exit_code == 0, result.output
    assert planned(cli, ws) == []
    (ws / "resources" / "ha" / "r.yaml").write_text(
        "kind: HARule\nname: r\nspec:\n  type: node-affinity\n  resources: [vm:101]\n  nodes: {pve1: 1}\n"
    )
    (ws / "resources" / "ha" / HA_FILE).write_text("kind: HAResource\nname: vm:101\n")
    result = cli("--workspace", str(ws), "plan")
    assert result.exit_code == 1, result.output
    assert "harule/r: /cluster/ha/rules could not be read, so it cannot be compared: HA rules need Proxmox VE 9" in (
        result.stderr
    )


def test_ha_list_and_get(cluster, cli):
    api_post(cli, "/cluster/ha/resources", "sid=101", "max_restart=2", "comment=web")
    result = cli("ha", "list")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1].split() == ["vm:101", "started", "2", "1", "true", "web"]
    result = cli("ha", "list", "-o", "name")
    assert result.stdout == "ha/vm:101\n"
    result = cli("ha", "get", "vm:101", "-o", "json")
    assert json.loads(result.stdout) == {
        "id": "vm:101",
        "ha_state": "started",
        "max_restart": 2,
        "max_relocate": 1,
        "failback": True,
        "comment": "web",
    }
    result = cli("ha", "get", "vm:999")
    assert result.exit_code == 6
