"""SecurityGroup: a cluster firewall security group and its ordered rules, `resources/firewall/`, `secgroup/NAME`.

```yaml
kind: SecurityGroup
name: webserver
spec:
  comment: web tier
  rules:
    - {type: in, action: ACCEPT, macro: HTTPS, source: +admins}
    - {type: in, action: DROP, proto: tcp, dport: "23"}
```
The address is `secgroup/NAME` (the access Group of users keeps `group/`); a rule jumps to a group with
`{type: group, action: NAME}`. Rule order is desired state, as in a FirewallPolicy: the plan shows the
fewest creates, updates, deletes and moves (`~ rules[3->0]` is a move), and apply writes them one at a
time with PVE's `pos`/`moveto` and the list's digest, so a reorder by someone else between plan and apply
is refused (exit 7). `rules` left out are not managed. PVE deletes only an empty group: destroy removes
its rules first (digest-checked too). A group is read from its list, then each group's rules (one request
per group, concurrently, in the same observation).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from proxmox_mpc.core.batch import PlannedRequest
from proxmox_mpc.core.firewall import (
    MAX_GROUP_NAME,
    FirewallRule,
    SecurityGroup,
    check_lower_name,
    check_rules,
    parse_rule_text,
)
from proxmox_mpc.core.firewall_policy import rules_path
from proxmox_mpc.core.firewall_requests import group_requests
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
from proxmox_mpc.core.plan import Change, FieldChange
from proxmox_mpc.kinds.base import (
    PRESENCE_FIELD,
    AnsibleMapping,
    Reference,
    Resource,
    ResourceKind,
    ResourceManifest,
    ResourceSpec,
    TerraformMapping,
    item_path,
)
from proxmox_mpc.kinds.firewall import FOLDER, rule_ops_references, rules_references


class GroupSpec(ResourceSpec):
    """A security group's comment and its rules in order (either left out: not managed)."""

    comment: str | None = Field(None, max_length=4096)
    rules: list[FirewallRule] | None = None

    @model_validator(mode="after")
    def _group_rules(self) -> GroupSpec:
        if self.rules is not None:
            check_rules("group", self.rules)
        return self


class GroupManifest(ResourceManifest):
    """A SecurityGroup manifest."""

    prefix: ClassVar[str] = "secgroup"
    kind: Literal["SecurityGroup"] = "SecurityGroup"
    spec: GroupSpec = Field(default_factory=GroupSpec)

    @field_validator("name")
    @classmethod
    def _group_name(cls, value: str) -> str:
        return check_lower_name(value, SecurityGroup.what, MAX_GROUP_NAME)


def rule_fields(have: Mapping[str, Any], desired: list[FirewallRule]) -> list[FieldChange]:
    """Return the plan fields (one per rule operation) that turn the observed rule texts into `desired`."""
    current = [parse_rule_text(t) for t in have.get("rules") or []]
    return [op_field(op) for op in diff_rules(current, desired)]


