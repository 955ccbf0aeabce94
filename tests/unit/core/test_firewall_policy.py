"""Firewall policies: a level's name, its options as PVE means them, and its rules read back."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from proxmox_mpc.core.firewall_policy import (
    FirewallPolicy,
    diff_options,
    firewall_path,
    option_value,
    options_from_api,
    parse_policy_name,
    rules_path,
)


@pytest.mark.parametrize(
    ("name", "parsed"),
    [
        ("cluster", ("cluster", None)),
        ("node/pve1", ("node", "pve1")),
        ("vm/101", ("vm", "101")),
        ("ct/201", ("ct", "201")),
    ],
)
def test_policy_names(name: str, parsed: tuple) -> None:
    assert parse_policy_name(name) == parsed
    assert FirewallPolicy(name=name).address == f"firewall/{name}"


@pytest.mark.parametrize("bad", ["clusters", "node/", "vm/99", "vm/web-1", "pool/prod", "node/-x"])
def test_bad_policy_names(bad: str) -> None:
    with pytest.raises(ValidationError, match="is not a firewall level: cluster, node/NAME, vm/VMID or ct/VMID"):
        FirewallPolicy(name=bad)


@pytest.mark.parametrize(
    ("scope", "target", "node", "path"),
    [
        ("cluster", None, None, "/cluster/firewall"),
        ("node", "pve1", None, "/nodes/pve1/firewall"),
        ("vm", "101", "pve2", "/nodes/pve2/qemu/101/firewall"),
        ("ct", "201", "pve1", "/nodes/pve1/lxc/201/firewall"),
        ("group", "web", None, "/cluster/firewall/groups/web"),
    ],
)
def test_paths(scope: str, target: str | None, node: str | None, path: str) -> None:
    assert firewall_path(scope, target, node) == path


def test_rules_paths() -> None:
    assert rules_path("cluster") == "/cluster/firewall/rules"
    assert rules_path("ct", "201", "pve1") == "/nodes/pve1/lxc/201/firewall/rules"
    assert rules_path("group", "web") == "/cluster/firewall/groups/web"


def test_a_guest_path_needs_its_node() -> None:
    with pytest.raises(ValueError, match="reached through its node"):
        firewall_path("vm", "101")


@pytest.mark.parametrize(
    ("scope", "name", "value", "text"),
    [
        ("vm", "enable", True, "1"),
        ("vm", "enable", "yes", "1"),
        ("vm", "dhcp", 0, "0"),
        ("cluster", "enable", 1733450000, "1"),
        ("cluster", "enable", "0", "0"),
        ("node", "nf_conntrack_max", 300000, "300000"),
        ("vm", "policy_in", "REJECT", "REJECT"),
        ("node", "log_level_in", "info", "info"),
        ("cluster", "log_ratelimit", "enable=1,rate=1/second", "enable=1,rate=1/second"),
    ],
)
def test_option_values(scope: str, name: str, value: object, text: str) -> None:
    assert option_value(scope, name, value) == text


@pytest.mark.parametrize(
    ("scope", "name", "value", "message"),
    [
        ("vm", "nftables", 1, "'nftables' is not a vm firewall option (known: dhcp, enable"),
        ("vm", "enable", "maybe", "option enable is a boolean (0 or 1), not 'maybe'"),
        ("node", "nf_conntrack_max", "lots", "option nf_conntrack_max is a whole number"),
        ("cluster", "policy_forward", "REJECT", "option policy_forward is one of ACCEPT, DROP, not 'REJECT'"),
    ],
)
def test_bad_options(scope: str, name: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", "\\(").replace(")", "\\)")):
        option_value(scope, name, value)


def test_options_compare_with_pve_defaults() -> None:
    observed = options_from_api("vm", {"enable": 1, "digest": "x", "unknown_future": 1})
    assert observed == {"enable": "1"}
    desired = FirewallPolicy(name="vm/101", options={"enable": True, "macfilter": 1, "policy_in": "DROP"}).options
    assert desired == {"enable": "1", "macfilter": "1", "policy_in": "DROP"}
    assert diff_options("vm", desired, observed) == {}
    assert diff_options("vm", {"macfilter": "0", "enable": "1"}, observed) == {"macfilter": (None, "0")}
    assert options_from_api("cluster", {"enable": 1733450000}) == {"enable": "1"}


def test_policy_from_api_and_references() -> None:
    policy = FirewallPolicy.from_api(
        "vm/101",
        {"enable": 1, "digest": "d"},
        [
            {"type": "group", "action": "web", "enable": 1, "pos": 0, "digest": "r"},
            {
                "type": "in",
                "action": "ACCEPT",
                "source": "+admins",
                "macro": "SSH",
                "enable": 0,
                "pos": 1,
                "digest": "r",
            },
        ],
    )
    assert policy.options == {"enable": "1"}
    assert [r.type for r in policy.rules or ()] == ["group", "in"]
    assert policy.references() == [("rules[0].action", "secgroup/web"), ("rules[1].source", "ipset/admins")]
    assert FirewallPolicy(name="cluster").rules is None


def test_a_policy_checks_rules_and_options_for_its_level() -> None:
    with pytest.raises(ValidationError, match="'ebtables' is not a vm firewall option"):
        FirewallPolicy.model_validate({"name": "vm/101", "options": {"ebtables": 1}})
    with pytest.raises(ValidationError, match="a ct rule's type is one of in, out, group, not 'forward'"):
        FirewallPolicy.model_validate({"name": "ct/201", "rules": [{"type": "forward", "action": "ACCEPT"}]})
