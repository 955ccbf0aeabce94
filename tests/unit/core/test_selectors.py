"""parse_selector / Selector.matches, table-driven."""

from __future__ import annotations

import pytest

from proxmox_mpc.core.models import Guest
from proxmox_mpc.core.selectors import Selector, parse_selector
from proxmox_mpc.errors import UsageError


def guest(**overrides):
    base = dict(
        kind="vm",
        type="qemu",
        vmid=101,
        name="web-1",
        node="pve1",
        status="running",
        tags=["prod", "web"],
        pool="prod",
        template=False,
    )
    base.update(overrides)
    return Guest(**base)


WEB = guest()
DB = guest(vmid=103, name="db-1", node="pve2", status="stopped", tags=["db"], pool=None)
TMPL = guest(vmid=9000, name="ubuntu-tmpl", status="stopped", tags=[], pool=None, template=True)
CT = guest(kind="ct", type="lxc", vmid=201, name="dns-1", tags=["infra"], pool=None)


@pytest.mark.parametrize(
    ("text", "matching"),
    [
        ("tag=web", {101}),
        ("tag=WEB", {101}),
        ("tag!=web", {103, 9000, 201}),
        ("tag=pro*", {101}),
        ("name=web-*", {101}),
        ("name=*-1", {101, 103, 201}),
        ("name!=db-1", {101, 9000, 201}),
        ("pool=prod", {101}),
        ("pool=", {103, 9000, 201}),
        ("node=pve2", {103}),
        ("status=stopped", {103, 9000}),
        ("template=false", {101, 103, 201}),
        ("template=true", {9000}),
        ("template!=true", {101, 103, 201}),
        ("kind=ct", {201}),
        ("vmid=10*", {101, 103}),
        ("tag!=db,template=false", {101, 201}),
        ("status=running, node=pve1", {101, 201}),
        ("tag=web,tag=db", set()),
        ("tag in (web,db)", {101, 103}),
        ("tag in (WEB, infra)", {101, 201}),
        ("tag notin (web,db)", {9000, 201}),
        ("tag notin (pro*)", {103, 9000, 201}),
        ("name in (db-1,dns-*),status=running", {201}),
        ("tag", {101, 103, 201}),
        ("!tag", {9000}),
        ("pool", {101}),
        ("!pool,!template", {103, 201}),
        ("template", {9000}),
        ("kind in (ct),tag in (infra,web)", {201}),
    ],
)
def test_matches(text, matching):
    selector = parse_selector(text)
    assert {g.vmid for g in (WEB, DB, TMPL, CT) if selector.matches(g)} == matching


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Empty selector"),
        ("   ", "Empty selector"),
        ("name", "every guest has a name"),
        ("!vmid", "every guest has a vmid"),
        ("tag in (web", "'(' without its ')'"),
        ("tag in ()", "at least one value"),
        ("kind in (vm,pod)", "kind= takes vm or ct"),
        ("color in (a)", "Unknown selector key 'color'"),
        ("color=blue", "Unknown selector key 'color'"),
        ("tag=web,,name=x", "empty term"),
        ("template=maybe", "template= takes true or false"),
        ("name=", "needs a value"),
        ("kind=pod", "kind= takes vm or ct"),
        ("tag>web", "write KEY=VALUE"),
    ],
    ids=["empty", "blank", "exists-name", "exists-vmid", "open-paren", "empty-set", "kind-set", "unknown-set",
         "unknown-key", "double-comma", "template", "no-value", "kind", "bad-op"],
)
def test_parse_errors_are_usage_errors(text, message):
    with pytest.raises(UsageError) as info:
        parse_selector(text)
    assert message in str(info.value)
    assert info.value.exit_code == 64


def test_round_trip_and_empty_selector():
    selector = parse_selector("tag=web , name!=db-*")
    assert str(selector) == "tag=web,name!=db-*"
    assert bool(selector) is True
    assert Selector().matches(DB) is True
    assert bool(Selector()) is False
    assert str(parse_selector("tag in (web, db),!lock")) == "tag in (web,db),!lock"


def test_repeated_selectors_are_anded():
    """Repeated -l flags reach parse_selector as a list: every term of every flag must hold."""
    selector = parse_selector(["tag in (web,db)", "status=running"])
    assert {g.vmid for g in (WEB, DB, TMPL, CT) if selector.matches(g)} == {101}
    with pytest.raises(UsageError, match="Empty selector"):
        parse_selector([])
