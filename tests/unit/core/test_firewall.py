"""Firewall models: what a manifest may say about rules, aliases, IP sets and groups, and PVE's answers read back."""

from __future__ import annotations

import re

import pytest
from pydantic import ValidationError

from proxmox_mpc.core.firewall import (
    FirewallAlias,
    FirewallIPSet,
    FirewallRule,
    IPSetEntry,
    SecurityGroup,
    address_references,
    check_rules,
    clean_cidr,
    parse_rule_text,
    rule_from_api,
    rule_references,
)


def rule(**fields) -> FirewallRule:
    return FirewallRule.model_validate({"type": "in", "action": "ACCEPT", **fields})


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"action": "ALLOW"}, "action 'ALLOW' is none of ACCEPT, DROP, REJECT"),
        ({"type": "forward", "action": "REJECT"}, "a forward rule cannot REJECT"),
        ({"type": "group", "action": "1web"}, "is not a security group name"),
        ({"type": "group", "action": "a-very-long-group-name"}, "2 to 18 characters"),
        ({"macro": "Telnot"}, "'Telnot' is not a PVE firewall macro"),
        ({"proto": "tcp!"}, "is not a protocol name or number"),
        ({"proto": "300"}, "is not a protocol name or number"),
        ({"dport": "22"}, "dport needs proto"),
        ({"proto": "gre", "dport": "22"}, "protocol 'gre' has no ports (dport)"),
        ({"proto": "icmp", "sport": "22"}, "protocol 'icmp' has no ports (sport)"),
        ({"proto": "tcp", "dport": "70000"}, "ports go up to 65535"),
        ({"proto": "tcp", "dport": "90:80"}, "backwards range (did you mean 80:90?)"),
        ({"proto": "tcp", "dport": "80;443"}, "is not a port, a port range or a service name in dport"),
        ({"proto": "tcp", "dport": ",".join(str(p) for p in range(1, 17))}, "more than 15 port numbers"),
        ({"icmp_type": "echo-request"}, "icmp_type needs proto icmp"),
        ({"proto": "icmp", "icmp_type": "echo-request", "dport": "8"}, "cannot be used together"),
        ({"source": "10.0.0.300"}, "'10.0.0.300' is not an IP address or CIDR"),
        ({"source": "10.0.0.1,fe80::1"}, "mixes IPv4 and IPv6"),
        ({"dest": "10.0.0.9-10.0.0.1"}, "the last address must follow the first"),
        ({"dest": "10.0.0.1-10.0.0.9,10.1.0.0/16"}, "an IP range cannot be part of a list"),
        ({"log": "loud"}, "Input should be 'emerg'"),
        ({"comment": "two\nlines"}, "a comment is one line"),
        ({"iface": "eth0 with space"}, "is not an interface name"),
        ({"colour": "red"}, "Extra inputs are not permitted"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_a_bad_rule_is_one_clear_error(fields: dict, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        rule(**fields)
    assert message in str(caught.value)


def test_pve_spellings_are_canonical() -> None:
    made = rule(action="accept", macro="ssh", log="nolog", comment="", source="+dc/admins")
    assert (made.action, made.macro, made.log, made.comment) == ("ACCEPT", "SSH", None, None)
    assert rule(type="group", action="web").action == "web"
    assert rule(proto="tcp", dport="ssh,80:90").dport == "ssh,80:90"
    assert rule(proto="icmp", icmp_type="echo-request").icmp_type == "echo-request"
    assert FirewallRule.model_validate({"type": "in", "action": "DROP", "icmp-type": "any", "proto": "icmp"})


def test_api_params_use_pve_names() -> None:
    made = rule(proto="icmp", icmp_type="echo-request", enable=False, comment="ping")
    assert made.api_params() == {
        "type": "in",
        "action": "ACCEPT",
        "proto": "icmp",
        "icmp-type": "echo-request",
        "enable": 0,
        "comment": "ping",
    }
    assert made.text() == "in ACCEPT proto=icmp icmp_type=echo-request (disabled) # ping"


def test_rules_read_back_from_pve_compare_equal() -> None:
    answer = {
        "type": "in",
        "action": "ACCEPT",
        "macro": "SSH",
        "enable": 1,
        "pos": 3,
        "digest": "ab",
        "ipversion": 4,
        "source": "10.0.0.0/8",
        "log": "nolog",
        "comment": "",
    }
    assert rule_from_api(answer) == rule(macro="SSH", source="10.0.0.0/8")
    assert rule_from_api({"type": "out", "action": "DROP", "enable": "0"}).enable is False
    assert rule_from_api({"type": "out", "action": "DROP"}).enable is True


@pytest.mark.parametrize(
    ("scope", "fields", "message"),
    [
        ("vm", {"type": "forward"}, "a vm rule's type is one of in, out, group, not 'forward'"),
        ("group", {"type": "group", "action": "web"}, "a group rule's type is one of in, out, forward"),
        ("group", {"iface": "net0"}, "a security group's rule has no iface"),
        ("ct", {"iface": "eth0"}, "a guest rule's iface is one of its network devices"),
    ],
)
def test_levels_limit_their_rules(scope: str, fields: dict, message: str) -> None:
    with pytest.raises(ValueError, match="rules\\[1\\]: " + message.replace("(", "\\(").replace(")", "\\)")):
        check_rules(scope, [rule(), rule(**fields)])
    check_rules("node", [rule(type="forward", iface="vmbr0")])


def test_references_name_cluster_objects_only() -> None:
    assert address_references("+admins") == ["ipset/admins"]
    assert address_references("+dc/admins") == ["ipset/admins"]
    assert address_references("+guest/local") == []
    assert address_references("+sdn/zone") == []
    assert address_references("WebServers") == ["alias/webservers"]
    assert address_references("dc/db") == ["alias/db"]
    assert address_references("guest/mine") == []
    assert address_references("10.0.0.0/8") == []
    assert address_references(None) == []
    made = rule(type="group", action="web")
    assert rule_references(made) == [("action", "secgroup/web")]
    assert rule_references(rule(source="+admins", dest="db")) == [("source", "ipset/admins"), ("dest", "alias/db")]


def test_alias() -> None:
    alias = FirewallAlias(name="WebNet", cidr="10.1.0.0/16", comment="")
    assert (alias.address, alias.comment) == ("alias/webnet", None)
    assert FirewallAlias.from_api({"name": "db", "cidr": "fe80::1", "digest": "x", "ipversion": 6}).cidr == "fe80::1"
    for bad, message in [
        ({"name": "1x", "cidr": "10.0.0.1"}, "is not an alias name"),
        ({"name": "x", "cidr": "10.0.0.1"}, "2 to 64 characters"),
        ({"name": "db", "cidr": "db.example"}, "is not an IP address or CIDR"),
    ]:
        with pytest.raises(ValidationError, match=message):
            FirewallAlias.model_validate(bad)


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("10.0.0.5/24", "10.0.0.0/24"),
        ("10.0.0.5/32", "10.0.0.5"),
        ("10.0.0.5", "10.0.0.5"),
        ("fe80::1/128", "fe80::1"),
        ("fe80::1/64", "fe80::/64"),
        ("webnet", "webnet"),
        ("dc/webnet", "dc/webnet"),
    ],
)
def test_ipset_entries_are_stored_as_pve_cleans_them(given: str, stored: str) -> None:
    assert clean_cidr(given) == stored
    assert IPSetEntry(cidr=given).cidr == stored


