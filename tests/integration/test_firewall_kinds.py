"""Firewall kinds end to end against fakepve: import, plan, apply, destroy and generate of aliases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tests.helpers.workspace import reorder_between_plan_and_apply


def _workspace(cli: Any, work: Path) -> Path:
    result = cli("init", str(work / "infra"), "--name", "infra")
    assert result.exit_code == 0, result.output
    ws = work / "infra"
    result = cli("--workspace", str(ws), "sync", "--import")
    assert result.exit_code == 0, result.output
    return ws


def _writes_since(pve: Any, start: int) -> list[tuple[str, str, Any]]:
    return [(m, p.removeprefix("/api2/json"), body) for m, p, body in pve.requests[start:] if m != "GET"]


def _aliases(cli: Any) -> list[dict[str, Any]]:
    return json.loads(cli("firewall", "aliases", "list", "-o", "json").stdout)


def test_alias_import_edit_apply_and_destroy(cluster: Any, cli: Any, tmp_path: Path) -> None:
    made = cli("api", "post", "/cluster/firewall/aliases", "name=LB", "cidr=10.0.0.10", "comment=balancer", "-y")
    assert made.exit_code == 0, made.output
    ws = _workspace(cli, tmp_path)
    path = ws / "resources" / "firewall" / "lb.yaml"  # named by its address
    assert yaml.safe_load(path.read_text()) == {
        "kind": "FirewallAlias",
        "name": "LB",
        "spec": {"cidr": "10.0.0.10", "comment": "balancer"},
    }
    assert cli("--workspace", str(ws), "plan", "--detailed-exitcode").exit_code == 0

    # Edit the comment only: the plan shows that change; the write carries the cidr PVE wants.
    path.write_text("kind: FirewallAlias\nname: LB\nspec:\n  cidr: 10.0.0.10\n  comment: the balancer\n")
    text = cli("--workspace", str(ws), "plan")
    assert "  ~ alias/lb\n      ~ comment: balancer -> the balancer\n" in text.stdout, text.stdout
    assert "cidr" not in text.stdout
    before = len(cluster.requests)
    applied = cli("--workspace", str(ws), "apply", "-y")
    assert applied.exit_code == 0, applied.output
    writes = _writes_since(cluster, before)
    assert [(m, p) for m, p, _ in writes] == [("PUT", "/cluster/firewall/aliases/LB")]
    assert _aliases(cli) == [{"name": "LB", "cidr": "10.0.0.10", "comment": "the balancer"}]
    assert cli("--workspace", str(ws), "plan", "--detailed-exitcode").exit_code == 0

    # A new alias is created, and only an alias pmpc created may be destroyed without allow_destroy.
    (ws / "resources" / "firewall" / "db.yaml").write_text(
        "kind: FirewallAlias\nname: db\nspec:\n  cidr: 10.0.1.0/24\n"
    )
    plan = cli("--workspace", str(ws), "plan", "-o", "json").json()
    assert [(c["address"], c["action"]) for c in plan["changes"]] == [("alias/db", "create")]
    assert cli("--workspace", str(ws), "apply", "-y").exit_code == 0
    assert {a["name"] for a in _aliases(cli)} == {"LB", "db"}
    destroyed = cli("--workspace", str(ws), "destroy", "alias/db", "-y")
    assert destroyed.exit_code == 0, destroyed.output
    assert {a["name"] for a in _aliases(cli)} == {"LB"}
    refused = cli("--workspace", str(ws), "destroy", "alias/lb", "-y")
    assert refused.exit_code == 1 and "alias/lb" in refused.stderr
    assert {a["name"] for a in _aliases(cli)} == {"LB"}


def test_a_bad_alias_manifest_is_refused_before_any_request(cluster: Any, cli: Any, tmp_path: Path) -> None:
    ws = _workspace(cli, tmp_path)
    (ws / "resources" / "firewall").mkdir(exist_ok=True)
    (ws / "resources" / "firewall" / "bad.yaml").write_text(
        "kind: FirewallAlias\nname: bad\nspec:\n  cidr: 10.0.0.300\n"
    )
    before = len(cluster.requests)
    result = cli("--workspace", str(ws), "validate")
    assert result.exit_code == 1
    assert "bad.yaml:4:" in result.stderr + result.stdout and "'10.0.0.300' is not an IP address or CIDR" in (
        result.stderr + result.stdout
    )
    assert cli("--workspace", str(ws), "apply", "-y").exit_code == 1
    assert _writes_since(cluster, before) == []


def test_generated_terraform_and_ansible_for_an_alias(cluster: Any, cli: Any, tmp_path: Path) -> None:
    assert cli("api", "post", "/cluster/firewall/aliases", "name=lb", "cidr=10.0.0.10", "-y").exit_code == 0
    ws = _workspace(cli, tmp_path)
    result = cli("--workspace", str(ws), "generate", "terraform")
    assert result.exit_code == 0, result.output
    tf = (ws / "terraform" / "firewall.tf").read_text()
    assert 'resource "proxmox_virtual_environment_firewall_alias" "lb"' in tf
    assert "documents no import for this type" in tf
    assert "firewall_alias" not in (ws / "terraform" / "imports.tf").read_text()
    assert "alias/lb: the provider documents no import" in result.stderr
    result = cli("--workspace", str(ws), "generate", "ansible")
    assert result.exit_code == 0, result.output
    play = yaml.safe_load((ws / "ansible" / "provision.yml").read_text())
    [task] = [t for t in play[0]["tasks"] if "community.proxmox.proxmox_firewall" in t]
    assert task["community.proxmox.proxmox_firewall"]["aliases"] == [{"name": "lb", "cidr": "10.0.0.10"}]


RULES = "/cluster/firewall/rules"


def _seed_rules(cli: Any) -> None:
    # PVE puts each new rule at the top: posted last, listed first.
    for args in (
        ("type=in", "action=DROP", "proto=tcp", "dport=23", "comment=no telnet"),
        ("type=in", "action=ACCEPT", "proto=tcp", "dport=80,443", "comment=web"),
        ("type=in", "action=ACCEPT", "macro=SSH", "source=lb", "comment=ssh"),
    ):
        made = cli("api", "post", RULES, *args, "enable=1", "-y")
        assert made.exit_code == 0, made.output


def _comments(cli: Any) -> list[str]:
    return [r["comment"] for r in json.loads(cli("firewall", "rules", "list", "-o", "json").stdout)]


def _policy_workspace(cluster: Any, cli: Any, tmp_path: Path) -> Path:
    assert cli("api", "post", "/cluster/firewall/aliases", "name=lb", "cidr=10.0.0.10", "-y").exit_code == 0
    _seed_rules(cli)
    assert cli("api", "put", "/cluster/firewall/options", "enable=1", "policy_in=DROP", "-y").exit_code == 0
    ws = _workspace(cli, tmp_path)
    assert _comments(cli) == ["ssh", "web", "no telnet"]
    return ws


def _policy_file(ws: Path) -> Path:
    return ws / "resources" / "firewall" / "cluster.yaml"


def test_policy_import_then_plan_is_empty(cluster: Any, cli: Any, tmp_path: Path) -> None:
    ws = _policy_workspace(cluster, cli, tmp_path)
    doc = yaml.safe_load(_policy_file(ws).read_text())
    assert doc["kind"] == "FirewallPolicy" and doc["name"] == "cluster"
    assert doc["spec"]["options"] == {"enable": "1", "policy_in": "DROP"}
    assert [r["comment"] for r in doc["spec"]["rules"]] == ["ssh", "web", "no telnet"]
    assert doc["spec"]["rules"][0] == {
        "type": "in",
        "action": "ACCEPT",
        "macro": "SSH",
        "source": "lb",
        "enable": True,
        "comment": "ssh",
    }
    result = cli("--workspace", str(ws), "plan", "--detailed-exitcode")
    assert result.exit_code == 0, result.output


def test_a_reorder_is_planned_as_one_move_and_applied_with_moveto(cluster: Any, cli: Any, tmp_path: Path) -> None:
    ws = _policy_workspace(cluster, cli, tmp_path)
    doc = yaml.safe_load(_policy_file(ws).read_text())
    rules = doc["spec"]["rules"]
    doc["spec"]["rules"] = [rules[2], rules[0], rules[1]]  # "no telnet" first
    _policy_file(ws).write_text(yaml.safe_dump(doc, sort_keys=False))
    plan = cli("--workspace", str(ws), "plan", "-o", "json", "--detailed-exitcode")
    assert plan.exit_code == 2, plan.output
    [change] = json.loads(plan.stdout)["changes"]
    assert (change["address"], change["kind"], change["action"]) == ("firewall/cluster", "firewall", "update")
    assert [f["name"] for f in change["fields"]] == ["rules[2->0]"]
    assert change["fields"][0]["old"] == "in DROP proto=tcp dport=23 # no telnet"
    assert change["digest"]
    text = cli("--workspace", str(ws), "plan")
    assert "~ firewall/cluster" in text.stdout and "rules[2->0]: in DROP proto=tcp dport=23 # no telnet" in text.stdout
    before = len(cluster.requests)
    applied = cli("--workspace", str(ws), "apply", "-y")
    assert applied.exit_code == 0, applied.output
    writes = _writes_since(cluster, before)
    assert [(m, p) for m, p, _ in writes] == [("PUT", f"{RULES}/2")]
    assert _comments(cli) == ["no telnet", "ssh", "web"]
    assert cli("--workspace", str(ws), "plan", "--detailed-exitcode").exit_code == 0


def test_a_reorder_by_someone_else_between_plan_and_apply_is_refused(cluster: Any, cli: Any, tmp_path: Path) -> None:
    ws = _policy_workspace(cluster, cli, tmp_path)
    # Someone else puts "no telnet" first; the apply sends no write.
    refused = reorder_between_plan_and_apply(cluster, cli, ws, _policy_file(ws), RULES, tmp_path / "plan.json")
    assert refused.exit_code == 7, refused.output
    assert "firewall/cluster" in refused.stderr
    assert _comments(cli) == ["no telnet", "ssh", "web"]


def test_a_rule_naming_a_missing_alias_is_a_validate_error(cluster: Any, cli: Any, tmp_path: Path) -> None:
    ws = _policy_workspace(cluster, cli, tmp_path)
    doc = yaml.safe_load(_policy_file(ws).read_text())
    doc["spec"]["rules"][0]["source"] = "nosuch"
    _policy_file(ws).write_text(yaml.safe_dump(doc, sort_keys=False))
    before = len(cluster.requests)
    result = cli("--workspace", str(ws), "validate")
    assert result.exit_code == 1
    assert "cluster.yaml:" in result.stderr and "nosuch" in result.stderr
    assert cli("--workspace", str(ws), "apply", "-y").exit_code == 1
    assert _writes_since(cluster, before) == []


def test_a_bad_rule_is_refused_with_its_place(cluster: Any, cli: Any, tmp_path: Path) -> None:
    ws = _policy_workspace(cluster, cli, tmp_path)
    doc = yaml.safe_load(_policy_file(ws).read_text())
    doc["spec"]["rules"][1]["dport"] = "70000"
    _policy_file(ws).write_text(yaml.safe_dump(doc, sort_keys=False))
    result = cli("--workspace", str(ws), "validate")
    assert result.exit_code == 1
    assert "cluster.yaml:" in result.stderr and "ports go up to 65535" in result.stderr
