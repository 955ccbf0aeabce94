"""FirewallPolicy: the options and ordered rules of the cluster's, a node's or a guest's firewall, `firewall/cluster`.

```yaml
kind: FirewallPolicy
name: cluster            # or node/pve1, vm/101, ct/201
spec:
  options: {enable: 1, policy_in: DROP}
  rules:
    - {type: in, action: ACCEPT, macro: SSH, source: +admins, comment: ssh}
    - {type: in, action: DROP, proto: tcp, dport: "23"}
```
Rule order is desired state: the plan shows the fewest creates, updates, deletes and moves
(`~ rules[3->0]` is a move), and apply writes them one at a time with PVE's `pos`/`moveto` and the
list's digest, so a reorder by someone else between plan and apply is refused (exit 7). `options` and
`rules` left out are not managed. A level always exists: `destroy` leaves it, `rules: []` empties it.
A level with no rules and no option other than PVE's default is not imported.

A guest's policy (`vm/101`, `ct/201`) is addressed by VMID, not by node: it is read and written
through the node the guest is on when pmpc reads it (guests move). It references its guest (which
must exist or be described), is made after it, and goes with it: a plan that deletes the guest
sends nothing to its firewall. Its firewall is read only for guests with a NIC that has
`firewall=1` (where its rules take effect) or whose policy the workspace describes; a guest's own
aliases and IP sets are not managed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar, Literal
from urllib.parse import unquote

from pydantic import Field, field_validator, model_validator

from proxmox_mpc.core.batch import PlannedRequest
from proxmox_mpc.core.firewall import FirewallRule, check_rules, parse_rule_text, rule_from_api
from proxmox_mpc.core.firewall_policy import (
    OPTIONS,
    diff_options,
    firewall_path,
    option_value,
    options_from_api,
    parse_policy_name,
    rules_path,
)
from proxmox_mpc.core.firewall_requests import options_request
from proxmox_mpc.core.firewall_rules import (
    EMPTY_DIGEST,
    diff_rules,
    is_op_field,
    list_digest,
    op_field,
    op_from_field,
    rule_request,
    rule_steps,
)
from proxmox_mpc.core.identity import GUEST_KINDS, guest_kind
from proxmox_mpc.core.models import ObservedGuest
from proxmox_mpc.core.normalize import NET_RE, bool_text, split_props
from proxmox_mpc.core.plan import Change, FieldChange
from proxmox_mpc.kinds.base import (
    AnsibleMapping,
    Reference,
    Resource,
    ResourceKind,
    ResourceManifest,
    ResourceSpec,
    TerraformMapping,
    text,
)
from proxmox_mpc.kinds.firewall import rule_ops_references, rules_references

_NODE_RULES = re.compile(r"/nodes/([^/]+)/firewall/rules")
_GUEST_RULES = re.compile(r"/nodes/([^/]+)/(qemu|lxc)/([0-9]+)/firewall/rules")
OPTION = "options."
GUEST_RULES = "/nodes/{node}/{type}/{vmid}/firewall/rules"
GUEST_OPTIONS = "/nodes/{node}/{type}/{vmid}/firewall/options"


class PolicySpec(ResourceSpec):
    """A level's options (PVE's names) and its rules in order; either left out: not managed."""

    options: dict[str, str] | None = None
    rules: list[FirewallRule] | None = None

    @field_validator("options", mode="before")
    @classmethod
    def _texts(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return {str(k): ("1" if v else "0") if isinstance(v, bool) else str(v) for k, v in value.items()}
        return value


class PolicyManifest(ResourceManifest):
    """A FirewallPolicy manifest: its name is the level (`cluster`, `node/pve1`)."""

    prefix: ClassVar[str] = "firewall"
    kind: Literal["FirewallPolicy"] = "FirewallPolicy"
    spec: PolicySpec = Field(default_factory=PolicySpec)

    @property
    def scope(self) -> str:
        """Return `cluster` or `node`."""
        return self.name.split("/", 1)[0]

    @field_validator("name")
    @classmethod
    def _level(cls, value: str) -> str:
        parse_policy_name(value)
        return value

    @property
    def guest(self) -> str | None:
        """Return the guest of a guest's policy (`vm/101`), None for the cluster's or a node's."""
        return self.name if self.scope in GUEST_KINDS else None

    @model_validator(mode="after")
    def _for_level(self) -> PolicyManifest:
        scope = self.scope
        if self.spec.options is not None:
            self.spec.options = {k: option_value(scope, k, v) for k, v in sorted(self.spec.options.items())}
        if self.spec.rules is not None:
            check_rules(scope, self.spec.rules)
        return self


def _level_of(address: str) -> tuple[str, str | None]:
    name = address.split("/", 1)[1]
    scope, _, target = name.partition("/")
    return scope, target or None


