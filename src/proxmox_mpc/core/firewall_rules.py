"""The ordered-rule diff: the fewest creates, updates, deletes and moves that turn one rule list into another.

Rule order is desired state. `diff_rules(observed, desired)` pairs the rules that stay (identical
ones first, then the rest in order as updates), deletes what is left of the observed list and
creates what is left of the desired one, and moves only the kept rules that are out of order: those
outside a longest run already in the wanted order. Positions are counted in the list as it stands
when the operation runs, as PVE counts them, so applying the operations in order to the observed
list gives the desired one (`apply_ops`).

Every write carries the digest of the rule list it was computed from, so a concurrent edit makes PVE
refuse it. PVE adds a rule at the top whatever `pos` says, so a create elsewhere is two requests: the
insert at 0, then a move (`rule_steps`). PVE's `moveto` puts a rule in front of the one at that
position counted before the move (`moveto_param`).
"""

from __future__ import annotations

import bisect
import hashlib
import re
from collections import defaultdict, deque
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import ConfigDict

from proxmox_mpc.core.batch import PlannedRequest
from proxmox_mpc.core.firewall import FirewallRule, parse_rule_text
from proxmox_mpc.core.modeling import Model
from proxmox_mpc.core.plan import FieldChange

# PVE's digest of a list is the SHA-1 of its entries; an empty list answers no entry to read it from.
EMPTY_DIGEST = hashlib.sha1(b"").hexdigest()
RuleOpKind = Literal["create", "update", "delete", "move"]


class RuleOp(Model):
    """One operation on a rule list: at `pos` (a move goes to `to`), counted when it runs."""

    model_config = ConfigDict(frozen=True)

    op: RuleOpKind
    pos: int
    to: int | None = None
    rule: FirewallRule | None = None  # create: the new rule; update: the rule as it becomes
    old: FirewallRule | None = None  # update, delete, move: the rule as it was

    def describe(self) -> str:
        """Return one line for a plan: `move rule 3 -> 0: in ACCEPT macro=SSH`."""
        if self.op == "create":
            return f"create rule {self.pos}: {_text(self.rule)}"
        if self.op == "delete":
            return f"delete rule {self.pos}: {_text(self.old)}"
        if self.op == "move":
            return f"move rule {self.pos} -> {self.to}: {_text(self.old)}"
        return f"update rule {self.pos}: {_text(self.old)} -> {_text(self.rule)}"


def _text(rule: FirewallRule | None) -> str:
    return rule.text() if rule is not None else ""


def _pair(observed: Sequence[FirewallRule], desired: Sequence[FirewallRule]) -> tuple[dict[int, int], set[int]]:
    """Return {observed index: desired index} for the rules that stay, and the observed indexes updated."""
    waiting: dict[FirewallRule, deque[int]] = defaultdict(deque)
    for index, rule in enumerate(observed):
        waiting[rule].append(index)
    pairs: dict[int, int] = {}
    for index, rule in enumerate(desired):
        if waiting[rule]:
            pairs[waiting[rule].popleft()] = index
    taken = set(pairs.values())
    left_observed = [i for i in range(len(observed)) if i not in pairs]
    left_desired = [j for j in range(len(desired)) if j not in taken]
    updated = set()
    for i, j in zip(left_observed, left_desired, strict=False):
        pairs[i] = j
        updated.add(i)
    return pairs, updated


def _longest_increasing(values: Sequence[int]) -> set[int]:
    """Return the values of one longest strictly increasing subsequence."""
    tails: list[int] = []  # tails[k]: index into values of the smallest tail of a run of length k+1
    tail_values: list[int] = []
    before: list[int] = [-1] * len(values)
    for index, value in enumerate(values):
        slot = bisect.bisect_left(tail_values, value)
        before[index] = tails[slot - 1] if slot else -1
        if slot == len(tails):
            tails.append(index)
            tail_values.append(value)
        else:
            tails[slot] = index
            tail_values[slot] = value
    kept: set[int] = set()
    at = tails[-1] if tails else -1
    while at != -1:
        kept.add(values[at])
        at = before[at]
    return kept


def diff_rules(observed: Sequence[FirewallRule], desired: Sequence[FirewallRule]) -> list[RuleOp]:
    """Return the operations, in order, that turn `observed` into `desired`: deletes, updates, then places."""
    pairs, updated = _pair(observed, desired)
    ops: list[RuleOp] = []
    # Tokens: ("o", i) is observed rule i, ("n", j) the new desired rule j.
    current: list[tuple[str, int]] = [("o", i) for i in range(len(observed))]
    for i in sorted(set(range(len(observed))) - set(pairs), reverse=True):
        ops.append(RuleOp(op="delete", pos=i, old=observed[i]))
        current.remove(("o", i))
    for pos, (_, i) in enumerate(current):
        if i in updated:
            ops.append(RuleOp(op="update", pos=pos, old=observed[i], rule=desired[pairs[i]]))
    token_of = {j: ("o", i) for i, j in pairs.items()}
    stable = _longest_increasing([pairs[i] for _, i in current])
    for j, rule in enumerate(desired):
        if j in stable:
            continue
        target = current.index(_token(token_of, j - 1)) + 1 if j else 0
        if j not in token_of:
            ops.append(RuleOp(op="create", pos=target, rule=rule))
            current.insert(target, ("n", j))
            continue
        token = token_of[j]
        start = current.index(token)
        end = target - 1 if start < target else target
        if end != start:
            ops.append(RuleOp(op="move", pos=start, to=end, old=rule))
            current.insert(end, current.pop(start))
    return ops


