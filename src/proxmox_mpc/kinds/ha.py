"""HAResource: a guest under HA management (`/cluster/ha/resources`), `resources/ha/vm_101.yaml`, `ha/vm:101`.

```yaml
kind: HAResource
name: vm:101             # PVE's resource id: vm:VMID or ct:VMID
spec:
  ha_state: started      # started | stopped | ignored | disabled
  max_restart: 2
  max_relocate: 1
  failback: true         # PVE 9
  comment: web frontend
```
`ha_state` is PVE's `state` (the manifest's `spec.state: absent` is pmpc's own: remove it from HA). A
field left out is left as it is; an empty `comment` clears it. The guest is a reference: validate checks
that it exists or is described, apply adds a new guest before its HA resource and removes the HA
resource before the guest is deleted. Placement (which nodes) is an HARule (kinds/ha_rule.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from proxmox_mpc.core.batch import PlannedRequest
from proxmox_mpc.core.plan import Change
from proxmox_mpc.kinds.base import (
    AnsibleMapping,
    Reference,
    Resource,
    ResourceKind,
    ResourceManifest,
    ResourceSpec,
    TerraformMapping,
    blank_equal,
    check_name,
    guest_reference,
    item_requests,
)

PATH = "/cluster/ha/resources"
SID = re.compile(r"(vm|ct):[1-9][0-9]{2,8}")
# Manifest (and stored) field -> PVE's parameter, where they differ.
PARAMS = {"ha_state": "state"}
# What PVE assumes for a field its answer leaves out.
DEFAULTS: dict[str, Any] = {"ha_state": "started", "max_restart": 1, "max_relocate": 1, "failback": True}


def canonical_sid(value: str) -> str:
    """Return PVE's HA resource id: a bare VMID means a VM (`101` -> `vm:101`)."""
    return f"vm:{value}" if value.isdigit() else value


class HAResourceSpec(ResourceSpec):
    """How HA manages a guest (a field left out is left as it is)."""

    ha_state: Literal["started", "stopped", "ignored", "disabled"] | None = None
    max_restart: int | None = Field(None, ge=0, le=10)
    max_relocate: int | None = Field(None, ge=0, le=10)
    failback: bool | None = None
    comment: str | None = Field(None, max_length=4096)

    @field_validator("ha_state", mode="before")
    @classmethod
    def _enabled(cls, value: Any) -> Any:
        return "started" if value == "enabled" else value  # PVE's alias


class HAResourceManifest(ResourceManifest):
    """An HAResource manifest: its name is the resource id (`vm:101`, `ct:201`)."""

    prefix: ClassVar[str] = "ha"
    kind: Literal["HAResource"] = "HAResource"
    spec: HAResourceSpec = Field(default_factory=HAResourceSpec)

    @field_validator("name", mode="before")
    @classmethod
    def _sid(cls, value: Any) -> Any:
        value = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
        if isinstance(value, str):
            return check_name(SID, canonical_sid(value), "an HA resource id: vm:VMID or ct:VMID")
        return value

    @property
    def guest_address(self) -> str:
        """Return the guest it manages: `vm/101`."""
        return self.name.replace(":", "/", 1)


def _number(value: Any, default: int) -> int:
    return default if value in (None, "") else int(value)


class HAResourceKind(ResourceKind):
    """Guests under HA management."""

    name = "HAResource"
    prefix = "ha"
    folder = "ha"
    model = HAResourceManifest
    reads = (PATH,)
    writes = (PATH, PATH + "/{sid}")
    # bpg 0.111 keeps proxmox_virtual_environment_haresource only as a deprecated alias of this one.
    terraform = TerraformMapping("proxmox_haresource", import_id="{id}")
    ansible = AnsibleMapping("community.proxmox.proxmox_cluster_ha_resources")
    columns = ("id", "ha_state", "max_restart", "max_relocate", "failback", "comment")
    example: ClassVar[dict[str, Any]] = {
        "kind": "HAResource",
        "name": "vm:101",
        "spec": {"ha_state": "started", "max_restart": 2, "max_relocate": 1, "comment": "web frontend"},
    }

    def references(self, manifest: Any) -> list[Reference]:
        kind, _, vmid = manifest.name.partition(":")
        return [guest_reference(("name",), vmid, kind)]

    def change_references(self, change: Change) -> list[str]:
        return [change.address.split("/", 1)[1].replace(":", "/", 1)]

    def normalise(self, item: Mapping[str, Any]) -> Resource | None:
        sid = canonical_sid(str(item.get("sid") or ""))
        if not SID.fullmatch(sid):
            return None  # not a guest (PVE may manage other resource types)
        state = str(item.get("state") or DEFAULTS["ha_state"])
        failback = item.get("failback")
        data = {
            "ha_state": "started" if state == "enabled" else state,
            "max_restart": _number(item.get("max_restart"), DEFAULTS["max_restart"]),
            "max_relocate": _number(item.get("max_relocate"), DEFAULTS["max_relocate"]),
            "failback": DEFAULTS["failback"] if failback in (None, "") else str(failback) not in ("0", "false"),
            "comment": item.get("comment") or None,
        }
        return Resource(kind=self.prefix, id=sid, data=data)

    def to_manifest(self, resource: Resource) -> HAResourceManifest:
        # What differs from PVE's defaults, so an import stays short (the state is always written).
        data = resource.data
        kept = {k: v for k, v in data.items() if v is not None and (k == "ha_state" or v != DEFAULTS.get(k))}
        return HAResourceManifest(name=resource.id, spec=HAResourceSpec(**kept))

    def desired(self, manifest: ResourceManifest) -> dict[str, Any]:
        assert isinstance(manifest, HAResourceManifest)
        spec = manifest.spec
        return {
            "ha_state": spec.ha_state,
            "max_restart": spec.max_restart,
            "max_relocate": spec.max_relocate,
            "failback": spec.failback,
            "comment": spec.comment,
        }

    def same(self, key: str, want: Any, have: Any) -> bool:
        return blank_equal(want, have)

    def requests(self, change: Change) -> list[PlannedRequest]:
        return item_requests(change, PATH, "sid", PARAMS)

    def terraform_attrs(self, manifest: ResourceManifest) -> list[tuple[str, Any]]:
        assert isinstance(manifest, HAResourceManifest)
        spec = manifest.spec
        return [
            ("resource_id", manifest.name),
            ("state", spec.ha_state),
            ("max_restart", spec.max_restart),
            ("max_relocate", spec.max_relocate),
            ("failback", spec.failback),
            ("comment", spec.comment),
        ]

    def ansible_args(self, manifest: ResourceManifest) -> list[tuple[str, Any]]:
        assert isinstance(manifest, HAResourceManifest)
        spec = manifest.spec
        return [
            ("name", manifest.name),
            ("hastate", spec.ha_state),
            ("max_restart", spec.max_restart),
            ("max_relocate", spec.max_relocate),
            ("comment", spec.comment),
            ("state", "present"),
        ]


KIND = HAResourceKind()
