"""The ordered-rule diff: fewest operations, moves shown as moves, and requests PVE turns into the wanted list."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxmox_mpc.core.batch import PlannedRequest
from proxmox_mpc.core.firewall import FirewallRule, rule_from_api
from proxmox_mpc.core.firewall_rules import (
    EMPTY_DIGEST,
    RuleOp,
    apply_op,
    apply_ops,
    diff_rules,
    is_op_field,
    list_digest,
    moveto_param,
    op_field,
    op_from_field,
    rule_request,
    rule_steps,
    update_params,
)

BASE = "/cluster/firewall/rules"
SSH = FirewallRule(type="in", action="ACCEPT", macro="SSH", comment="ssh")
WEB = FirewallRule(type="in", action="ACCEPT", proto="tcp", dport="80,443")
DNS = FirewallRule(type="out", action="ACCEPT", macro="DNS")
DROP = FirewallRule(type="in", action="DROP", source="10.0.0.0/8", log="info")
GROUP = FirewallRule(type="group", action="web")


def pve(rules: list[dict[str, Any]], request: PlannedRequest) -> list[dict[str, Any]]:
    """What PVE does with one rule request (Rules.pm: create unshifts, moveto lands before `moveto`)."""
    rules = [dict(r) for r in rules]
    params = {k: v for k, v in request.params.items() if k != "digest"}
    if request.method == "POST":
        return [params, *rules]
    pos = int(request.path.rsplit("/", 1)[1])
    if request.method == "DELETE":
        return rules[:pos] + rules[pos + 1 :]
    if "moveto" in params:
        moveto, moved = params["moveto"], []
        for index, entry in enumerate(rules):
            if index == pos:
                continue
            if index == moveto:
                moved.append(rules[pos])
            moved.append(entry)
        if moveto >= len(rules):
            moved.append(rules[pos])
        return moved
    rule = rules[pos]
    rule.update({k: v for k, v in params.items() if k != "delete"})
    for name in params.get("delete", "").split(","):
        rule.pop(name, None)
    return rules


def through_pve(observed: list[FirewallRule], desired: list[FirewallRule]) -> list[FirewallRule]:
    listed = [r.api_params() for r in observed]
    for step in rule_steps(diff_rules(observed, desired)):
        listed = pve(listed, rule_request(BASE, step, "d"))
    return [rule_from_api(r) for r in listed]


@pytest.mark.parametrize(
    ("observed", "desired", "ops"),
    [
        ([SSH, WEB, DNS], [SSH, WEB, DNS], []),
        ([SSH, WEB, DNS, DROP], [DROP, SSH, WEB, DNS], [RuleOp(op="move", pos=3, to=0, old=DROP)]),
        ([SSH, WEB, DNS, DROP], [WEB, DNS, DROP, SSH], [RuleOp(op="move", pos=0, to=3, old=SSH)]),
        ([SSH, WEB], [SSH, GROUP, WEB], [RuleOp(op="create", pos=1, rule=GROUP)]),
        ([SSH, GROUP, WEB], [SSH, WEB], [RuleOp(op="delete", pos=1, old=GROUP)]),
        (
            [SSH, WEB],
            [SSH, WEB.model_copy(update={"dport": "443"})],
            [RuleOp(op="update", pos=1, old=WEB, rule=WEB.model_copy(update={"dport": "443"}))],
        ),
        ([SSH, WEB], [WEB, SSH], [RuleOp(op="move", pos=0, to=1, old=SSH)]),
        ([], [SSH, WEB], [RuleOp(op="create", pos=0, rule=SSH), RuleOp(op="create", pos=1, rule=WEB)]),
        ([SSH, WEB], [], [RuleOp(op="delete", pos=1, old=WEB), RuleOp(op="delete", pos=0, old=SSH)]),
    ],
    ids=["same", "last-to-top", "top-to-last", "insert", "remove", "edit", "swap", "from-empty", "to-empty"],
)
def test_minimal_operations(observed: list, desired: list, ops: list) -> None:
    assert diff_rules(observed, desired) == ops
    assert apply_ops(observed, ops) == desired
    assert through_pve(observed, desired) == desired


def test_a_move_is_described_as_a_move() -> None:
    [op] = diff_rules([SSH, WEB, DNS, DROP], [DROP, SSH, WEB, DNS])
    assert op.describe() == "move rule 3 -> 0: in DROP source=10.0.0.0/8 log=info"
    assert RuleOp(op="create", pos=1, rule=SSH).describe() == "create rule 1: in ACCEPT macro=SSH # ssh"
    assert RuleOp(op="delete", pos=2, old=DNS).describe() == "delete rule 2: out ACCEPT macro=DNS"
    edit = RuleOp(op="update", pos=0, old=WEB, rule=WEB.model_copy(update={"dport": "443"}))
    assert edit.describe() == "update rule 0: in ACCEPT proto=tcp dport=80,443 -> in ACCEPT proto=tcp dport=443"


def test_duplicates_are_matched_in_order() -> None:
    # One of two equal moves; identical rules are interchangeable, so either gives the same list.
    assert diff_rules([SSH, SSH, WEB], [SSH, WEB, SSH]) == [RuleOp(op="move", pos=1, to=2, old=SSH)]


@pytest.mark.parametrize(("pos", "to", "moveto"), [(3, 0, 0), (0, 3, 4), (1, 2, 3), (2, 1, 1)])
def test_moveto_counts_before_the_move(pos: int, to: int, moveto: int) -> None:
    assert moveto_param(pos, to) == moveto


def test_requests_carry_the_digest() -> None:
    steps = rule_steps([RuleOp(op="create", pos=2, rule=SSH)])
    assert steps == [RuleOp(op="create", pos=0, rule=SSH), RuleOp(op="move", pos=0, to=2, old=SSH)]
    assert [rule_request(BASE, s, "abc").line() for s in steps] == [
        "POST /cluster/firewall/rules type=in action=ACCEPT macro=SSH enable=1 comment=ssh digest=abc",
        "PUT /cluster/firewall/rules/0 moveto=3 digest=abc",
    ]
    delete = rule_request("/nodes/pve1/qemu/101/firewall/rules", RuleOp(op="delete", pos=4, old=SSH), "abc")
    assert delete.line() == "DELETE /nodes/pve1/qemu/101/firewall/rules/4 digest=abc"
    with pytest.raises(ValueError, match="PVE creates a rule at the top"):
        rule_request(BASE, RuleOp(op="create", pos=1, rule=SSH), "abc")


def test_an_update_deletes_the_fields_that_go() -> None:
    new = FirewallRule(type="in", action="DROP", macro="SSH", enable=False)
    assert update_params(SSH, new) == {"action": "DROP", "enable": 0, "delete": "comment"}


def test_list_digest() -> None:
    assert list_digest([{"pos": 0, "digest": "abc"}]) == "abc"
    assert list_digest([]) == EMPTY_DIGEST == "da39a3ee5e6b4b0d3255bfef95601890afd80709"


def test_apply_op_update_and_move() -> None:
    assert apply_op([SSH, WEB], RuleOp(op="update", pos=0, old=SSH, rule=DNS)) == [DNS, WEB]
    assert apply_op([SSH, WEB, DNS], RuleOp(op="move", pos=0, to=2, old=SSH)) == [WEB, DNS, SSH]


POOL = [
    SSH,
    WEB,
    DNS,
    DROP,
    GROUP,
    SSH.model_copy(update={"enable": False}),
    FirewallRule(type="out", action="REJECT", proto="udp", dport="53"),
    FirewallRule(type="in", action="ACCEPT", source="+admins", comment="admins"),
]
rule_lists = st.lists(st.sampled_from(POOL), max_size=9)


@settings(max_examples=300, deadline=None)
@given(observed=rule_lists, desired=rule_lists)
def test_applying_the_operations_gives_the_desired_list(observed: list, desired: list) -> None:
    ops = diff_rules(observed, desired)
    assert apply_ops(observed, ops) == desired
    assert through_pve(observed, desired) == desired
    kept = min(len(observed), len(desired))
    # Never more operations than rules that change, and a reorder of the same rules is moves only.
    assert len(ops) <= max(len(observed), len(desired)) + kept
    if sorted(observed, key=repr) == sorted(desired, key=repr):
        assert {op.op for op in ops} <= {"move"}
        assert len(ops) < max(len(desired), 1)


@settings(max_examples=200, deadline=None)
@given(observed=st.lists(st.integers(0, 40), unique=True, max_size=12), data=st.data())
def test_a_permutation_moves_only_what_is_out_of_order(observed: list, data: Any) -> None:
    rules = [FirewallRule(type="in", action="ACCEPT", comment=f"r{n}") for n in observed]
    desired = data.draw(st.permutations(rules))
    ops = diff_rules(rules, desired)
    assert apply_ops(rules, ops) == desired
    order = [rules.index(r) for r in desired]
    longest = _longest_run(order)
    assert len(ops) == len(rules) - longest


def _longest_run(values: list[int]) -> int:
    best = [1] * len(values)
    for i in range(len(values)):
        for j in range(i):
            if values[j] < values[i]:
                best[i] = max(best[i], best[j] + 1)
    return max(best, default=0)


@settings(max_examples=150, deadline=None)
@given(observed=rule_lists, desired=rule_lists)
def test_plan_fields_carry_the_operations_exactly(observed: list, desired: list) -> None:
    ops = diff_rules(observed, desired)
    fields = [op_field(op) for op in ops]
    assert all(is_op_field(f.name) for f in fields)
    assert [op_from_field(f) for f in fields] == ops


def test_plan_fields_of_each_operation() -> None:
    move = op_field(RuleOp(op="move", pos=3, to=0, old=DROP))
    assert (move.name, move.old, move.new) == ("rules[3->0]", DROP.text(), DROP.text())
    assert op_field(RuleOp(op="create", pos=1, rule=SSH)).model_dump() == {
        "name": "rules[1]",
        "old": None,
        "new": "in ACCEPT macro=SSH # ssh",
        "needs_reboot": False,
    }
    assert op_field(RuleOp(op="delete", pos=2, old=DNS)).new is None
    assert not is_op_field("options.enable")
    with pytest.raises(ValueError, match="is not a rule operation"):
        op_from_field(op_field(RuleOp(op="delete", pos=2, old=DNS)).model_copy(update={"name": "rules"}))
