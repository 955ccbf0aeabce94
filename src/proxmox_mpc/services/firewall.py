"""Firewall use cases: read the rules and options of a level, and the cluster's aliases, IP sets and groups."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from proxmox_mpc.context import AppContext
from proxmox_mpc.core.batch import PlannedRequest
from proxmox_mpc.core.firewall import FirewallAlias, FirewallIPSet, FirewallRule, SecurityGroup, rule_from_api
from proxmox_mpc.core.firewall_policy import firewall_path, options_from_api, rules_path
from proxmox_mpc.core.firewall_rules import apply_op, diff_rules, list_digest, rule_request, rule_steps
from proxmox_mpc.core.identity import guest_kind, is_api_guest_type
from proxmox_mpc.core.modeling import Model
from proxmox_mpc.core.models import to_int
from proxmox_mpc.core.plan import Change
from proxmox_mpc.errors import AuthError, Conflict, NotFound, UsageError
from proxmox_mpc.services.connection import connect

if TYPE_CHECKING:
    from proxmox_mpc.api.client import ProxmoxClient

CLUSTER_FIREWALL = "/cluster/firewall"


@dataclass(frozen=True)
class Level:
    """One level of the firewall: its name (`cluster`, `node/pve1`, `vm/101`, `secgroup/web`) and API base."""

    name: str
    scope: str
    target: str | None = None
    node: str | None = None

    @property
    def base(self) -> str:
        """Return the API base of the level: `/cluster/firewall`, `/nodes/pve1/qemu/101/firewall`."""
        return firewall_path(self.scope, self.target, self.node)

    @property
    def rules(self) -> str:
        """Return the path of the level's rule list."""
        return rules_path(self.scope, self.target, self.node)


class RuleRow(FirewallRule):
    """A rule as `pmpc firewall rules list` shows it: its level and position, then PVE's fields."""

    level: str
    pos: int = Field(ge=0)


class FirewallOptions(Model):
    """The options of a level (`pmpc firewall options get`), option values as PVE means them."""

    level: str
    options: dict[str, str] = Field(default_factory=dict)


class GroupRow(SecurityGroup):
    """A security group as `pmpc firewall groups list` shows it, with the number of its rules."""

    rule_count: int = 0


def choose_level(*, guest: str | None, node: str | None, cluster: bool, group: str | None = None) -> str | None:
    """Return which level flag was given (None: none, meaning the cluster).

    Raises:
        UsageError: more than one of --guest, --node, --cluster, --group.
    """
    given = [
        flag
        for flag, value in (("--guest", guest), ("--node", node), ("--cluster", cluster), ("--group", group))
        if value
    ]
    if len(given) > 1:
        raise UsageError(f"Give one firewall level, not {' and '.join(given)}.")
    return given[0] if given else None


async def _guest_level(api: ProxmoxClient, text: str) -> Level:
    raw = text.strip()
    wanted = None
    if raw.startswith(("vm/", "ct/")):
        wanted, raw = raw.split("/", 1)
    guests = [r for r in await api.cluster_resources("vm") if is_api_guest_type(r.get("type"))]
    if raw.isdigit():
        found = [g for g in guests if to_int(g.get("vmid")) == int(raw)]
    else:
        found = [g for g in guests if g.get("name") == raw]
    found = [g for g in found if wanted is None or guest_kind(str(g["type"])) == wanted]
    if len(found) > 1:
        refs = ", ".join(f"{guest_kind(str(g['type']))}/{g['vmid']}" for g in found)
        raise UsageError(f"The name {raw!r} matches {len(found)} guests ({refs}): use the VMID.")
    if not found:
        raise NotFound(f"No guest {text!r} in this cluster.")
    kind, vmid, node = guest_kind(str(found[0]["type"])), str(found[0]["vmid"]), str(found[0]["node"])
    return Level(f"{kind}/{vmid}", kind, vmid, node)


async def _node_level(api: ProxmoxClient, node: str) -> Level:
    known = sorted(str(n.get("node")) for n in await api.nodes())
    if node not in known:
        raise NotFound(f"No node named {node!r} in this cluster (nodes: {', '.join(known) or 'none'}).")
    return Level(f"node/{node}", "node", node)


async def find_level(
    api: ProxmoxClient, *, guest: str | None = None, node: str | None = None, group: str | None = None
) -> Level:
    """Return the level a command names (the cluster when it names none).

    Raises:
        NotFound: no such guest, node or security group.
        UsageError: a guest name that matches several guests.
    """
    if guest:
        return await _guest_level(api, guest)
    if node:
        return await _node_level(api, node)
    if group:
        names = sorted(str(g.get("group")) for g in await api.get(f"{CLUSTER_FIREWALL}/groups"))
        if group not in names:
            raise NotFound(f"No security group named {group!r} (groups: {', '.join(names) or 'none'}).")
        return Level(f"secgroup/{group}", "group", group)
    return Level("cluster", "cluster")