class FirewallPolicyKind(ResourceKind):
    """The options and ordered rules of the cluster's, each node's and each guest's firewall."""

    name = "FirewallPolicy"
    prefix = "firewall"
    folder = "firewall"
    model = PolicyManifest
    reads = (
        "/cluster/firewall/rules",
        "/cluster/firewall/options",
        "/nodes/{node}/firewall/rules",
        "/nodes/{node}/firewall/options",
        GUEST_RULES,
        GUEST_OPTIONS,
    )
    writes = (
        "/cluster/firewall/rules",
        "/cluster/firewall/options",
        "/nodes/{node}/firewall/rules",
        "/nodes/{node}/firewall/options",
        GUEST_RULES,
        GUEST_OPTIONS,
    )
    terraform = TerraformMapping("proxmox_virtual_environment_firewall_rules", import_id="{id}", importable=False)
    ansible = AnsibleMapping("community.proxmox.proxmox_firewall")
    applier = "proxmox_mpc.services.firewall:apply_policy_change"
    example: ClassVar[dict[str, Any]] = {
        "kind": "FirewallPolicy",
        "name": "cluster",
        "spec": {
            "options": {"enable": 1},
            "rules": [{"type": "in", "action": "ACCEPT", "macro": "SSH", "source": "10.0.0.0/8", "comment": "ssh"}],
        },
    }

    # ------------------------------------------------------------------ reading

    def normalise(self, item: Mapping[str, Any]) -> Resource | None:
        return None  # a level spreads over two paths: see from_reads

    def _level(self, ident: str, rules: Any, options: Any) -> Resource | None:
        ordered = sorted(rules if isinstance(rules, list) else [], key=lambda r: int(r.get("pos", 0)))
        scope = ident.split("/", 1)[0]
        found = options_from_api(scope, options if isinstance(options, Mapping) else {})
        if not ordered and all(OPTIONS[scope][k].default == v for k, v in found.items()):
            return None  # PVE's default: nothing to manage
        data = {"options": found, "rules": [rule_from_api(r).text() for r in ordered], "digest": list_digest(ordered)}
        return Resource(kind=self.prefix, id=ident, data=data)

    def reads_guest(self, guest: ObservedGuest, described: frozenset[str]) -> bool:
        """Read a guest's firewall where its rules take effect (a NIC with `firewall=1`) or the workspace
        describes its policy: reading every guest's would cost two requests a guest on every sync."""
        return self.address(f"{guest.kind}/{guest.vmid}") in described or firewalled(guest.config)

    def from_reads(self, bodies: Mapping[str, Any]) -> list[Resource]:
        found = [self._level("cluster", bodies.get(self.reads[0]), bodies.get(self.reads[1]))]
        for path, body in bodies.items():
            match = _NODE_RULES.fullmatch(path)
            if match:
                node = unquote(match.group(1))
                found.append(self._level(f"node/{node}", body, bodies.get(f"/nodes/{match.group(1)}/firewall/options")))
            guest = _GUEST_RULES.fullmatch(path)
            if guest:
                options = bodies.get(path.removesuffix("/rules") + "/options")
                found.append(self._level(f"{guest_kind(guest.group(2))}/{guest.group(3)}", body, options))
        return sorted((r for r in found if r is not None), key=lambda r: r.id)

    def to_manifest(self, resource: Resource) -> PolicyManifest:
        rules = [parse_rule_text(t) for t in resource.data.get("rules") or []]
        return PolicyManifest(
            name=resource.id, spec=PolicySpec(options=resource.data.get("options") or None, rules=rules)
        )

    def desired(self, manifest: ResourceManifest) -> dict[str, Any]:
        assert isinstance(manifest, PolicyManifest)
        rules = None if manifest.spec.rules is None else [r.text() for r in manifest.spec.rules]
        return {"options": manifest.spec.options, "rules": rules}

    def references(self, manifest: Any) -> list[Reference]:
        guest = [Reference(("name",), manifest.guest, manifest.scope)] if manifest.guest is not None else []
        return guest + rules_references(manifest.spec.rules)

    def change_references(self, change: Change) -> list[str]:
        guest = self.guest_of(change.address)
        return sorted({*rule_ops_references(change), *([guest] if guest is not None else [])})

    def belongs_to(self, manifest: ResourceManifest) -> str | None:
        assert isinstance(manifest, PolicyManifest)
        return manifest.guest

    def guest_of(self, address: str) -> str | None:
        """Return the guest whose policy an address names (`firewall/vm/101` -> `vm/101`), None for others."""
        scope, target = _level_of(address)
        return f"{scope}/{target}" if scope in GUEST_KINDS else None

    # ------------------------------------------------------------------ comparing

    def diff(self, manifest: ResourceManifest, observed: Resource | None) -> Change | None:
        assert isinstance(manifest, PolicyManifest)
        if manifest.absent:
            return None  # a level always exists; `rules: []` empties it
        ignored = set(manifest.lifecycle.ignore_changes) if manifest.lifecycle else set()
        have = observed.data if observed is not None else {}
        fields: list[FieldChange] = []
        if manifest.spec.options is not None and "options" not in ignored:
            changed = diff_options(manifest.scope, manifest.spec.options, have.get("options") or {})
            fields += [FieldChange(name=OPTION + k, old=old, new=new) for k, (old, new) in changed.items()]
        if manifest.spec.rules is not None and "rules" not in ignored:
            current = [parse_rule_text(t) for t in have.get("rules") or []]
            fields += [op_field(op) for op in diff_rules(current, manifest.spec.rules)]
        if not fields:
            return None
        change = self.change(manifest.address, "update" if observed is not None else "create", fields)
        return change.model_copy(update={"digest": have.get("digest") or EMPTY_DIGEST})

    def stale(self, change: Change, found: Resource | None) -> str | None:
        have = found.data if found is not None else {}
        if any(is_op_field(f.name) for f in change.fields) and (have.get("digest") or EMPTY_DIGEST) != change.digest:
            return f"the rules of {change.address} changed (someone else edited or reordered them)"
        options = have.get("options") or {}
        if any(text(options.get(f.name[len(OPTION) :])) != f.old for f in change.fields if f.name.startswith(OPTION)):
            return f"the options of {change.address} changed"
        return None

    # ------------------------------------------------------------------ writing

    def requests(self, change: Change) -> list[PlannedRequest]:
        """Return the requests as planned (the applier sends them, each with the digest it has just read).

        A guest's level is reached through its node: the change's, which the applier finds when it applies.

        Raises:
            ValueError: a guest's level whose node is not known.
        """
        scope, target = _level_of(change.address)
        node = change.node or None
        options = {f.name[len(OPTION) :]: (f.old, str(f.new)) for f in change.fields if f.name.startswith(OPTION)}
        found = [options_request(firewall_path(scope, target, node), options, None)] if options else []
        ops = [op_from_field(f) for f in change.fields if is_op_field(f.name)]
        path = rules_path(scope, target, node)
        return found + [rule_request(path, step, change.digest or EMPTY_DIGEST) for step in rule_steps(ops)]

    # ------------------------------------------------------------------ generators

    def placement(self, manifest: ResourceManifest, nodes: Mapping[str, str]) -> list[tuple[str, Any]]:
        assert isinstance(manifest, PolicyManifest)
        return [("node_name", nodes.get(manifest.guest))] if manifest.guest is not None else []

    def terraform_attrs(self, manifest: ResourceManifest) -> list[tuple[str, Any]]:
        assert isinstance(manifest, PolicyManifest)
        scope, target = _level_of(manifest.address)
        blocks = [_terraform_rule(r) for r in manifest.spec.rules or []]
        if scope in GUEST_KINDS:
            return [("vm_id" if scope == "vm" else "container_id", int(str(target))), ("rule", blocks or None)]
        return [("node_name", target), ("rule", blocks or None)]

    def ansible_args(self, manifest: ResourceManifest) -> list[tuple[str, Any]]:
        assert isinstance(manifest, PolicyManifest)
        scope, target = _level_of(manifest.address)
        rules = [{**_ansible_rule(r), "pos": index} for index, r in enumerate(manifest.spec.rules or [])]
        # The module's `vm` level takes a VMID and finds the guest (a VM or a container) and its node.
        where: list[tuple[str, Any]] = [("level", scope), ("node", target)]
        if scope in GUEST_KINDS:
            where = [("level", "vm"), ("vmid", int(str(target)))]
        return [*where, ("rules", rules or None), ("update", True), ("state", "present")]


def firewalled(config: Mapping[str, Any]) -> bool:
    """Tell whether a guest's config has a NIC with `firewall=1` (where its own rules take effect)."""
    return any(
        k.startswith("net") and NET_RE.match(k) and "firewall" in str(v)  # cheap tests before the parse
        and bool_text(split_props(v)[1].get("firewall", "0")) == "1"
        for k, v in config.items()
    )


def _terraform_rule(rule: FirewallRule) -> dict[str, Any]:
    data = rule.model_dump(exclude_none=True, exclude={"enable", "icmp_type", "type", "action"})
    if rule.type == "group":
        return {"security_group": rule.action, "enabled": rule.enable, **data}
    return {"type": rule.type, "action": rule.action, "enabled": rule.enable, **data}


def _ansible_rule(rule: FirewallRule) -> dict[str, Any]:
    data = rule.model_dump(exclude_none=True)
    data["enable"] = rule.enable
    return data


KIND = FirewallPolicyKind()
