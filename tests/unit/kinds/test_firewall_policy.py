"""FirewallPolicy as a kind: a level read from two paths, its plan fields (moves as moves), staleness."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from proxmox_mpc.core.firewall_rules import EMPTY_DIGEST
from proxmox_mpc.kinds.firewall_policy import KIND, PolicyManifest

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
        ("vm/101", {}, "is not a firewall level pmpc manages: cluster or node/NAME"),
        ("cluster", {"options": {"macfilter": 1}}, "'macfilter' is not a cluster firewall option"),
        ("node/pve1", {"rules": [{"type": "in", "action": "ALLOW"}]}, "is none of ACCEPT, DROP, REJECT"),
    ],
)
def test_bad_policy_manifests(name: str, spec: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        manifest(name, **spec)