class SecurityGroupKind(ResourceKind):
    """Cluster security groups with their ordered rules."""

    name = "SecurityGroup"
    prefix = "secgroup"
    folder = FOLDER
    model = GroupManifest
    reads = ("/cluster/firewall/groups", "/cluster/firewall/groups/{group}")
    writes = ("/cluster/firewall/groups", "/cluster/firewall/groups/{group}", "/cluster/firewall/groups/{group}/{pos}")
    terraform = TerraformMapping("proxmox_virtual_environment_cluster_firewall_security_group", import_id="{id}")
    ansible = AnsibleMapping("community.proxmox.proxmox_firewall")
    applier = "proxmox_mpc.services.firewall:apply_group_change"
    columns = ("id", "comment", "rules")
    example: ClassVar[dict[str, Any]] = {
        "kind": "SecurityGroup",
        "name": "webserver",
        "spec": {
            "comment": "web tier",
            "rules": [{"type": "in", "action": "ACCEPT", "macro": "HTTPS", "comment": "https"}],
        },
    }

    # ------------------------------------------------------------------ reading

    def normalise(self, item: Mapping[str, Any]) -> Resource | None:
        return None  # a group spreads over its list item and its rules: see from_reads

    def from_reads(self, bodies: Mapping[str, Any]) -> list[Resource]:
        index = bodies.get(self.reads[0])
        found = []
        for item in index if isinstance(index, list) else []:
            rules = bodies.get(item_path(self.reads[1], item.get("group")))
            if not item.get("group") or not isinstance(rules, list):
                continue  # gone between the list and its rules
            ordered = sorted(rules, key=lambda r: int(r.get("pos", 0)))
            group = SecurityGroup.from_api(item, ordered)
            data = {"comment": group.comment, "rules": [r.text() for r in group.rules], "digest": list_digest(ordered)}
            found.append(Resource(kind=self.prefix, id=group.name.lower(), data=data))  # as PVE reads it
        return sorted(found, key=lambda r: r.id)

    def to_manifest(self, resource: Resource) -> GroupManifest:
        rules = [parse_rule_text(t) for t in resource.data.get("rules") or []]
        return GroupManifest(name=resource.id, spec=GroupSpec(comment=resource.data.get("comment"), rules=rules))

    def desired(self, manifest: ResourceManifest) -> dict[str, Any]:
        assert isinstance(manifest, GroupManifest)
        rules = None if manifest.spec.rules is None else [r.text() for r in manifest.spec.rules]
        return {"comment": manifest.spec.comment, "rules": rules}

    def references(self, manifest: Any) -> list[Reference]:
        return rules_references(manifest.spec.rules)

    def change_references(self, change: Change) -> list[str]:
        return rule_ops_references(change)

    # ------------------------------------------------------------------ comparing

    def diff(self, manifest: ResourceManifest, observed: Resource | None) -> Change | None:
        assert isinstance(manifest, GroupManifest)
        have = observed.data if observed is not None else {}
        digest = {"digest": have.get("digest") or EMPTY_DIGEST}
        if manifest.absent:
            if observed is None:
                return None
            # PVE deletes only an empty group: its rules go first, each shown and digest-checked.
            fields = [FieldChange(name=PRESENCE_FIELD, old="present", new="absent"), *rule_fields(have, [])]
            return self.change(manifest.address, "delete", fields).model_copy(update=digest)
        ignored = set(manifest.lifecycle.ignore_changes) if manifest.lifecycle else set()
        fields = []
        comment = manifest.spec.comment
        if comment is not None and "comment" not in ignored and comment != have.get("comment"):
            fields.append(FieldChange(name="comment", old=have.get("comment"), new=comment))
        if manifest.spec.rules is not None and "rules" not in ignored:
            fields += rule_fields(have, manifest.spec.rules)
        if observed is not None and not fields:
            return None
        change = self.change(manifest.address, "update" if observed is not None else "create", fields)
        return change.model_copy(update=digest)

    def stale(self, change: Change, found: Resource | None) -> str | None:
        if change.action == "create" or found is None:
            return super().stale(change, found)
        have = found.data
        if any(is_op_field(f.name) for f in change.fields) and (have.get("digest") or EMPTY_DIGEST) != change.digest:
            return f"the rules of {change.address} changed (someone else edited or reordered them)"
        if any(f.name == "comment" and have.get("comment") != f.old for f in change.fields):
            return f"{change.address} changed"
        return None

    # ------------------------------------------------------------------ writing

    def requests(self, change: Change) -> list[PlannedRequest]:
        """Return the requests as planned (the applier sends them, each with the digest it has just read)."""
        name = change.address.split("/", 1)[1]
        path = rules_path("group", name)
        ops = [op_from_field(f) for f in change.fields if is_op_field(f.name)]
        rules = [rule_request(path, step, change.digest or EMPTY_DIGEST) for step in rule_steps(ops)]
        if change.action == "delete":
            return [*rules, *group_requests(None, SecurityGroup(name=name))]
        comment = next((f for f in change.fields if f.name == "comment"), None)
        desired = SecurityGroup(name=name, comment=comment.new if comment is not None else None)
        old = comment.old if comment is not None else None
        before = None if change.action == "create" else SecurityGroup(name=name, comment=old)
        return [*group_requests(desired, before), *rules]

    # ------------------------------------------------------------------ generators

    def terraform_attrs(self, manifest: ResourceManifest) -> list[tuple[str, Any]]:
        assert isinstance(manifest, GroupManifest)
        blocks = []
        for rule in manifest.spec.rules or []:
            data = rule.model_dump(exclude_none=True, exclude={"enable", "icmp_type"})
            blocks.append({**data, "enabled": rule.enable})
        return [("name", manifest.name), ("comment", manifest.spec.comment), ("rule", blocks or None)]

    def ansible_args(self, manifest: ResourceManifest) -> list[tuple[str, Any]]:
        assert isinstance(manifest, GroupManifest)
        # The module makes a group (group_conf) and writes its rules (level: group) in separate calls.
        return [
            ("group_conf", True),
            ("group", manifest.name),
            ("comment", manifest.spec.comment),
            ("state", "present"),
        ]

    def ansible_more(self, manifest: ResourceManifest) -> list[tuple[str, list[tuple[str, Any]]]]:
        assert isinstance(manifest, GroupManifest)
        if not manifest.spec.rules:
            return []
        rules = [
            {**r.model_dump(exclude_none=True), "enable": r.enable, "pos": i} for i, r in enumerate(manifest.spec.rules)
        ]
        args = [("level", "group"), ("group", manifest.name), ("rules", rules), ("update", True), ("state", "present")]
        return [("has its rules", args)]

    def row(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "comment": resource.data.get("comment"), "rules": resource.data.get("rules")}


KIND = SecurityGroupKind()