async def list_rules(
    app_ctx: AppContext, *, guest: str | None = None, node: str | None = None, group: str | None = None
) -> list[RuleRow]:
    """Return the rules of a level in their order (PVE evaluates them top down)."""
    async with connect(app_ctx) as api:
        level = await find_level(api, guest=guest, node=node, group=group)
        answer = await api.get(level.rules)
    rows = []
    for item in sorted(answer or [], key=lambda r: to_int(r.get("pos"))):
        rule = rule_from_api(item)
        rows.append(RuleRow(level=level.name, pos=to_int(item.get("pos")), **rule.model_dump()))
    return rows


async def get_options(app_ctx: AppContext, *, guest: str | None = None, node: str | None = None) -> FirewallOptions:
    """Return the options of a level (the cluster when none is named)."""
    async with connect(app_ctx) as api:
        level = await find_level(api, guest=guest, node=node)
        answer = await api.get(f"{level.base}/options")
    return FirewallOptions(level=level.name, options=options_from_api(level.scope, answer or {}))


async def read_aliases(api: ProxmoxClient) -> list[FirewallAlias]:
    """Return the cluster's aliases by name."""
    answer = await api.get(f"{CLUSTER_FIREWALL}/aliases")
    return sorted((FirewallAlias.from_api(a) for a in answer or []), key=lambda a: a.name.lower())


async def _read_kind(api: ProxmoxClient, prefix: str) -> list[Any]:
    """Return the resources of one firewall kind, read as plan and sync read them (the list, then each item).

    Raises:
        AuthError: pmpc may not list them.
    """
    from proxmox_mpc.kinds.registry import resource_kind
    from proxmox_mpc.services.resources import observe_resources

    kind = resource_kind(prefix)
    assert kind is not None
    found = await observe_resources(api, [kind])
    if prefix not in found:
        raise AuthError(f"pmpc's user may not list {kind.reads[0]}.")
    return [kind.to_manifest(r) for r in found[prefix]]


async def read_ipsets(api: ProxmoxClient) -> list[FirewallIPSet]:
    """Return the cluster's IP sets with their entries (the FirewallIPSet kind's read: one request per set)."""
    return sorted((m.ipset() for m in await _read_kind(api, "ipset")), key=_name)


async def read_groups(api: ProxmoxClient) -> list[SecurityGroup]:
    """Return the cluster's security groups with their rules (the SecurityGroup kind's read: one request per group)."""
    groups = [
        SecurityGroup(name=m.name, comment=m.spec.comment, rules=tuple(m.spec.rules or ()))
        for m in await _read_kind(api, "secgroup")
    ]
    return sorted(groups, key=_name)


def _name(item: Any) -> str:
    return str(item.name)


async def list_aliases(app_ctx: AppContext) -> list[FirewallAlias]:
    """Return the cluster's firewall aliases."""
    async with connect(app_ctx) as api:
        return await read_aliases(api)


async def list_ipsets(app_ctx: AppContext) -> list[FirewallIPSet]:
    """Return the cluster's IP sets and their entries."""
    async with connect(app_ctx) as api:
        return await read_ipsets(api)


async def list_groups(app_ctx: AppContext) -> list[GroupRow]:
    """Return the cluster's security groups, each with its rules and their count."""
    async with connect(app_ctx) as api:
        groups = await read_groups(api)
    return [GroupRow(**g.model_dump(), rule_count=len(g.rules)) for g in groups]


# The item model of each `pmpc firewall <what> list` (lets --sort-by name the fields of an empty list).
LIST_MODELS: dict[str, type[BaseModel]] = {"aliases": FirewallAlias, "ipsets": FirewallIPSet, "groups": GroupRow}


# ----------------------------------------------------------------------------- writing rule lists

Send = Callable[[PlannedRequest], Awaitable[Any]]


async def read_rule_list(api: ProxmoxClient, path: str) -> tuple[list[FirewallRule], str]:
    """Return a rule list in PVE's order and its digest."""
    answer = await api.get(path) or []
    ordered = sorted(answer, key=lambda r: to_int(r.get("pos")))
    return [rule_from_api(r) for r in ordered], list_digest(ordered)


async def apply_rules(
    api: ProxmoxClient,
    path: str,
    desired: Sequence[FirewallRule],
    *,
    planned_digest: str | None = None,
    what: str = "the rules",
    send: Send | None = None,
) -> int:
    """Make the rule list at `path` the desired one, one digest-checked request at a time; return how many.

    After each write the list is read back and must be what that write alone makes of it, so an edit by
    someone else is refused, never overwritten.

    Raises:
        Conflict: the list is not what the plan saw (`planned_digest`), or changed while pmpc wrote it.
        ApiConflict: PVE refused a write whose digest no longer matches (someone else wrote in between).
    """

    async def post(request: PlannedRequest) -> Any:
        body = request.method in ("POST", "PUT")
        return await api.request(
            request.method, request.path, data=request.params if body else None, params=None if body else request.params
        )

    deliver = send or post
    current, digest = await read_rule_list(api, path)
    if planned_digest is not None and digest != planned_digest:
        raise Conflict(
            f"{what} changed since the plan was made (someone else edited or reordered them): run `pmpc plan` again."
        )
    steps = rule_steps(diff_rules(current, desired))
    for step in steps:
        await deliver(rule_request(path, step, digest))
        expected = apply_op(current, step)
        current, digest = await read_rule_list(api, path)
        if current != expected:
            raise Conflict(
                f"{what} changed while pmpc was writing them (someone else edited them); "
                f"stopped after: {step.describe()}. Run `pmpc plan` again."
            )
    return len(steps)


