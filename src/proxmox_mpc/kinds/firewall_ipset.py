"""FirewallIPSet: a cluster IP set and its entries (`/cluster/firewall/ipset`), `resources/firewall/`, `ipset/NAME`.

```yaml
kind: FirewallIPSet
name: admins
spec:
  comment: the admins' workstations
  entries:
    - {cidr: 10.0.0.0/24, comment: office}
    - {cidr: 10.0.0.66, nomatch: true}
    - {cidr: lb}                 # an alias
```
The entries are a set: their order means nothing, and the plan shows each entry added, changed or removed
(`~ entries[10.0.0.0/24]`). `entries` left out are not managed; `entries: []` empties the set. PVE cannot
clear a set's comment: a manifest without one leaves it alone. An entry may name an alias (checked by
`validate`, created first by `apply`). The model and its checks are core/firewall.py's, the requests
core/firewall_requests.py's. An IP set is read from its list, then each set's entries (one request per
set, concurrently, in the same observation).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from proxmox_mpc.core.batch import PlannedRequest
from proxmox_mpc.core.firewall import FirewallIPSet, IPSetEntry, address_references, check_lower_name
from proxmox_mpc.core.firewall_requests import ipset_requests
from proxmox_mpc.core.plan import Change, FieldChange
from proxmox_mpc.kinds.base import (
    AnsibleMapping,
    Reference,
    Resource,
    ResourceKind,
    ResourceManifest,
    ResourceSpec,
    TerraformMapping,
    item_path,
)
from proxmox_mpc.kinds.firewall import FOLDER

ENTRY = "entries["  # a plan field per entry: entries[CIDR]


class IPSetSpec(ResourceSpec):
    """An IP set's comment and entries (either left out: not managed)."""

    comment: str | None = Field(None, max_length=4096)
    entries: list[IPSetEntry] | None = None

    @field_validator("entries")
    @classmethod
    def _unique(cls, value: list[IPSetEntry] | None) -> list[IPSetEntry] | None:
        if value is not None:
            FirewallIPSet(name="xx", entries=tuple(value))  # the same CIDR twice is refused there
        return value


class IPSetManifest(ResourceManifest):
    """A FirewallIPSet manifest."""

    prefix: ClassVar[str] = "ipset"
    kind: Literal["FirewallIPSet"] = "FirewallIPSet"
    spec: IPSetSpec = Field(default_factory=IPSetSpec)

    @field_validator("name")
    @classmethod
    def _ipset_name(cls, value: str) -> str:
        return check_lower_name(value, FirewallIPSet.what)

    def ipset(self) -> FirewallIPSet:
        """Return the IP set the manifest asks for (entries not managed: none)."""
        return FirewallIPSet(name=self.name, comment=self.spec.comment, entries=tuple(self.spec.entries or ()))


def _entry_field(cidr: str) -> str:
    return f"{ENTRY}{cidr}]"


def _text(entry: IPSetEntry | None) -> str | None:
    return entry.text() if entry is not None else None


def _entries(texts: Any) -> dict[str, IPSetEntry]:
    return {e.cidr: e for e in (IPSetEntry.parse(t) for t in texts or [])}


