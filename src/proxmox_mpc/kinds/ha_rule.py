"""HARule: where HA runs its resources (`/cluster/ha/rules`, PVE 9), `resources/ha/NAME.yaml`, `harule/NAME`.

```yaml
kind: HARule
name: web-on-pve1
spec:
  type: node-affinity          # or resource-affinity
  resources: [vm:101, vm:102]  # HA resources (kind HAResource)
  nodes: {pve1: 2, pve2: 1}    # node-affinity: node -> priority (null: no priority)
  strict: false                # node-affinity: only these nodes
  # affinity: negative         # resource-affinity: positive (together) or negative (apart)
  disable: false
  comment: web tier
```
PVE 9 replaced HA groups by rules. On an older server `/cluster/ha/rules` does not exist: the kind is
then left unread (sync and plan go on), and a workspace with HARule manifests is refused with one
sentence saying so; pmpc does not manage PVE 8's HA groups. The resources a rule names are references
to HA resources: validate checks them, apply creates them first and deletes the rule before them.
A rule's type cannot change: a new type replaces it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from proxmox_mpc.core.batch import PlannedRequest
from proxmox_mpc.core.plan import Change, FieldChange
from proxmox_mpc.kinds.base import (
    CONFIG_ID,
    AnsibleMapping,
    Reference,
    Resource,
    ResourceKind,
    ResourceManifest,
    ResourceSpec,
    TerraformMapping,
    blank_equal,
    check_name,
    item_requests,
    text,
)
from proxmox_mpc.kinds.ha import SID, canonical_sid

PATH = "/cluster/ha/rules"
NODE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9\-.]*[A-Za-z0-9])?")


def resources_text(sids: Any) -> str:
    """Return a rule's resources as PVE writes them, sorted: `vm:101,vm:102`."""
    items = sids if isinstance(sids, list | tuple) else str(sids or "").split(",")
    return ",".join(sorted({canonical_sid(str(s).strip()) for s in items if str(s).strip()}))


def nodes_text(nodes: Mapping[str, Any] | str | None) -> str | None:
    """Return a rule's nodes as PVE writes them, sorted by name: `pve1:2,pve2`."""
    if nodes is None:
        return None
    if isinstance(nodes, str):
        pairs = [n.strip().partition(":") for n in nodes.split(",") if n.strip()]
        nodes = {name: (prio or None) for name, _, prio in pairs}
    return ",".join(name if prio is None else f"{name}:{prio}" for name, prio in sorted(nodes.items()))


def _nodes_map(value: str | None) -> dict[str, int | None] | None:
    if not value:
        return None
    pairs = [n.partition(":") for n in value.split(",")]
    return {name: int(prio) if prio else None for name, _, prio in pairs}


def _flag(value: Any) -> bool:
    return value not in (None, "") and str(value) not in ("0", "false", "False")


class HARuleSpec(ResourceSpec):
    """A node-affinity or resource-affinity rule over HA resources."""

    type: Literal["node-affinity", "resource-affinity"] | None = None
    resources: list[str] | None = None
    nodes: dict[str, int | None] | None = None
    strict: bool | None = None
    affinity: Literal["positive", "negative"] | None = None
    disable: bool | None = None
    comment: str | None = Field(None, max_length=4096)

    @field_validator("resources", mode="before")
    @classmethod
    def _sids(cls, value: Any) -> Any:
        if isinstance(value, list):
            sids = [canonical_sid(str(v)) for v in value]
            for sid in sids:
                check_name(SID, sid, "an HA resource id: vm:VMID or ct:VMID")
            return sids
        return value

    @field_validator("nodes")
    @classmethod
    def _node_names(cls, value: dict[str, int | None] | None) -> dict[str, int | None] | None:
        for name, prio in (value or {}).items():
            check_name(NODE, name, "a node name")
            if prio is not None and not 0 <= prio <= 1000:
                raise ValueError(f"{name}: a priority from 0 to 1000")
        return value

    @model_validator(mode="after")
    def _by_type(self) -> HARuleSpec:
        if self.state == "absent":
            return self
        if self.type is None or not self.resources:
            raise ValueError("a rule needs its type (node-affinity or resource-affinity) and its resources")
        if self.type == "node-affinity":
            if not self.nodes:
                raise ValueError("a node-affinity rule needs nodes (node: priority)")
            if self.affinity is not None:
                raise ValueError("affinity goes with a resource-affinity rule, not node-affinity")
        else:
            if self.affinity is None:
                raise ValueError("a resource-affinity rule needs affinity: positive or negative")
            if self.nodes is not None or self.strict is not None:
                raise ValueError("nodes and strict go with a node-affinity rule, not resource-affinity")
            if len(set(self.resources)) < 2:
                raise ValueError("a resource-affinity rule relates two resources or more")
        return self


class HARuleManifest(ResourceManifest):
    """An HARule manifest: its name is the rule id."""

    prefix: ClassVar[str] = "harule"
    kind: Literal["HARule"] = "HARule"
    spec: HARuleSpec = Field(default_factory=HARuleSpec)

    @field_validator("name")
    @classmethod
    def _rule_id(cls, value: str) -> str:
        return check_name(CONFIG_ID, value, "an HA rule id: a letter, then letters, digits, - and _")


