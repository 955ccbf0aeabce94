"""FirewallPolicy as a kind: a level read from two paths, its plan fields (moves as moves), staleness."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError
from tests.unit.generators.test_terraform import check_body, parsed, resources, schema

from proxmox_mpc.core.firewall_rules import EMPTY_DIGEST
from proxmox_mpc.core.models import ObservedGuest
from proxmox_mpc.core.ordering import order_changes
from proxmox_mpc.core.plan import Change, FieldChange
from proxmox_mpc.generators import terraform
from proxmox_mpc.generators.model import GenerateInputs, resource_spec
from proxmox_mpc.kinds.firewall_policy import KIND, PolicyManifest, firewalled
from proxmox_mpc.kinds.plan import change_references, diff_resources, guest_actions, missing_references

SSH = {"type": "in", "action": "ACCEPT", "macro": "SSH", "enable": 1}
WEB = {"type": "in", "action": "ACCEPT", "proto": "tcp", "dport": "443", "enable": 1}
TELNET = {"type": "in", "action": "DROP", "proto": "tcp", "dport": "23", "enable": 1}


def listed(*rules: dict) -> list[dict]:
    return [{**r, "pos": i, "digest": "d1"} for i, r in enumerate(rules)]


BODIES = {
    "/cluster/firewall/rules": listed(SSH, WEB, TELNET),
    "/cluster/firewall/options": {"enable": 1, "digest": "o"},
    "/nodes/pve1/firewall/rules": listed(TELNET),
    "/nodes/pve1/firewall/options": {},
    "/nodes/pve2/firewall/rules": [],
    "/nodes/pve2/firewall/options": {"digest": "x"},
}


def manifest(name: str = "cluster", **spec) -> PolicyManifest:
    return PolicyManifest.model_validate({"kind": "FirewallPolicy", "name": name, "spec": spec})


def test_levels_are_read_from_both_paths_and_empty_ones_left_out() -> None:
    found = KIND.from_reads(BODIES)
    assert [r.address for r in found] == ["firewall/cluster", "firewall/node/pve1"]
    cluster = found[0]
    assert cluster.data["options"] == {"enable": "1"} and cluster.data["digest"] == "d1"
    assert cluster.data["rules"][2] == "in DROP proto=tcp dport=23"
    assert KIND.diff(KIND.to_manifest(cluster), cluster) is None


def test_a_reorder_is_one_move_with_the_digest_seen() -> None:
    cluster = KIND.from_reads(BODIES)[0]
    change = KIND.diff(manifest(rules=[TELNET, SSH, WEB]), cluster)
    assert change is not None and change.action == "update" and change.digest == "d1"
    assert [f.name for f in change.fields] == ["rules[2->0]"]
    assert [r.line() for r in KIND.requests(change)] == ["PUT /cluster/firewall/rules/2 moveto=0 digest=d1"]
    assert KIND.stale(change, cluster) is None
    moved = cluster.model_copy(update={"data": {**cluster.data, "digest": "d2"}})
    assert KIND.stale(change, moved) == "the rules of firewall/cluster changed (someone else edited or reordered them)"


def test_options_and_rules_left_out_are_not_managed() -> None:
    cluster = KIND.from_reads(BODIES)[0]
    assert KIND.diff(manifest(), cluster) is None
    change = KIND.diff(manifest(options={"enable": True, "policy_in": "REJECT"}), cluster)
    assert change is not None and [(f.name, f.old, f.new) for f in change.fields] == [
        ("options.policy_in", None, "REJECT")
    ]
    assert [r.line() for r in KIND.requests(change)] == ["PUT /cluster/firewall/options policy_in=REJECT"]
    assert KIND.diff(manifest(rules=[], state="absent"), cluster) is None  # a level is never deleted


def test_a_new_level_is_created_from_the_empty_list() -> None:
    change = KIND.diff(manifest("node/pve2", rules=[SSH, WEB]), None)
    assert change is not None and change.action == "create" and change.digest == EMPTY_DIGEST
    assert [r.method for r in KIND.requests(change)] == ["POST", "POST", "PUT"]
    assert KIND.change_references(change) == []
    jump = KIND.diff(manifest(rules=[{"type": "group", "action": "web", "source": "+admins"}]), None)
    assert jump is not None and KIND.change_references(jump) == ["ipset/admins", "secgroup/web"]


@pytest.mark.parametrize(
    ("name", "spec", "message"),
    [
        ("vm/99", {}, "is not a firewall level: cluster, node/NAME, vm/VMID or ct/VMID"),
        ("pool/prod", {}, "is not a firewall level: cluster, node/NAME, vm/VMID or ct/VMID"),
        ("vm/101", {"options": {"ebtables": 1}}, "'ebtables' is not a vm firewall option"),
        ("ct/201", {"rules": [{"type": "forward", "action": "DROP"}]}, "a ct rule's type is one of in, out, group"),
        ("vm/101", {"rules": [{"type": "in", "action": "DROP", "iface": "vmbr0"}]}, "one of its network devices"),
        ("cluster", {"options": {"macfilter": 1}}, "'macfilter' is not a cluster firewall option"),
        ("node/pve1", {"rules": [{"type": "in", "action": "ALLOW"}]}, "is none of ACCEPT, DROP, REJECT"),
    ],
)
def test_bad_policy_manifests(name: str, spec: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        manifest(name, **spec)


# ----------------------------------------------------------------------------- a guest's level

GUEST_BODIES = {
    "/nodes/pve2/qemu/101/firewall/rules": listed(SSH, WEB),
    "/nodes/pve2/qemu/101/firewall/options": {"enable": 1, "digest": "o"},
    "/nodes/pve1/lxc/201/firewall/rules": [],
    "/nodes/pve1/lxc/201/firewall/options": {"policy_in": "ACCEPT"},
    "/nodes/pve1/qemu/102/firewall/rules": [],
    "/nodes/pve1/qemu/102/firewall/options": {"enable": 0, "policy_in": "DROP", "digest": "p"},  # PVE's defaults
}


def test_a_guest_level_is_read_by_vmid_whatever_its_node() -> None:
    found = {r.address: r for r in KIND.from_reads(GUEST_BODIES)}
    assert sorted(found) == ["firewall/ct/201", "firewall/vm/101"]  # 102 has PVE's defaults: nothing to manage
    vm = found["firewall/vm/101"]
    assert vm.data == {
        "options": {"enable": "1"},
        "rules": ["in ACCEPT macro=SSH", "in ACCEPT proto=tcp dport=443"],
        "digest": "d1",
    }
    assert "pve2" not in str(vm.data)  # a guest that moves keeps its address and data
    manifest = KIND.to_manifest(vm)
    assert manifest.name == "vm/101" and manifest.guest == "vm/101" and KIND.diff(manifest, vm) is None
    assert KIND.to_manifest(found["firewall/ct/201"]).spec.options == {"policy_in": "ACCEPT"}


def _guest(vmid: int, kind: str = "vm", **config: str) -> ObservedGuest:
    return ObservedGuest(vmid=vmid, kind=kind, name=f"g{vmid}", node="pve1", config=config)


def test_a_guest_firewall_is_read_where_its_rules_take_effect_or_a_manifest_describes_it() -> None:
    assert firewalled({"net0": "virtio=AA:BB:CC:DD:EE:FF,bridge=vmbr0,firewall=1"})
    assert not firewalled({"net0": "virtio=AA:BB:CC:DD:EE:FF,bridge=vmbr0,firewall=0", "firewall": "1"})
    assert not firewalled({"net0": "virtio=AA:BB:CC:DD:EE:FF,bridge=vmbr0"})
    none: frozenset[str] = frozenset()
    assert KIND.reads_guest(_guest(101, net1="name=eth0,bridge=vmbr0,firewall=1"), none)
    assert not KIND.reads_guest(_guest(101, net0="name=eth0,bridge=vmbr0"), none)
    assert KIND.reads_guest(_guest(101), frozenset({"firewall/vm/101"}))
    assert not KIND.reads_guest(_guest(101, "ct"), frozenset({"firewall/vm/101"}))


def test_a_guest_level_references_its_guest_and_is_made_after_it() -> None:
    policy = manifest("vm/101", rules=[{"type": "group", "action": "web"}])
    assert [(r.loc, r.address, r.kind) for r in KIND.references(policy)] == [
        (("name",), "vm/101", "vm"),
        (("spec", "rules", 0, "action"), "secgroup/web", "secgroup"),
    ]
    missing = missing_references([policy], {"secgroup": []}, {"secgroup/web"}, set())
    assert [(m.address, r.address) for m, r in missing] == [("firewall/vm/101", "vm/101")]
    assert missing_references([policy], {"secgroup": []}, {"secgroup/web"}, {"vm/101"}) == []
    assert missing_references([policy], {"secgroup": []}, {"secgroup/web"}) == []  # guests not known: not judged
    change = KIND.diff(policy, None)
    assert change is not None and KIND.change_references(change) == ["secgroup/web", "vm/101"]
    # The guest change is addressed by name: the policy still waits for it, matched by VMID.
    guest = Change(address="vm/web-1", kind="vm", vmid=101, node="pve1", action="create")
    stages = order_changes([change, guest], change_references([change, guest]))
    assert [[c.address for c in stage] for stage in stages] == [["vm/web-1"], ["firewall/vm/101"]]


def test_a_guest_level_goes_with_its_guest() -> None:
    observed = {"firewall": KIND.from_reads(GUEST_BODIES)}
    policy = manifest("vm/101", rules=[SSH])
    assert [c.address for c in diff_resources([policy], observed)] == ["firewall/vm/101"]
    gone = Change(address="vm/web-1", kind="vm", vmid=101, node="pve2", action="delete")
    assert guest_actions([gone]) == {"vm/101": "delete"}
    assert diff_resources([policy], observed, guest_actions([gone])) == []  # nothing sent to a gone guest
    # A replaced guest is made anew without a firewall: its whole policy is written again.
    replaced = gone.model_copy(update={"action": "replace"})
    [change] = diff_resources([policy], observed, guest_actions([replaced]))
    assert change.action == "create" and change.digest == EMPTY_DIGEST
    assert [(f.name, f.old, f.new) for f in change.fields] == [("rules[0]", None, "in ACCEPT macro=SSH")]


def test_a_guest_level_is_written_through_the_node_the_change_names() -> None:
    change = KIND.diff(manifest("ct/201", options={"enable": 1}, rules=[TELNET]), None)
    assert change is not None
    with pytest.raises(ValueError, match="reached through its node"):
        KIND.requests(change)
    placed = change.model_copy(update={"node": "pve3"})
    [options, rule] = KIND.requests(placed)
    assert options.line() == "PUT /nodes/pve3/lxc/201/firewall/options enable=1"
    assert (rule.method, rule.path, rule.params["dport"]) == ("POST", "/nodes/pve3/lxc/201/firewall/rules", "23")


def test_a_guest_level_in_terraform_and_ansible() -> None:
    policy = manifest("vm/101", options={"enable": 1}, rules=[SSH])
    spec = resource_spec(KIND, policy, exists=False, nodes={"vm/101": "pve2"})
    assert spec.terraform_attrs[:2] == [("node_name", "pve2"), ("vm_id", 101)]
    found = resources(parsed(terraform.render(GenerateInputs(resources=[spec]))))
    [(address, body)] = found.items()
    rtype = KIND.terraform.resource_type
    assert check_body(body, schema()["resource_schemas"][rtype]["block"], address) == []
    ct = resource_spec(KIND, manifest("ct/201", rules=[SSH]), exists=False, nodes={"ct/201": "pve1"})
    assert ct.terraform_attrs[:2] == [("node_name", "pve1"), ("container_id", 201)]
    assert KIND.ansible_args(policy)[:2] == [("level", "vm"), ("vmid", 101)]


def test_options_of_a_guest_change_only_what_the_manifest_sets() -> None:
    vm = {r.address: r for r in KIND.from_reads(GUEST_BODIES)}["firewall/vm/101"]
    change = KIND.diff(manifest("vm/101", options={"enable": 1, "macfilter": 0}), vm)
    assert change is not None
    assert [(f.name, f.old, f.new) for f in change.fields] == [("options.macfilter", None, "0")]
    assert change.fields[0] == FieldChange(name="options.macfilter", old=None, new="0")


def test_the_policy_examples_of_the_manual_validate() -> None:
    text = (Path(__file__).resolve().parents[3] / "docs" / "manifests.md").read_text()
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", text, re.S) if "kind: FirewallPolicy" in b]
    names = [PolicyManifest.model_validate(yaml.safe_load(b)).name for b in blocks]
    assert names == ["cluster", "vm/101"]
