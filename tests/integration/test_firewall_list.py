"""`pmpc firewall rules list | options get | aliases list | ipsets list | groups list` against fakepve.

The firewall is written through `pmpc api` (so fakepve's schema check and PVE's rule checks run), then
read back through the firewall verbs.
"""

from __future__ import annotations

import json
from typing import Any

import pytest


def api(cli: Any, method: str, path: str, *params: str) -> None:
    result = cli("api", method, path, *params, "-y")
    assert result.exit_code == 0, result.output


@pytest.fixture
def firewall(cluster: Any, cli: Any) -> Any:
    api(cli, "post", "/cluster/firewall/aliases", "name=lb", "cidr=10.0.0.10", "comment=load balancer")
    api(cli, "post", "/cluster/firewall/ipset", "name=admins", "comment=ops desks")
    api(cli, "post", "/cluster/firewall/ipset/admins", "cidr=10.1.0.0/24")
    api(cli, "post", "/cluster/firewall/ipset/admins", "cidr=10.1.0.9", "nomatch=1")
    api(cli, "post", "/cluster/firewall/groups", "group=web", "comment=web tier")
    api(cli, "post", "/cluster/firewall/groups/web", "type=in", "action=ACCEPT", "macro=Web", "source=lb", "enable=1")
    # PVE puts each new rule at the top: the last one posted is rule 0.
    api(cli, "post", "/cluster/firewall/rules", "type=in", "action=DROP", "proto=tcp", "dport=23", "enable=1")
    api(
        cli,
        "post",
        "/cluster/firewall/rules",
        "type=in",
        "action=ACCEPT",
        "macro=SSH",
        "source=+admins",
        "enable=1",
        "comment=ssh from ops",
    )
    api(cli, "post", "/nodes/pve1/qemu/101/firewall/rules", "type=group", "action=web", "iface=net0", "enable=1")
    api(cli, "put", "/nodes/pve1/qemu/101/firewall/options", "enable=1", "policy_in=DROP")
    return cluster


def test_rules_of_the_cluster_in_order(firewall: Any, cli: Any) -> None:
    result = cli("firewall", "rules", "list", "-o", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [(r["pos"], r["action"], r["macro"], r["dport"]) for r in rows] == [
        (0, "ACCEPT", "SSH", None),
        (1, "DROP", None, "23"),
    ]
    assert rows[0]["source"] == "+admins" and rows[0]["comment"] == "ssh from ops" and rows[0]["enable"] is True
    assert {r["level"] for r in rows} == {"cluster"}
    same = cli("firewall", "rules", "list", "--cluster", "-o", "json")
    assert json.loads(same.stdout) == rows
    table = cli("firewall", "rules", "list")
    assert table.stdout.splitlines()[0].split() == [
        "POS",
        "TYPE",
        "ACTION",
        "MACRO",
        "PROTO",
        "SOURCE",
        "DEST",
        "DPORT",
        "ENABLE",
        "COMMENT",
    ]
    assert table.stdout.splitlines()[1].split()[:6] == ["0", "in", "ACCEPT", "SSH", "-", "+admins"]
    names = cli("firewall", "rules", "list", "-o", "name")
    assert names.stdout.splitlines() == ["firewall/cluster/rules/0", "firewall/cluster/rules/1"]
    path = cli("firewall", "rules", "list", "-o", "jsonpath={.items[*].action}")
    assert path.stdout.strip() == "ACCEPT DROP"


def test_rules_of_a_guest_a_node_and_a_group(firewall: Any, cli: Any) -> None:
    for guest in ("101", "web-1", "vm/101"):
        result = cli("firewall", "rules", "list", "--guest", guest, "-o", "json")
        assert result.exit_code == 0, result.output
        [rule] = json.loads(result.stdout)
        assert (rule["level"], rule["type"], rule["action"], rule["iface"]) == ("vm/101", "group", "web", "net0")
    empty = cli("firewall", "rules", "list", "--node", "pve2", "-o", "json")
    assert empty.exit_code == 0 and json.loads(empty.stdout) == []
    assert "No firewall rules found." in cli("firewall", "rules", "list", "--node", "pve2").stderr
    group = cli("firewall", "rules", "list", "--group", "web", "-o", "json")
    assert [(r["level"], r["macro"], r["source"]) for r in json.loads(group.stdout)] == [("secgroup/web", "Web", "lb")]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("--guest", "999"), 6, "No guest '999' in this cluster."),
        (("--guest", "ct/101"), 6, "No guest 'ct/101' in this cluster."),
        (("--node", "pve9"), 6, "No node named 'pve9' in this cluster (nodes: pve1, pve2, pve3)."),
        (("--group", "db"), 6, "No security group named 'db' (groups: web)."),
        (("--guest", "101", "--node", "pve1"), 64, "Give one firewall level, not --guest and --node."),
        (("--cluster", "--group", "web"), 64, "Give one firewall level, not --cluster and --group."),
        (("--sort-by", "colour"), 64, "colour"),
    ],
)
def test_bad_levels(firewall: Any, cli: Any, args: tuple[str, ...], code: int, message: str) -> None:
    result = cli("firewall", "rules", "list", *args)
    assert result.exit_code == code, result.output
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_options_of_a_guest_and_the_cluster(firewall: Any, cli: Any) -> None:
    result = cli("firewall", "options", "get", "--guest", "web-1", "-o", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"level": "vm/101", "options": {"enable": "1", "policy_in": "DROP"}}
    table = cli("firewall", "options", "get")
    assert table.exit_code == 0, table.output
    assert "cluster" in table.stdout


def test_aliases_ipsets_and_groups(firewall: Any, cli: Any) -> None:
    aliases = cli("firewall", "aliases", "list", "-o", "json")
    assert aliases.exit_code == 0, aliases.output
    assert json.loads(aliases.stdout) == [{"name": "lb", "comment": "load balancer", "cidr": "10.0.0.10"}]
    assert cli("firewall", "aliases", "list", "-o", "name").stdout == "alias/lb\n"
    ipsets = cli("firewall", "ipsets", "list", "-o", "json")
    [admins] = json.loads(ipsets.stdout)
    assert admins["name"] == "admins" and admins["comment"] == "ops desks"
    assert [(e["cidr"], e["nomatch"]) for e in admins["entries"]] == [("10.1.0.0/24", False), ("10.1.0.9", True)]
    table = cli("firewall", "ipsets", "list")
    assert table.stdout.splitlines()[1].split() == ["admins", "10.1.0.0/24,!10.1.0.9", "ops", "desks"]
    groups = cli("firewall", "groups", "list", "-o", "json")
    [web] = json.loads(groups.stdout)
    assert (web["name"], web["comment"], web["rule_count"]) == ("web", "web tier", 1)
    assert web["rules"][0]["macro"] == "Web"
    assert cli("firewall", "groups", "list", "-o", "name").stdout == "secgroup/web\n"


def test_an_empty_firewall_lists_nothing(cluster: Any, cli: Any) -> None:
    for what, plural in (("aliases", "aliases"), ("ipsets", "IP sets"), ("groups", "security groups")):
        result = cli("firewall", what, "list", "-o", "json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout) == []
        assert f"No {plural} found." in cli("firewall", what, "list").stderr
