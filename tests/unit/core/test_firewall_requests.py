"""Requests for aliases, IP sets, groups and options: only what differs, entries one by one, CIDRs quoted."""

from __future__ import annotations

from proxmox_mpc.core.firewall import FirewallAlias, FirewallIPSet, SecurityGroup
from proxmox_mpc.core.firewall_requests import alias_requests, group_requests, ipset_requests, options_request


def lines(requests) -> list[str]:
    return [r.line() for r in requests]


def test_alias_requests() -> None:
    lb = FirewallAlias(name="lb", cidr="10.0.0.10", comment="balancer")
    assert lines(alias_requests("create", "lb", lb)) == [
        "POST /cluster/firewall/aliases name=lb cidr=10.0.0.10 comment=balancer"
    ]
    moved = lb.model_copy(update={"cidr": "10.0.0.11", "comment": None})
    assert lines(alias_requests("update", "lb", moved)) == ["PUT /cluster/firewall/aliases/lb cidr=10.0.0.11"]
    assert lines(alias_requests("update", "lb", lb.model_copy(update={"name": "LB"}))) == [
        "PUT /cluster/firewall/aliases/LB cidr=10.0.0.10 comment=balancer"
    ]
    assert lines(alias_requests("update", "lb", lb.model_copy(update={"name": "web"}))) == [
        "PUT /cluster/firewall/aliases/lb cidr=10.0.0.10 comment=balancer rename=web"
    ]
    assert lines(alias_requests("delete", "lb")) == ["DELETE /cluster/firewall/aliases/lb"]
    assert [r.method for r in alias_requests("replace", "lb", lb)] == ["DELETE", "POST"]


def test_ipset_requests() -> None:
    before = FirewallIPSet.model_validate(
        {"name": "admins", "comment": "ops", "entries": [{"cidr": "10.1.0.0/24"}, {"cidr": "10.1.0.9"}]}
    )
    after = FirewallIPSet.model_validate(
        {"name": "admins", "comment": "desks", "entries": [{"cidr": "10.1.0.0/24", "nomatch": True}, {"cidr": "lb"}]}
    )
    assert lines(ipset_requests(after, before)) == [
        "POST /cluster/firewall/ipset name=admins rename=admins comment=desks",
        "DELETE /cluster/firewall/ipset/admins/10.1.0.9",
        "PUT /cluster/firewall/ipset/admins/10.1.0.0%2F24 nomatch=1",
        "POST /cluster/firewall/ipset/admins cidr=lb nomatch=0",
    ]
    assert lines(ipset_requests(before, None)) == [
        "POST /cluster/firewall/ipset name=admins comment=ops",
        "POST /cluster/firewall/ipset/admins cidr=10.1.0.0/24 nomatch=0",
        "POST /cluster/firewall/ipset/admins cidr=10.1.0.9 nomatch=0",
    ]
    assert lines(ipset_requests(None, before)) == ["DELETE /cluster/firewall/ipset/admins force=1"]
    # PVE cannot clear a comment: none in the manifest leaves it alone.
    assert ipset_requests(before.model_copy(update={"comment": None}), before) == []


def test_group_requests() -> None:
    web = SecurityGroup(name="web", comment="tier")
    assert lines(group_requests(web, None)) == ["POST /cluster/firewall/groups group=web comment=tier"]
    assert lines(group_requests(web.model_copy(update={"comment": "front"}), web)) == [
        "POST /cluster/firewall/groups group=web rename=web comment=front"
    ]
    assert group_requests(SecurityGroup(name="web"), web) == []
    assert lines(group_requests(None, web)) == ["DELETE /cluster/firewall/groups/web"]


def test_options_request() -> None:
    request = options_request(
        "/nodes/pve1/qemu/101/firewall", {"policy_in": (None, "DROP"), "enable": ("0", "1")}, "d1"
    )
    assert request.line() == "PUT /nodes/pve1/qemu/101/firewall/options enable=1 policy_in=DROP digest=d1"