class FirewallIPSetKind(ResourceKind):
    """Cluster IP sets with their entries."""

    name = "FirewallIPSet"
    prefix = "ipset"
    folder = FOLDER
    model = IPSetManifest
    reads = ("/cluster/firewall/ipset", "/cluster/firewall/ipset/{name}")
    writes = ("/cluster/firewall/ipset", "/cluster/firewall/ipset/{name}", "/cluster/firewall/ipset/{name}/{cidr}")
    # bpg 0.111 documents no import for IP sets: the generator says so instead of importing.
    terraform = TerraformMapping("proxmox_virtual_environment_firewall_ipset", import_id="{id}", importable=False)
    ansible = AnsibleMapping("community.proxmox.proxmox_firewall")
    columns = ("id", "comment", "entries")
    example: ClassVar[dict[str, Any]] = {
        "kind": "FirewallIPSet",
        "name": "admins",
        "spec": {"comment": "admin hosts", "entries": [{"cidr": "10.0.0.0/24", "comment": "office"}]},
    }

    # ------------------------------------------------------------------ reading

    def normalise(self, item: Mapping[str, Any]) -> Resource | None:
        return None  # a set spreads over its list item and its entries: see from_reads

    def from_reads(self, bodies: Mapping[str, Any]) -> list[Resource]:
        index = bodies.get(self.reads[0])
        found = []
        for item in index if isinstance(index, list) else []:
            entries = bodies.get(item_path(self.reads[1], item.get("name")))
            if not item.get("name") or not isinstance(entries, list):
                continue  # gone between the list and its entries
            found.append(self.resource(FirewallIPSet.from_api(item, entries)))
        return sorted(found, key=lambda r: r.id)

    def resource(self, ipset: FirewallIPSet) -> Resource:
        """Return an IP set as a Resource (entries as their plan texts, by CIDR)."""
        # PVE lowers the name when it reads its config: what it lists is lower case already.
        data = {"name": ipset.name.lower(), "comment": ipset.comment, "entries": [e.text() for e in ipset.entries]}
        return Resource(kind=self.prefix, id=ipset.name.lower(), data=data)

    def to_manifest(self, resource: Resource) -> IPSetManifest:
        entries = list(_entries(resource.data.get("entries")).values())
        return IPSetManifest(name=resource.id, spec=IPSetSpec(comment=resource.data.get("comment"), entries=entries))

    def desired(self, manifest: ResourceManifest) -> dict[str, Any]:
        assert isinstance(manifest, IPSetManifest)
        entries = None if manifest.spec.entries is None else [e.text() for e in manifest.ipset().entries]
        return {"comment": manifest.spec.comment, "entries": entries}

    def references(self, manifest: Any) -> list[Reference]:
        return [
            Reference(("spec", "entries", index, "cidr"), address, address.split("/", 1)[0])
            for index, entry in enumerate(manifest.spec.entries or [])
            for address in address_references(entry.cidr)
        ]

    def change_references(self, change: Change) -> list[str]:
        texts = [t for f in change.fields if f.name.startswith(ENTRY) for t in (f.old, f.new) if t]
        return sorted({a for t in texts for a in address_references(IPSetEntry.parse(t).cidr)})

    # ------------------------------------------------------------------ comparing

    def diff(self, manifest: ResourceManifest, observed: Resource | None) -> Change | None:
        assert isinstance(manifest, IPSetManifest)
        if manifest.absent:
            return super().diff(manifest, observed)
        ignored = set(manifest.lifecycle.ignore_changes) if manifest.lifecycle else set()
        have = observed.data if observed is not None else {}
        fields = []
        comment = manifest.spec.comment
        if comment is not None and "comment" not in ignored and comment != have.get("comment"):
            fields.append(FieldChange(name="comment", old=have.get("comment"), new=comment))
        if manifest.spec.entries is not None and "entries" not in ignored:
            before, after = _entries(have.get("entries")), {e.cidr: e for e in manifest.ipset().entries}
            for cidr in sorted(set(before) | set(after)):
                old, new = before.get(cidr), after.get(cidr)
                if old != new:
                    fields.append(FieldChange(name=_entry_field(cidr), old=_text(old), new=_text(new)))
        if observed is None:
            return self.change(manifest.address, "create", fields)
        return self.change(manifest.address, "update", fields) if fields else None

    def stale(self, change: Change, found: Resource | None) -> str | None:
        if change.action != "update" or found is None:
            return super().stale(change, found)
        have = _entries(found.data.get("entries"))
        for f in change.fields:
            if f.name.startswith(ENTRY) and _text(have.get(f.name[len(ENTRY) : -1])) != f.old:
                return f"the entries of {change.address} changed"
            if f.name == "comment" and found.data.get("comment") != f.old:
                return f"{change.address} changed"
        return None

    # ------------------------------------------------------------------ writing

    def requests(self, change: Change) -> list[PlannedRequest]:
        name = change.address.split("/", 1)[1]
        if change.action == "delete":
            return ipset_requests(None, FirewallIPSet(name=name))
        comment = next((f for f in change.fields if f.name == "comment"), None)
        entries = [f for f in change.fields if f.name.startswith(ENTRY)]
        before = FirewallIPSet(
            name=name,
            comment=comment.old if comment is not None else None,
            entries=tuple(IPSetEntry.parse(f.old) for f in entries if f.old),
        )
        after = FirewallIPSet(
            name=name,
            comment=comment.new if comment is not None else None,
            entries=tuple(IPSetEntry.parse(f.new) for f in entries if f.new),
        )
        return ipset_requests(after, None if change.action == "create" else before)

    # ------------------------------------------------------------------ generators

    def terraform_attrs(self, manifest: ResourceManifest) -> list[tuple[str, Any]]:
        assert isinstance(manifest, IPSetManifest)
        blocks = [
            {"name": e.cidr, "nomatch": e.nomatch or None, "comment": e.comment} for e in manifest.ipset().entries
        ]
        cidrs = [{k: v for k, v in b.items() if v is not None} for b in blocks]
        return [("name", manifest.name), ("comment", manifest.spec.comment), ("cidr", cidrs or None)]

    def ansible_args(self, manifest: ResourceManifest) -> list[tuple[str, Any]]:
        assert isinstance(manifest, IPSetManifest)
        ipset: dict[str, Any] = {"name": manifest.name}
        if manifest.spec.comment:
            ipset["comment"] = manifest.spec.comment
        cidrs = [e.model_dump(exclude_none=True) for e in manifest.ipset().entries]
        if cidrs:
            ipset["cidrs"] = cidrs
        return [("level", "cluster"), ("ip_sets", [ipset]), ("update", True), ("state", "present")]

    def row(self, resource: Resource) -> dict[str, Any]:
        return {"id": resource.id, "comment": resource.data.get("comment"), "entries": resource.data.get("entries")}


KIND = FirewallIPSetKind()
