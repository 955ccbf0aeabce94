"""Group: a PVE user group (`/access/groups`), `resources/access/group-ID.yaml`, addressed `group/ID`.

```yaml
kind: Group
name: ops
spec:
  comment: Operations team
```
Membership is not part of the group's manifest: PVE stores it on the user (`user.cfg` lists a user's
groups), so a user joins a group through its own `spec.groups`, which references the group (validate
checks it; apply creates the group before the user joins it). The firewall's security groups are
another kind (`secgroup/NAME`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from proxmox_mpc.core.access import check_group_id
from proxmox_mpc.core.batch import PlannedRequest
from proxmox_mpc.core.plan import Change
from proxmox_mpc.kinds.base import (
    AnsibleMapping,
    Resource,
    ResourceKind,
    ResourceManifest,
    ResourceSpec,
    TerraformMapping,
    blank_equal,
    collection_requests,
)

FOLDER = "access"
MAX_COMMENT = 2048


class GroupSpec(ResourceSpec):
    """What a group should be: its comment (absent: left as it is)."""

    comment: str | None = Field(None, max_length=MAX_COMMENT)


class GroupManifest(ResourceManifest):
    """A Group manifest."""

    prefix: ClassVar[str] = "group"
    kind: Literal["Group"] = "Group"
    spec: GroupSpec = Field(default_factory=GroupSpec)

    @field_validator("name")
    @classmethod
    def _group_id(cls, value: str) -> str:
        return check_group_id(value)


class GroupKind(ResourceKind):
    """User groups."""

    name = "Group"
    prefix = "group"
    folder = FOLDER
    model = GroupManifest
    reads = ("/access/groups",)
    writes = ("/access/groups", "/access/groups/{groupid}")
    terraform = TerraformMapping("proxmox_virtual_environment_group", import_id="{id}")
    ansible = AnsibleMapping("community.proxmox.proxmox_group")
    columns = ("id", "comment")
    example: ClassVar[dict[str, Any]] = {"kind": "Group", "name": "ops", "spec": {"comment": "Operations team"}}

    def normalise(self, item: Mapping[str, Any]) -> Resource | None:
        groupid = item.get("groupid")
        if not groupid:
            return None
        return Resource(kind=self.prefix, id=str(groupid), data={"comment": item.get("comment") or None})

    def file_stem(self, resource: Resource) -> str:
        return f"group-{resource.id}"

    def to_manifest(self, resource: Resource) -> GroupManifest:
        return GroupManifest(name=resource.id, spec=GroupSpec(comment=resource.data.get("comment") or None))

    def desired(self, manifest: ResourceManifest) -> dict[str, Any]:
        assert isinstance(manifest, GroupManifest)
        return {"comment": manifest.spec.comment}

    def same(self, key: str, want: Any, have: Any) -> bool:
        return blank_equal(want, have)

    def requests(self, change: Change) -> list[PlannedRequest]:
        comment = change.field("comment")
        params = {} if comment is None else {"comment": comment.new or ""}
        return collection_requests(change, "/access/groups", "groupid", params)

    def terraform_attrs(self, manifest: ResourceManifest) -> list[tuple[str, Any]]:
        assert isinstance(manifest, GroupManifest)
        return [("group_id", manifest.name), ("comment", manifest.spec.comment)]

    def ansible_args(self, manifest: ResourceManifest) -> list[tuple[str, Any]]:
        assert isinstance(manifest, GroupManifest)
        return [("groupid", manifest.name), ("comment", manifest.spec.comment), ("state", "present")]


KIND = GroupKind()