def _token(token_of: Mapping[int, tuple[str, int]], j: int) -> tuple[str, int]:
    return token_of.get(j, ("n", j))


def apply_op(rules: Sequence[FirewallRule], op: RuleOp) -> list[FirewallRule]:
    """Return the rule list after one operation (what PVE does with the matching request)."""
    result = list(rules)
    if op.op == "create":
        assert op.rule is not None
        result.insert(op.pos, op.rule)
    elif op.op == "delete":
        del result[op.pos]
    elif op.op == "update":
        assert op.rule is not None
        result[op.pos] = op.rule
    else:
        assert op.to is not None
        result.insert(op.to, result.pop(op.pos))
    return result


def apply_ops(rules: Sequence[FirewallRule], ops: Sequence[RuleOp]) -> list[FirewallRule]:
    """Return the rule list after every operation, in order."""
    result = list(rules)
    for op in ops:
        result = apply_op(result, op)
    return result


def rule_steps(ops: Sequence[RuleOp]) -> list[RuleOp]:
    """Return the operations as single requests: a create below the top becomes an insert at 0 and a move."""
    steps: list[RuleOp] = []
    for op in ops:
        if op.op == "create" and op.pos != 0:
            steps.append(RuleOp(op="create", pos=0, rule=op.rule))
            steps.append(RuleOp(op="move", pos=0, to=op.pos, old=op.rule))
        else:
            steps.append(op)
    return steps


def moveto_param(pos: int, to: int) -> int:
    """Return PVE's `moveto` that brings the rule at `pos` to index `to` (it lands before rule `moveto`)."""
    return to if to < pos else to + 1


def update_params(old: FirewallRule, new: FirewallRule) -> dict[str, Any]:
    """Return the parameters of a rule update: the fields that change, and `delete` for those that go."""
    before, after = old.api_params(), new.api_params()
    params = {k: v for k, v in after.items() if before.get(k) != v}
    gone = sorted(k for k in before if k not in after)
    if gone:
        params["delete"] = ",".join(gone)
    return params


def rule_request(rules: str, step: RuleOp, digest: str) -> PlannedRequest:
    """Return the one request of a step (see rule_steps) on the rule list at path `rules`, checked by `digest`.

    `rules` is a level's `.../firewall/rules`, or a security group's `/cluster/firewall/groups/NAME`.

    Raises:
        ValueError: a create not at the top (PVE would put it there anyway: split it with rule_steps).
    """
    if step.op == "create":
        if step.pos != 0 or step.rule is None:
            raise ValueError("PVE creates a rule at the top: split the create with rule_steps")
        return PlannedRequest(method="POST", path=rules, params={**step.rule.api_params(), "digest": digest})
    path = f"{rules}/{step.pos}"
    if step.op == "delete":
        return PlannedRequest(method="DELETE", path=path, params={"digest": digest})
    if step.op == "move":
        assert step.to is not None
        return PlannedRequest(
            method="PUT", path=path, params={"moveto": moveto_param(step.pos, step.to), "digest": digest}
        )
    assert step.old is not None and step.rule is not None
    return PlannedRequest(method="PUT", path=path, params={**update_params(step.old, step.rule), "digest": digest})


def list_digest(items: Sequence[Mapping[str, Any]]) -> str:
    """Return the digest of a list PVE answered (every item carries it; an empty list has the empty one)."""
    for item in items:
        if item.get("digest"):
            return str(item["digest"])
    return EMPTY_DIGEST


_OP_FIELD = re.compile(r"rules\[([0-9]+)(?:->([0-9]+))?\]")


def op_field(op: RuleOp) -> FieldChange:
    """Return an operation as a plan field: `rules[2]` (create, update, delete) or `rules[3->0]` (a move)."""
    if op.op == "move":
        moved = _text(op.old)
        return FieldChange(name=f"rules[{op.pos}->{op.to}]", old=moved, new=moved)
    return FieldChange(name=f"rules[{op.pos}]", old=_text(op.old) or None, new=_text(op.rule) or None)


def is_op_field(name: str) -> bool:
    """Tell whether a plan field is a rule operation (see op_field)."""
    return _OP_FIELD.fullmatch(name) is not None


def op_from_field(field: FieldChange) -> RuleOp:
    """Return the operation a plan field describes (the inverse of op_field).

    Raises:
        ValueError: the field is not a rule operation, or its rule text is not a rule.
    """
    found = _OP_FIELD.fullmatch(field.name)
    if found is None:
        raise ValueError(f"{field.name!r} is not a rule operation")
    pos = int(found.group(1))
    old = parse_rule_text(field.old) if field.old else None
    new = parse_rule_text(field.new) if field.new else None
    if found.group(2) is not None:
        return RuleOp(op="move", pos=pos, to=int(found.group(2)), old=old)
    if old is None:
        return RuleOp(op="create", pos=pos, rule=new)
    if new is None:
        return RuleOp(op="delete", pos=pos, old=old)
    return RuleOp(op="update", pos=pos, old=old, rule=new)
