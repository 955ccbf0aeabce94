"""FirewallAlias: a cluster firewall alias (`/cluster/firewall/aliases`), `resources/firewall/NAME.yaml`, `alias/NAME`.

```yaml
kind: FirewallAlias
name: lb
spec:
  cidr: 10.0.0.10
  comment: load balancer
```
PVE matches alias names without regard to case, so the address is the lower-case name (`alias/lb`).
The model and its checks are core/firewall.py's; this module maps them onto the kind protocol. IP sets,
security groups and the per-level policies (options and ordered rules) have their models, diff and
digest-checked writes in core/firewall*.py and services/firewall.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from proxmox_mpc.core.batch import PlannedRequest
from proxmox_mpc.core.firewall import MAX_NAME, FirewallAlias, FirewallRule, check_cidr, check_name, rule_references
from proxmox_mpc.core.firewall_requests import alias_requests
from proxmox_mpc.core.firewall_rules import is_op_field, op_from_field
from proxmox_mpc.core.plan import Change
from proxmox_mpc.kinds.base import (
    AnsibleMapping,
    Reference,
    Resource,
    ResourceKind,
    ResourceManifest,
    ResourceSpec,
    TerraformMapping,
)

FOLDER = "firewall"


def rules_references(rules: Sequence[FirewallRule] | None) -> list[Reference]:
    """Return what a manifest's `spec.rules` name (a FirewallPolicy's, a SecurityGroup's): groups, aliases, IP sets."""
    return [
        Reference(("spec", "rules", index, field), address, address.split("/", 1)[0])
        for index, rule in enumerate(rules or [])
        for field, address in rule_references(rule)
    ]


def rule_ops_references(change: Change) -> list[str]:
    """Return the addresses the rules a change creates, updates, moves or deletes name (apply orders by them)."""
    ops = [op_from_field(f) for f in change.fields if is_op_field(f.name)]
    named = [r for op in ops for r in (op.rule, op.old) if r is not None]
    return sorted({address for rule in named for _, address in rule_references(rule)})


class AliasSpec(ResourceSpec):
    """What an alias names: an IP or a network, and a comment (absent: none)."""

    cidr: str | None = None
    comment: str | None = Field(None, max_length=4096)

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, value: str | None) -> str | None:
        return None if value is None else check_cidr(value)


class AliasManifest(ResourceManifest):
    """A FirewallAlias manifest."""

    prefix: ClassVar[str] = "alias"
    kind: Literal["FirewallAlias"] = "FirewallAlias"
    spec: AliasSpec = Field(default_factory=AliasSpec)

    @property
    def address(self) -> str:
        """Return `alias/NAME` in lower case, as PVE matches alias names."""
        return f"alias/{self.name.lower()}"

    @field_validator("name")
    @classmethod
    def _alias_name(cls, value: str) -> str:
        return check_name(value, "an alias", MAX_NAME)


class FirewallAliasKind(ResourceKind):
    """Cluster firewall aliases."""

    name = "FirewallAlias"
    prefix = "alias"
    folder = FOLDER
    model = AliasManifest
    reads = ("/cluster/firewall/aliases",)
    writes = ("/cluster/firewall/aliases", "/cluster/firewall/aliases/{name}")
    # bpg 0.111 documents no import for aliases: the generator says so instead of importing.
    terraform = TerraformMapping("proxmox_virtual_environment_firewall_alias", import_id="{id}", importable=False)
    ansible = AnsibleMapping("community.proxmox.proxmox_firewall")
    columns = ("id", "cidr", "comment")
    applier = "proxmox_mpc.services.firewall:apply_alias_change"
    example: ClassVar[dict[str, Any]] = {
        "kind": "FirewallAlias",
        "name": "lb",
        "spec": {"cidr": "10.0.0.10", "comment": "load balancer"},
    }

    def normalise(self, item: Mapping[str, Any]) -> Resource | None:
        if not item.get("name") or not item.get("cidr"):
            return None
        alias = FirewallAlias.from_api(item)
        return Resource(
            kind=self.prefix,
            id=alias.name.lower(),
            data={"name": alias.name, "cidr": alias.cidr, "comment": alias.comment},
        )

    def to_manifest(self, resource: Resource) -> AliasManifest:
        data = resource.data
        return AliasManifest(
            name=str(data.get("name") or resource.id),
            spec=AliasSpec(cidr=data.get("cidr"), comment=data.get("comment")),
        )

    def desired(self, manifest: ResourceManifest) -> dict[str, Any]:
        assert isinstance(manifest, AliasManifest)
        # PVE writes an alias anew on update: its name, cidr and comment are all the manifest's.
        return {"name": manifest.name, "cidr": manifest.spec.cidr, "comment": manifest.spec.comment or ""}

    def same(self, key: str, want: Any, have: Any) -> bool:
        return (want or None) == (have or None)

    def requests(self, change: Change) -> list[PlannedRequest]:
        values = {f.name: f.new for f in change.fields}
        current = change.address.split("/", 1)[1]
        if change.action == "delete":
            return alias_requests("delete", current)
        if change.action == "update":
            # What the plan changes; the applier reads the alias and sends it whole (PVE writes it anew).
            params = {k: v for k, v in values.items() if k != "name"}
            if values.get("name"):
                params["rename"] = values["name"]
            return [PlannedRequest(method="PUT", path=f"/cluster/firewall/aliases/{current}", params=params)]
        alias = FirewallAlias(
            name=values.get("name") or current, cidr=str(values.get("cidr")), comment=values.get("comment") or None
        )
        return alias_requests(change.action, current, alias)

    def terraform_attrs(self, manifest: ResourceManifest) -> list[tuple[str, Any]]:
        assert isinstance(manifest, AliasManifest)
        return [("name", manifest.name), ("cidr", manifest.spec.cidr), ("comment", manifest.spec.comment)]

    def ansible_args(self, manifest: ResourceManifest) -> list[tuple[str, Any]]:
        assert isinstance(manifest, AliasManifest)
        alias = {"name": manifest.name, "cidr": manifest.spec.cidr}
        if manifest.spec.comment:
            alias["comment"] = manifest.spec.comment
        return [("level", "cluster"), ("aliases", [alias]), ("update", True), ("state", "present")]


KIND = FirewallAliasKind()
