"""Pool: a PVE resource pool (`/pools`), `resources/pools/NAME.yaml`, addressed `pool/NAME`.

```yaml
kind: Pool
name: prod
spec:
  comment: Production guests
```
Membership is not part of the pool's manifest: a guest joins a pool through its own `spec.pool`, which
references the pool (validate checks it; apply creates the pool before the guest joins and deletes it
after the guest left). PVE 8.1 and later nest pools up to three levels (`prod/web`); the pool id is
the manifest name, so renaming a pool is deleting one and creating another.
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
    check_name,
)

# PVE's pve-poolid: letters, digits, `-`, `_` (and `.`), a letter first, at most three levels.
POOL_ID = re.compile(r"[A-Za-z][A-Za-z0-9._\-]*(/[A-Za-z][A-Za-z0-9._\-]*){0,2}")
MAX_COMMENT = 8192


class PoolSpec(ResourceSpec):
    """What a pool should be: its comment (absent: left as it is)."""

    comment: str | None = Field(None, max_length=MAX_COMMENT)


class PoolManifest(ResourceManifest):
    """A Pool manifest."""

    prefix: ClassVar[str] = "pool"
    kind: Literal["Pool"] = "Pool"
    spec: PoolSpec = Field(default_factory=PoolSpec)

    @field_validator("name")
    @classmethod
    def _pool_id(cls, value: str) -> str:
        return check_name(POOL_ID, value, "a pool id: a letter, then letters, digits, - _ . (nested: a/b/c)")


def parent_pool(poolid: str) -> str | None:
    """Return the pool a nested pool lives in (`prod` for `prod/web`), or None."""
    return poolid.rpartition("/")[0] or None


class PoolKind(ResourceKind):
    """Resource pools."""

    name = "Pool"
    prefix = "pool"
    folder = "pools"
    model = PoolManifest
    reads = ("/pools",)
    writes = ("/pools",)
    terraform = TerraformMapping("proxmox_virtual_environment_pool", import_id="{id}")
    ansible = AnsibleMapping("community.proxmox.proxmox_pool")
    columns = ("id", "comment")
    example: ClassVar[dict[str, Any]] = {"kind": "Pool", "name": "prod", "spec": {"comment": "Production guests"}}

    def references(self, manifest: Any) -> list[Reference]:
        parent = parent_pool(manifest.name)
        return [] if parent is None else [Reference(("name",), self.address(parent), self.prefix)]

    def change_references(self, change: Change) -> list[str]:
        parent = parent_pool(change.address.split("/", 1)[1])
        return [] if parent is None else [self.address(parent)]

    def normalise(self, item: Mapping[str, Any]) -> Resource | None:
        poolid = item.get("poolid")
        if not poolid:
            return None
        comment = item.get("comment")
        return Resource(kind=self.prefix, id=str(poolid), data={"comment": str(comment) if comment else None})

    def to_manifest(self, resource: Resource) -> PoolManifest:
        comment = resource.data.get("comment")
        return PoolManifest(name=resource.id, spec=PoolSpec(comment=comment or None))

    def desired(self, manifest: ResourceManifest) -> dict[str, Any]:
        assert isinstance(manifest, PoolManifest)
        return {"comment": manifest.spec.comment}

    def same(self, key: str, want: Any, have: Any) -> bool:
        # PVE keeps an empty comment as no comment.
        return (want or None) == (have or None)

    def requests(self, change: Change) -> list[PlannedRequest]:
        poolid = change.address.split("/", 1)[1]
        comment = change.field("comment")
        params: dict[str, Any] = {"poolid": poolid}
        if comment is not None:
            params["comment"] = comment.new or ""
        # PVE 8.1 moved the writes to /pools with a poolid parameter (/pools/{poolid} is deprecated).
        delete = PlannedRequest(method="DELETE", path="/pools", params={"poolid": poolid})
        create = PlannedRequest(method="POST", path="/pools", params=params)
        if change.action == "delete":
            return [delete]
        if change.action == "create":
            return [create]
        if change.action == "replace":
            return [delete, create]
        return [PlannedRequest(method="PUT", path="/pools", params=params)]

    def terraform_attrs(self, manifest: ResourceManifest) -> list[tuple[str, Any]]:
        assert isinstance(manifest, PoolManifest)
        return [("pool_id", manifest.name), ("comment", manifest.spec.comment)]

    def ansible_args(self, manifest: ResourceManifest) -> list[tuple[str, Any]]:
        assert isinstance(manifest, PoolManifest)
        return [("poolid", manifest.name), ("comment", manifest.spec.comment), ("state", "present")]


KIND = PoolKind()
