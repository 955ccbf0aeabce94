"""Writing the firewall against fakepve: rule lists by digest-checked pos/moveto, aliases, IP sets, groups, options.

A reorder by someone else between plan and apply, or during the apply, is refused with exit 7 and
nothing of theirs is overwritten.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from proxmox_mpc.config import load_settings
from proxmox_mpc.context import AppContext
from proxmox_mpc.core.batch import PlannedRequest
from proxmox_mpc.core.firewall import FirewallAlias, FirewallIPSet, FirewallRule, SecurityGroup
from proxmox_mpc.core.firewall_policy import diff_options, options_from_api
from proxmox_mpc.core.firewall_requests import alias_requests, group_requests, ipset_requests, options_request
from proxmox_mpc.errors import ApiConflict, Conflict, ExitCode
from proxmox_mpc.services import firewall
from proxmox_mpc.services.connection import connect

RULES = "/cluster/firewall/rules"
SSH = FirewallRule(type="in", action="ACCEPT", macro="SSH", source="10.0.0.0/8", comment="ssh")
WEB = FirewallRule(type="in", action="ACCEPT", proto="tcp", dport="80,443", comment="web")
DNS = FirewallRule(type="out", action="ACCEPT", macro="DNS")
TELNET = FirewallRule(type="in", action="DROP", proto="tcp", dport="23", log="info")
PING = FirewallRule(type="in", action="ACCEPT", proto="icmp", icmp_type="echo-request", enable=False)


def call(job: Callable[[Any], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        app_ctx = AppContext(loader=lambda: load_settings({}, None), out=io.StringIO(), err=io.StringIO())
        async with connect(app_ctx) as api:
            return await job(api)

    return asyncio.run(main())


def send_all(requests: list[PlannedRequest]) -> Callable[[Any], Awaitable[None]]:
    async def job(api: Any) -> None:
        for r in requests:
            body = r.method in ("POST", "PUT")
            await api.request(r.method, r.path, data=r.params if body else None, params=None if body else r.params)

    return job


def rules_now(path: str = RULES) -> list[FirewallRule]:
    return call(lambda api: firewall.read_rule_list(api, path))[0]


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ([], [SSH, WEB, DNS]),
        ([SSH, WEB, DNS, TELNET], [TELNET, SSH, WEB, DNS]),
        ([SSH, WEB, DNS, TELNET], [WEB, DNS, TELNET, SSH]),
        ([SSH, WEB, DNS], [DNS, PING, WEB.model_copy(update={"dport": "443"}), SSH]),
        ([SSH, WEB, DNS, TELNET], []),
    ],
    ids=["create", "move-up", "move-down", "mixed", "delete-all"],
)
def test_a_rule_list_becomes_the_desired_one(cluster: Any, before: list, after: list) -> None:
    call(lambda api: firewall.apply_rules(api, RULES, before))
    assert rules_now() == before
    sent: list[PlannedRequest] = []

    async def job(api: Any) -> int:
        async def record(request: PlannedRequest) -> None:
            sent.append(request)
            await send_all([request])(api)

        return await firewall.apply_rules(api, RULES, after, send=record)

    count = call(job)
    assert rules_now() == after
    assert count == len(sent)
    assert all("digest" in r.params for r in sent if r.method != "GET")
    if sorted(before, key=repr) == sorted(after, key=repr) and before:
        assert [r.method for r in sent] == ["PUT"] and "moveto" in sent[0].params  # one move, not delete+create
    assert call(lambda api: firewall.apply_rules(api, RULES, after)) == 0


def test_a_reorder_between_plan_and_apply_is_refused(cluster: Any, cli: Any) -> None:
    call(lambda api: firewall.apply_rules(api, RULES, [SSH, WEB, DNS]))
    planned_digest = call(lambda api: firewall.read_rule_list(api, RULES))[1]
    moved = cli("api", "put", f"{RULES}/2", "moveto=0", "-y")  # someone else moves DNS to the top
    assert moved.exit_code == 0, moved.output
    with pytest.raises(Conflict) as caught:
        call(
            lambda api: firewall.apply_rules(
                api, RULES, [WEB, SSH, DNS], planned_digest=planned_digest, what="firewall/cluster rules"
            )
        )
    assert caught.value.exit_code == ExitCode.CONFLICT == 7
    assert "firewall/cluster rules changed since the plan was made" in str(caught.value)
    assert rules_now() == [DNS, SSH, WEB]  # their order stands


def test_an_edit_during_the_apply_is_refused(cluster: Any, cli: Any) -> None:
    call(lambda api: firewall.apply_rules(api, RULES, [SSH, WEB, DNS, TELNET]))

    async def job(api: Any) -> int:
        async def meddle(request: PlannedRequest) -> None:
            # Someone else deletes the last rule just before pmpc's write arrives.
            await api.request("DELETE", f"{RULES}/3")
            await send_all([request])(api)

        return await firewall.apply_rules(api, RULES, [TELNET, DNS, WEB, SSH], send=meddle)

    with pytest.raises(ApiConflict) as caught:
        call(job)
    assert caught.value.exit_code == 7
    assert rules_now() == [SSH, WEB, DNS]


def test_a_change_read_back_otherwise_is_refused(cluster: Any) -> None:
    call(lambda api: firewall.apply_rules(api, RULES, [SSH, WEB]))

    async def job(api: Any) -> int:
        async def after_write(request: PlannedRequest) -> None:
            await send_all([request])(api)
            await api.request("POST", RULES, data=TELNET.api_params())  # lands right after pmpc's write

        return await firewall.apply_rules(api, RULES, [WEB, SSH, DNS], send=after_write)

    with pytest.raises(Conflict, match="changed while pmpc was writing them"):
        call(job)


def test_group_and_guest_rule_lists(cluster: Any, cli: Any) -> None:
    call(send_all(group_requests(SecurityGroup(name="web", comment="tier"), None)))
    group_rules = "/cluster/firewall/groups/web"
    call(lambda api: firewall.apply_rules(api, group_rules, [WEB, SSH]))
    assert rules_now(group_rules) == [WEB, SSH]
    guest_rules = "/nodes/pve1/qemu/101/firewall/rules"
    jump = FirewallRule(type="group", action="web", iface="net0")
    call(lambda api: firewall.apply_rules(api, guest_rules, [jump, DNS]))
    call(lambda api: firewall.apply_rules(api, guest_rules, [DNS, jump]))
    assert rules_now(guest_rules) == [DNS, jump]
    listed = cli("firewall", "rules", "list", "--guest", "web-1", "-o", "name")
    assert listed.stdout.splitlines() == ["firewall/vm/101/rules/0", "firewall/vm/101/rules/1"]


def test_aliases_ipsets_groups_and_options(cluster: Any) -> None:
    alias = FirewallAlias(name="lb", cidr="10.0.0.10", comment="balancer")
    call(send_all(alias_requests("create", "lb", alias)))
    [seen] = call(firewall.read_aliases)
    assert seen == alias
    moved = alias.model_copy(update={"cidr": "10.0.0.11", "comment": None})
    call(send_all(alias_requests("update", "lb", moved)))
    assert call(firewall.read_aliases) == [moved]
    renamed_alias = moved.model_copy(update={"name": "LB"})
    call(send_all(alias_requests("update", "lb", renamed_alias)))
    assert call(firewall.read_aliases) == [renamed_alias]

    admins = FirewallIPSet.model_validate(
        {
            "name": "admins",
            "comment": "ops",
            "entries": [
                {"cidr": "10.1.0.0/24"},
                {"cidr": "10.1.0.9", "nomatch": True},
                {"cidr": "lb", "comment": "via alias"},
            ],
        }
    )
    call(send_all(ipset_requests(admins, None)))
    [seen_set] = call(firewall.read_ipsets)
    assert seen_set == admins
    changed = FirewallIPSet.model_validate(
        {"name": "admins", "entries": [{"cidr": "10.1.0.0/24", "comment": "desks"}, {"cidr": "10.2.0.0/16"}]}
    )
    call(send_all(ipset_requests(changed, seen_set)))
    # PVE cannot clear an IP set's comment (it drops an empty parameter): a manifest without one leaves it.
    assert call(firewall.read_ipsets) == [changed.model_copy(update={"comment": "ops"})]
    assert ipset_requests(changed, changed) == []

    group = SecurityGroup(name="db", comment="databases")
    call(send_all(group_requests(group, None)))
    renamed = group.model_copy(update={"comment": "the databases"})
    call(send_all(group_requests(renamed, call(firewall.read_groups)[0])))
    assert call(firewall.read_groups) == [renamed]

    base = "/nodes/pve1/qemu/101/firewall"
    raw = call(lambda api: api.get(f"{base}/options"))
    changed_options = diff_options(
        "vm", {"enable": "1", "policy_in": "REJECT", "macfilter": "1"}, options_from_api("vm", raw)
    )
    assert changed_options == {"enable": (None, "1"), "policy_in": (None, "REJECT")}
    call(send_all([options_request(base, changed_options, raw["digest"])]))
    after = options_from_api("vm", call(lambda api: api.get(f"{base}/options")))
    assert after == {"enable": "1", "policy_in": "REJECT"}

    for request in (*ipset_requests(None, changed), *group_requests(None, renamed), *alias_requests("delete", "lb")):
        call(send_all([request]))
    assert (call(firewall.read_aliases), call(firewall.read_ipsets), call(firewall.read_groups)) == ([], [], [])
