"""IP sets and security groups end to end against fakepve: import, plan, apply, destroy, references.

fakepve stores the firewall itself (with PVE's reference checks: a rule naming a missing IP set or
group is refused), so these run against the real request shapes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

IPSET = "/cluster/firewall/ipset"
GROUPS = "/cluster/firewall/groups"


def _api(cli: Any, method: str, path: str, *args: str) -> None:
    done = cli("api", method, path, *args, "-y")
    assert done.exit_code == 0, done.output


def _seed(cli: Any) -> None:
    _api(cli, "post", "/cluster/firewall/aliases", "name=lb", "cidr=10.0.0.10")
    _api(cli, "post", IPSET, "name=admins", "comment=ops desks")
    _api(cli, "post", f"{IPSET}/admins", "cidr=10.1.0.0/24", "comment=office")
    _api(cli, "post", f"{IPSET}/admins", "cidr=10.1.0.9", "nomatch=1")
    _api(cli, "post", GROUPS, "group=web", "comment=web tier")
    # PVE puts each new rule at the top: posted last, listed first.
    for args in (
        ("type=in", "action=DROP", "proto=tcp", "dport=23", "comment=no telnet"),
        ("type=in", "action=ACCEPT", "proto=tcp", "dport=80,443", "source=lb", "comment=web"),
        ("type=in", "action=ACCEPT", "macro=SSH", "source=+admins", "comment=ssh"),
    ):
        _api(cli, "post", f"{GROUPS}/web", *args, "enable=1")


def _workspace(cluster: Any, cli: Any, tmp_path: Path) -> Path:
    _seed(cli)
    assert cli("init", str(tmp_path / "infra"), "--name", "infra").exit_code == 0
    ws = tmp_path / "infra"
    result = cli("--workspace", str(ws), "sync", "--import")
    assert result.exit_code == 0, result.output
    return ws


def _file(ws: Path, name: str) -> Path:
    return ws / "resources" / "firewall" / f"{name}.yaml"


def _doc(ws: Path, name: str) -> dict[str, Any]:
    return yaml.safe_load(_file(ws, name).read_text())


def _write(ws: Path, name: str, doc: dict[str, Any]) -> None:
    _file(ws, name).write_text(yaml.safe_dump(doc, sort_keys=False))


def _writes_since(pve: Any, start: int) -> list[tuple[str, str, Any]]:
    return [(m, p.removeprefix("/api2/json"), body) for m, p, body in pve.requests[start:] if m != "GET"]


def _plan(cli: Any, ws: Path) -> list[dict[str, Any]]:
    result = cli("--workspace", str(ws), "plan", "-o", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["changes"]


def _empty(cli: Any, ws: Path) -> None:
    result = cli("--workspace", str(ws), "plan", "--detailed-exitcode")
    assert result.exit_code == 0, result.output


def _group_comments(cli: Any, group: str = "web") -> list[str]:
    listed = cli("firewall", "rules", "list", "--group", group, "-o", "json")
    return [r.get("comment") for r in json.loads(listed.stdout)]


def test_import_writes_ipsets_and_groups_and_the_plan_is_empty(cluster: Any, cli: Any, tmp_path: Path) -> None:
    ws = _workspace(cluster, cli, tmp_path)
    assert _doc(ws, "admins") == {
        "kind": "FirewallIPSet",
        "name": "admins",
        "spec": {
            "comment": "ops desks",
            "entries": [
                {"cidr": "10.1.0.0/24", "nomatch": False, "comment": "office"},
                {"cidr": "10.1.0.9", "nomatch": True},
            ],
        },
    }
    web = _doc(ws, "web")
    assert (web["kind"], web["name"], web["spec"]["comment"]) == ("SecurityGroup", "web", "web tier")
    assert [r["comment"] for r in web["spec"]["rules"]] == ["ssh", "web", "no telnet"]
    assert web["spec"]["rules"][0]["source"] == "+admins"
    _empty(cli, ws)
    assert cli("--workspace", str(ws), "validate").exit_code == 0
    # `pmpc firewall ipsets|groups list` read what the kinds read.
    [listed] = json.loads(cli("firewall", "ipsets", "list", "-o", "json").stdout)
    assert [e["cidr"] for e in listed["entries"]] == [e["cidr"] for e in _doc(ws, "admins")["spec"]["entries"]]
    [group] = json.loads(cli("firewall", "groups", "list", "-o", "json").stdout)
    assert [r["comment"] for r in group["rules"]] == [r["comment"] for r in web["spec"]["rules"]]
    assert cli("firewall", "groups", "list", "-o", "name").stdout == "secgroup/web\n"


def test_an_ipset_edit_plans_and_applies_exactly_the_entries_that_change(
    cluster: Any, cli: Any, tmp_path: Path
) -> None:
    ws = _workspace(cluster, cli, tmp_path)
    doc = _doc(ws, "admins")
    doc["spec"]["entries"] = [
        {"cidr": "10.1.0.0/24", "comment": "office"},  # kept
        {"cidr": "10.1.0.9"},  # nomatch goes
        {"cidr": "lb", "comment": "the balancer"},  # added: an alias
    ]
    _write(ws, "admins", doc)
    [change] = _plan(cli, ws)
    assert (change["address"], change["kind"], change["action"]) == ("ipset/admins", "ipset", "update")
    assert [(f["name"], f["old"], f["new"]) for f in change["fields"]] == [
        ("entries[10.1.0.9]", "10.1.0.9 nomatch", "10.1.0.9"),
        ("entries[lb]", None, "lb # the balancer"),
    ]
    text = cli("--workspace", str(ws), "plan").stdout
    assert "~ ipset/admins" in text and "entries[lb]" in text and "10.1.0.0/24" not in text
    before = len(cluster.requests)
    applied = cli("--workspace", str(ws), "apply", "-y")
    assert applied.exit_code == 0, applied.output
    assert [(m, p) for m, p, _ in _writes_since(cluster, before)] == [
        ("PUT", f"{IPSET}/admins/10.1.0.9"),
        ("POST", f"{IPSET}/admins"),
    ]
    _empty(cli, ws)


def test_a_created_ipset_and_group_are_made_in_reference_order_and_destroyed(
    cluster: Any, cli: Any, tmp_path: Path
) -> None:
    ws = _workspace(cluster, cli, tmp_path)
    _write(ws, "dbs", {"kind": "FirewallIPSet", "name": "dbs", "spec": {"entries": [{"cidr": "10.2.0.0/16"}]}})
    rules = [
        {"type": "in", "action": "ACCEPT", "proto": "tcp", "dport": "5432", "source": "+dbs", "comment": "pg"},
        {"type": "in", "action": "DROP", "comment": "rest"},
    ]
    _write(ws, "db", {"kind": "SecurityGroup", "name": "db", "spec": {"comment": "db tier", "rules": rules}})
    changes = _plan(cli, ws)
    assert [(c["address"], c["action"]) for c in changes] == [("ipset/dbs", "create"), ("secgroup/db", "create")]
    before = len(cluster.requests)
    applied = cli("--workspace", str(ws), "apply", "-y")
    assert applied.exit_code == 0, applied.output
    writes = [(m, p) for m, p, _ in _writes_since(cluster, before)]
    # The IP set first (the group's rule names it), then the group, then its rules (PVE adds at the top).
    assert writes[:3] == [("POST", IPSET), ("POST", f"{IPSET}/dbs"), ("POST", GROUPS)]
    assert all(p.startswith(f"{GROUPS}/db") for _, p in writes[3:])
    assert _group_comments(cli, "db") == ["pg", "rest"]
    _empty(cli, ws)

    before = len(cluster.requests)
    destroyed = cli("--workspace", str(ws), "destroy", "secgroup/db", "ipset/dbs", "-y")
    assert destroyed.exit_code == 0, destroyed.output
    writes = [(m, p) for m, p, _ in _writes_since(cluster, before)]
    # The group's rules, then the group (PVE deletes only an empty one), then the IP set it named.
    assert [w for w in writes if not w[1].startswith(f"{GROUPS}/db/")] == [
        ("DELETE", f"{GROUPS}/db"),
        ("DELETE", f"{IPSET}/dbs"),
    ]
    assert writes[-2:] == [("DELETE", f"{GROUPS}/db"), ("DELETE", f"{IPSET}/dbs")]
    names = [s["name"] for s in json.loads(cli("firewall", "ipsets", "list", "-o", "json").stdout)]
    assert names == ["admins"]
    assert [g["name"] for g in json.loads(cli("firewall", "groups", "list", "-o", "json").stdout)] == ["web"]


def test_adopted_ipsets_and_groups_need_allow_destroy(cluster: Any, cli: Any, tmp_path: Path) -> None:
    ws = _workspace(cluster, cli, tmp_path)
    web = _doc(ws, "web")
    web["spec"]["rules"] = [r for r in web["spec"]["rules"] if r.get("source") != "+admins"]
    _write(ws, "web", web)
    admins = _doc(ws, "admins")
    admins["spec"]["state"] = "absent"
    _write(ws, "admins", admins)
    before = len(cluster.requests)
    refused = cli("--workspace", str(ws), "apply", "-y")
    assert refused.exit_code == 1 and "ipset/admins" in refused.stderr, refused.output
    assert _writes_since(cluster, before) == []
    admins["lifecycle"] = {"allow_destroy": True}
    _write(ws, "admins", admins)
    applied = cli("--workspace", str(ws), "apply", "-y")
    assert applied.exit_code == 0, applied.output
    # The rule naming the set goes before the set (PVE refuses to delete a set a rule uses).
    writes = [(m, p) for m, p, _ in _writes_since(cluster, before)]
    assert writes[-1] == ("DELETE", f"{IPSET}/admins") and ("DELETE", f"{GROUPS}/web/0") in writes
    assert json.loads(cli("firewall", "ipsets", "list", "-o", "json").stdout) == []
    refused = cli("--workspace", str(ws), "destroy", "secgroup/web", "-y")
    assert refused.exit_code == 1 and "secgroup/web" in refused.stderr


def test_a_group_reorder_is_a_move_and_a_reorder_by_someone_else_is_refused(
    cluster: Any, cli: Any, tmp_path: Path
) -> None:
    ws = _workspace(cluster, cli, tmp_path)
    web = _doc(ws, "web")
    rules = web["spec"]["rules"]
    web["spec"]["rules"] = [rules[2], rules[0], rules[1]]  # "no telnet" first
    _write(ws, "web", web)
    [change] = _plan(cli, ws)
    assert (change["address"], change["action"]) == ("secgroup/web", "update")
    assert [f["name"] for f in change["fields"]] == ["rules[2->0]"] and change["digest"]
    saved = tmp_path / "plan.json"
    assert cli("--workspace", str(ws), "plan", "--out", str(saved)).exit_code == 0
    _api(cli, "put", f"{GROUPS}/web/1", "moveto=0")  # someone else puts "web" first
    before = len(cluster.requests)
    refused = cli("--workspace", str(ws), "apply", str(saved), "-y")
    assert refused.exit_code == 7, refused.output
    assert "secgroup/web" in refused.stderr
    assert _writes_since(cluster, before) == []
    assert _group_comments(cli) == ["web", "ssh", "no telnet"]
    # Planned anew, the move is written with moveto.
    _api(cli, "put", f"{GROUPS}/web/0", "moveto=2")  # back to ssh, web, no telnet
    before = len(cluster.requests)
    applied = cli("--workspace", str(ws), "apply", "-y")
    assert applied.exit_code == 0, applied.output
    assert [(m, p) for m, p, _ in _writes_since(cluster, before)] == [("PUT", f"{GROUPS}/web/2")]
    assert _group_comments(cli) == ["no telnet", "ssh", "web"]
    _empty(cli, ws)


def test_a_missing_reference_is_a_validate_error_before_any_request(cluster: Any, cli: Any, tmp_path: Path) -> None:
    ws = _workspace(cluster, cli, tmp_path)
    web = _doc(ws, "web")
    web["spec"]["rules"][0]["source"] = "+nosuch"
    _write(ws, "web", web)
    _write(ws, "odd", {"kind": "FirewallIPSet", "name": "odd", "spec": {"entries": [{"cidr": "ghost"}]}})
    policy = {
        "kind": "FirewallPolicy",
        "name": "node/pve1",
        "spec": {"rules": [{"type": "group", "action": "missing"}]},
    }
    _file(ws, "pve1").write_text(yaml.safe_dump(policy))
    before = len(cluster.requests)
    result = cli("--workspace", str(ws), "validate")
    assert result.exit_code == 1
    assert "web.yaml:" in result.stderr and "no FirewallIPSet 'nosuch'" in result.stderr, result.stderr
    assert "odd.yaml:" in result.stderr and "no FirewallAlias 'ghost'" in result.stderr
    assert "pve1.yaml:" in result.stderr and "no SecurityGroup 'missing'" in result.stderr
    assert cli("--workspace", str(ws), "apply", "-y").exit_code == 1
    assert _writes_since(cluster, before) == []


def test_bad_ipset_and_group_manifests_are_refused_with_their_place(cluster: Any, cli: Any, tmp_path: Path) -> None:
    ws = _workspace(cluster, cli, tmp_path)
    _write(
        ws,
        "twice",
        {"kind": "FirewallIPSet", "name": "twice", "spec": {"entries": [{"cidr": "10.0.0.1"}, {"cidr": "10.0.0.1"}]}},
    )
    _write(
        ws,
        "fwd",
        {"kind": "SecurityGroup", "name": "fwd", "spec": {"rules": [{"type": "group", "action": "web"}]}},
    )
    _write(ws, "long", {"kind": "SecurityGroup", "name": "a-name-that-is-too-long", "spec": {}})
    _write(ws, "caps", {"kind": "FirewallIPSet", "name": "Admins", "spec": {}})
    result = cli("--workspace", str(ws), "validate")
    assert result.exit_code == 1
    assert "twice.yaml:" in result.stderr and "listed twice" in result.stderr, result.stderr
    assert "fwd.yaml:" in result.stderr and "a group rule's type is one of in, out, forward" in result.stderr
    assert "long.yaml:" in result.stderr and "2 to 18 characters" in result.stderr
    assert "caps.yaml:" in result.stderr and "in lower case, write 'admins'" in result.stderr


def test_generated_terraform_and_ansible_for_ipsets_and_groups(cluster: Any, cli: Any, tmp_path: Path) -> None:
    ws = _workspace(cluster, cli, tmp_path)
    result = cli("--workspace", str(ws), "generate", "terraform")
    assert result.exit_code == 0, result.output
    tf = (ws / "terraform" / "firewall.tf").read_text()
    assert 'resource "proxmox_virtual_environment_firewall_ipset" "admins"' in tf
    assert 'resource "proxmox_virtual_environment_cluster_firewall_security_group" "web"' in tf
    imports = (ws / "terraform" / "imports.tf").read_text()
    # bpg documents import for a security group (by name), not for an IP set: a warning instead.
    assert 'id = "web"' in imports and "firewall_ipset" not in imports
    assert "ipset/admins: the provider documents no import" in result.stderr
    result = cli("--workspace", str(ws), "generate", "ansible")
    assert result.exit_code == 0, result.output
    tasks = yaml.safe_load((ws / "ansible" / "provision.yml").read_text())[0]["tasks"]
    by_name = {t["name"]: t.get("community.proxmox.proxmox_firewall") for t in tasks}
    assert by_name["ipset/admins exists"]["ip_sets"][0]["cidrs"][1] == {"cidr": "10.1.0.9", "nomatch": True}
    assert by_name["secgroup/web exists"]["group_conf"] is True
    rules = by_name["secgroup/web has its rules"]["rules"]
    assert [(r["comment"], r["pos"]) for r in rules] == [("ssh", 0), ("web", 1), ("no telnet", 2)]