# ----------------------------------------------------------------------------- appliers of the firewall kinds

StepSend = Callable[[str, PlannedRequest], Awaitable[Any]]


async def apply_alias_change(api: ProxmoxClient, change: Change, send: StepSend) -> None:
    """Carry out a FirewallAlias change: PVE writes an alias anew, so an update sends the values it keeps too."""
    from proxmox_mpc.core.firewall_requests import alias_requests

    current = change.address.split("/", 1)[1]
    values = {f.name: f.new for f in change.fields}
    if change.action == "update":
        found = await api.get(f"{CLUSTER_FIREWALL}/aliases/{current}")
        alias = FirewallAlias.from_api(found).model_dump()
        alias.update({k: v or None if k == "comment" else v for k, v in values.items()})
        for request in alias_requests("update", str(found["name"]), FirewallAlias(**alias)):
            await send("update", request)
        return
    from proxmox_mpc.kinds.registry import resource_kind

    kind = resource_kind(change.kind)
    assert kind is not None
    for request in kind.requests(change):
        await send("delete" if request.method == "DELETE" else change.action, request)


async def apply_policy_change(api: ProxmoxClient, change: Change, send: StepSend) -> None:
    """Carry out a FirewallPolicy change: its options, then its rules one digest-checked request at a time.

    A guest's level is written through the node the guest is on now (it may have moved since the plan).

    Raises:
        Conflict: the rules are not those the plan saw (someone else edited or reordered them): exit 7.
        NotFound: the guest of a guest's level is gone.
    """
    from proxmox_mpc.core.firewall_policy import diff_options, parse_policy_name
    from proxmox_mpc.core.firewall_requests import options_request

    name = change.address.split("/", 1)[1]
    scope, target = parse_policy_name(name)
    node = (await find_level(api, guest=name)).node if scope in ("vm", "ct") else None
    base = firewall_path(scope, target, node)
    wanted = {f.name.split(".", 1)[1]: str(f.new) for f in change.fields if f.name.startswith("options.")}
    if wanted:
        found = await api.get(f"{base}/options") or {}
        changed = diff_options(scope, wanted, options_from_api(scope, found))
        if changed:
            await send(change.action, options_request(base, changed, found.get("digest")))
    await apply_rule_ops(api, change, rules_path(scope, target, node), send)


async def apply_rule_ops(api: ProxmoxClient, change: Change, path: str, send: StepSend) -> None:
    """Carry out the rule operations of a change on the rule list at `path`, one digest-checked request at a time.

    Raises:
        Conflict: the rules are not those the plan saw (someone else edited or reordered them): exit 7.
    """
    from proxmox_mpc.core.firewall_rules import apply_ops, is_op_field, op_from_field

    ops = [op_from_field(f) for f in change.fields if is_op_field(f.name)]
    if not ops:
        return
    current, digest = await read_rule_list(api, path)
    if change.digest is not None and digest != change.digest:
        raise Conflict(
            f"The rules of {change.address} changed since the plan was made (someone else edited or "
            "reordered them): run `pmpc plan` again."
        )

    async def deliver(request: PlannedRequest) -> None:
        await send("delete" if change.action == "delete" else change.action, request)

    desired = apply_ops(current, ops)
    await apply_rules(api, path, desired, planned_digest=digest, what=f"the rules of {change.address}", send=deliver)


async def apply_group_change(api: ProxmoxClient, change: Change, send: StepSend) -> None:
    """Carry out a SecurityGroup change: the group (create, comment), then its rules one digest-checked request at
    a time; a delete empties the group first (PVE deletes only an empty one).

    Raises:
        Conflict: the rules are not those the plan saw (someone else edited or reordered them): exit 7.
    """
    from proxmox_mpc.core.firewall_requests import group_requests

    name = change.address.split("/", 1)[1]
    path = rules_path("group", name)
    if change.action == "delete":
        await apply_rule_ops(api, change, path, send)
        for request in group_requests(None, SecurityGroup(name=name)):
            await send("delete", request)
        return
    comment = next((f for f in change.fields if f.name == "comment"), None)
    desired = SecurityGroup(name=name, comment=comment.new if comment is not None else None)
    before = None
    if change.action != "create":
        before = SecurityGroup(name=name, comment=comment.old if comment is not None else None)
    for request in group_requests(desired, before):
        await send(change.action, request)
    await apply_rule_ops(api, change, path, send)