class HARuleKind(ResourceKind):
    """HA rules (PVE 9): node affinity and resource affinity."""

    name = "HARule"
    prefix = "harule"
    folder = "ha"
    model = HARuleManifest
    reads = (PATH,)
    writes = (PATH, PATH + "/{rule}")
    replace_fields: ClassVar[frozenset[str]] = frozenset({"type"})
    unread_reason = (
        "HA rules need Proxmox VE 9 (older servers place HA resources with HA groups, which pmpc does not "
        "manage) and the right to list them"
    )
    missing_on_older_servers = True
    applier = "proxmox_mpc.services.ha:apply_rule_change"
    # bpg 0.111 keeps proxmox_virtual_environment_harule only as a deprecated alias of this one.
    terraform = TerraformMapping("proxmox_harule", import_id="{id}")
    ansible = AnsibleMapping("community.proxmox.proxmox_cluster_ha_rules")
    columns = ("id", "type", "resources", "nodes", "affinity", "strict", "disable", "comment")
    example: ClassVar[dict[str, Any]] = {
        "kind": "HARule",
        "name": "web-on-pve1",
        "spec": {
            "type": "node-affinity",
            "resources": ["vm:101", "vm:102"],
            "nodes": {"pve1": 2, "pve2": 1},
            "strict": False,
            "comment": "web tier",
        },
    }

    def references(self, manifest: Any) -> list[Reference]:
        sids = manifest.spec.resources or []
        return [Reference(("spec", "resources", i), f"ha/{sid}", "ha") for i, sid in enumerate(sids)]

    def change_references(self, change: Change) -> list[str]:
        item = change.field("resources")
        if item is None:
            # A delete names no fields: it goes before the HA resources it was about (their deletes wait).
            return []
        return [f"ha/{sid}" for value in (item.new, item.old) if value for sid in value.split(",")]

    def normalise(self, item: Mapping[str, Any]) -> Resource | None:
        rule, kind = item.get("rule"), item.get("type")
        if not rule or kind not in ("node-affinity", "resource-affinity"):
            return None
        node_rule = kind == "node-affinity"
        data = {
            "type": kind,
            "resources": resources_text(item.get("resources")),
            "nodes": nodes_text(item.get("nodes")) if node_rule else None,
            "strict": _flag(item.get("strict")) if node_rule else None,
            "affinity": None if node_rule else (item.get("affinity") or None),
            "disable": _flag(item.get("disable")),
            "comment": item.get("comment") or None,
        }
        return Resource(kind=self.prefix, id=str(rule), data=data)

    def to_manifest(self, resource: Resource) -> HARuleManifest:
        data = resource.data
        spec = HARuleSpec(
            type=data["type"],
            resources=data["resources"].split(",") if data.get("resources") else None,
            nodes=_nodes_map(data.get("nodes")),
            strict=True if data.get("strict") else None,
            affinity=data.get("affinity"),
            disable=True if data.get("disable") else None,
            comment=data.get("comment"),
        )
        return HARuleManifest(name=resource.id, spec=spec)

    def desired(self, manifest: ResourceManifest) -> dict[str, Any]:
        assert isinstance(manifest, HARuleManifest)
        spec = manifest.spec
        return {
            "type": spec.type,
            "resources": resources_text(spec.resources),
            "nodes": nodes_text(spec.nodes),
            "strict": spec.strict,
            "affinity": spec.affinity,
            "disable": spec.disable,
            "comment": spec.comment,
        }

    def diff(self, manifest: ResourceManifest, observed: Resource | None) -> Change | None:
        change = super().diff(manifest, observed)
        if change is None or observed is None or change.action == "update":
            return change
        if change.action == "delete":
            # What the rule was about: it is deleted before those HA resources (when they go too).
            was = FieldChange(name="resources", old=observed.data.get("resources"), new=None)
            return change.model_copy(update={"fields": [*change.fields, was]})
        # A replace creates the rule anew: every value it has, not only those that change.
        want = self.desired(manifest)
        fields = [
            FieldChange(
                name=key,
                old=text(observed.data.get(key)),
                new=text(value),
                forces_replacement=key in self.replace_fields,
            )
            for key, value in sorted(want.items())
            if value is not None
        ]
        return change.model_copy(update={"fields": fields})

    def same(self, key: str, want: Any, have: Any) -> bool:
        if key in ("strict", "disable"):
            return bool(want) == bool(have)
        return blank_equal(want, have)

    def requests(self, change: Change) -> list[PlannedRequest]:
        # PVE's rule update also names the rule's type: the applier reads it (an update does not change it).
        return item_requests(change, PATH, "rule")

    def terraform_attrs(self, manifest: ResourceManifest) -> list[tuple[str, Any]]:
        assert isinstance(manifest, HARuleManifest)
        spec = manifest.spec
        return [
            ("rule", manifest.name),
            ("type", spec.type),
            ("resources", spec.resources),
            ("nodes", spec.nodes),
            ("strict", spec.strict),
            ("affinity", spec.affinity),
            ("disable", spec.disable),
            ("comment", spec.comment),
        ]

    def ansible_args(self, manifest: ResourceManifest) -> list[tuple[str, Any]]:
        assert isinstance(manifest, HARuleManifest)
        spec = manifest.spec
        nodes = nodes_text(spec.nodes)
        return [
            ("name", manifest.name),
            ("type", spec.type),
            ("resources", spec.resources),
            ("nodes", nodes.split(",") if nodes else None),
            ("strict", spec.strict),
            ("affinity", spec.affinity),
            ("disable", spec.disable),
            ("comment", spec.comment),
            ("state", "present"),
        ]


KIND = HARuleKind()