def test_ipset() -> None:
    made = FirewallIPSet.model_validate(
        {"name": "admins", "entries": [{"cidr": "10.0.0.9"}, {"cidr": "10.0.0.0/24", "nomatch": 1}, {"cidr": "dc/ops"}]}
    )
    assert [e.cidr for e in made.entries] == ["10.0.0.0/24", "10.0.0.9", "dc/ops"]
    assert made.entries[0].nomatch is True
    assert made.references() == [("entries[2].cidr", "alias/ops")]
    back = FirewallIPSet.from_api(
        {"name": "admins", "digest": "d"},
        [{"cidr": "dc/ops", "digest": "d"}, {"cidr": "10.0.0.9"}, {"cidr": "10.0.0.0/24", "nomatch": 1}],
    )
    assert back == made
    with pytest.raises(ValidationError, match=re.escape("'10.0.0.9' is listed twice")):
        FirewallIPSet.model_validate({"name": "admins", "entries": [{"cidr": "10.0.0.9"}, {"cidr": "10.0.0.9/32"}]})
    with pytest.raises(ValidationError, match="cannot have a zero prefix"):
        IPSetEntry(cidr="0.0.0.0/0")


def test_security_group() -> None:
    group = SecurityGroup.model_validate(
        {
            "name": "web",
            "comment": "web tier",
            "rules": [{"type": "in", "action": "ACCEPT", "macro": "Web", "source": "lb"}],
        }
    )
    assert group.address == "secgroup/web"
    assert group.references() == [("rules[0].source", "alias/lb")]
    back = SecurityGroup.from_api(
        {"group": "web", "comment": "web tier", "digest": "x"},
        [{"type": "in", "action": "ACCEPT", "macro": "Web", "source": "lb", "enable": 1, "pos": 0, "digest": "y"}],
    )
    assert back == group
    with pytest.raises(ValidationError, match="a group rule's type is one of in, out, forward, not 'group'"):
        SecurityGroup.model_validate({"name": "web", "rules": [{"type": "group", "action": "other"}]})
    with pytest.raises(ValidationError, match="2 to 18 characters"):
        SecurityGroup(name="much-too-long-for-pve")


@pytest.mark.parametrize(
    "made",
    [
        rule(),
        rule(type="group", action="web", iface="net0", enable=False),
        rule(macro="SSH", source="+dc/admins", dest="10.0.0.1-10.0.0.9", log="info", comment="a # b (x)"),
        rule(proto="icmp", icmp_type="echo-request", comment=" spaced "),
        rule(type="out", action="REJECT", proto="udp", sport="53", dport="1024:65535"),
    ],
)
def test_a_rule_reads_back_from_its_plan_text(made: FirewallRule) -> None:
    assert parse_rule_text(made.text()) == made


@pytest.mark.parametrize("bad", ["in", "in ACCEPT macro", "in ACCEPT colour=red"])
def test_a_plan_text_that_is_no_rule(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_rule_text(bad)
