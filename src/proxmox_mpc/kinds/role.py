"""Role: a custom PVE role (`/access/roles`), `resources/access/role-ID.yaml`, addressed `role/ID`.

```yaml
kind: Role
name: Auditors
spec:
  privileges: [Sys.Audit, VM.Audit]
```
The privileges are a set (written sorted): the role gets exactly those. The roles PVE ships
(Administrator, NoAccess and every `PVE...` role, listed with `special: 1`) are neither imported nor
managed, and PVE refuses custom role ids in its `PVE` namespace; an ACL may name a built-in role all the
same (it is not checked against the workspace).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from proxmox_mpc.core.access import ROLE_ID, check_privilege, is_builtin_role
from proxmox_mpc.core.batch import PlannedRequest
from proxmox_mpc.core.plan import Change
from proxmox_mpc.kinds.base import (
    AnsibleMapping,
    ApiWrite,
    Resource,
    ResourceKind,
    ResourceManifest,
    ResourceSpec,
    TerraformMapping,
    collection_requests,
)

FOLDER = "access"


class RoleSpec(ResourceSpec):
    """What a role grants: its privileges, a set (absent: left as they are)."""

    privileges: list[str] | None = None

    @field_validator("privileges")
    @classmethod
    def _privileges(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else sorted({check_privilege(p) for p in value})


class RoleManifest(ResourceManifest):
    """A Role manifest."""

    prefix: ClassVar[str] = "role"
    kind: Literal["Role"] = "Role"
    spec: RoleSpec = Field(default_factory=RoleSpec)

    @field_validator("name")
    @classmethod
    def _role_id(cls, value: str) -> str:
        if not ROLE_ID.fullmatch(value):
            raise ValueError(f"{value!r} is not a role id: letters, digits, . - _")
        if is_builtin_role(value):
            raise ValueError(
                f"{value!r} is a role PVE ships (or in its reserved PVE namespace): pmpc does not manage built-in roles"
            )
        return value


def _privileges(value: Any) -> list[str]:
    return sorted({p.strip() for p in str(value or "").replace(";", ",").split(",") if p.strip()})


class RoleKind(ResourceKind):
    """Custom roles (the built-in ones left out)."""

    name = "Role"
    prefix = "role"
    folder = FOLDER
    model = RoleManifest
    reads = ("/access/roles",)
    writes = ("/access/roles", "/access/roles/{roleid}")
    terraform = TerraformMapping("proxmox_virtual_environment_role", import_id="{id}")
    # community.proxmox has no role module: a documented call of PVE's API (POST /access/roles).
    ansible = AnsibleMapping("ansible.builtin.uri")
    columns = ("id", "privs")
    example: ClassVar[dict[str, Any]] = {
        "kind": "Role",
        "name": "Auditors",
        "spec": {"privileges": ["Sys.Audit", "VM.Audit"]},
    }

    def normalise(self, item: Mapping[str, Any]) -> Resource | None:
        roleid = item.get("roleid")
        special = str(item.get("special") or 0) not in ("0", "false", "False")
        if not roleid or special or is_builtin_role(str(roleid)):
            return None
        return Resource(kind=self.prefix, id=str(roleid), data={"privs": ",".join(_privileges(item.get("privs")))})

    def file_stem(self, resource: Resource) -> str:
        return f"role-{resource.id}"

    def to_manifest(self, resource: Resource) -> RoleManifest:
        return RoleManifest(name=resource.id, spec=RoleSpec(privileges=_privileges(resource.data.get("privs"))))

    def desired(self, manifest: ResourceManifest) -> dict[str, Any]:
        assert isinstance(manifest, RoleManifest)
        privileges = manifest.spec.privileges
        return {"privs": None if privileges is None else ",".join(privileges)}

    def same(self, key: str, want: Any, have: Any) -> bool:
        return _privileges(want) == _privileges(have)

    def requests(self, change: Change) -> list[PlannedRequest]:
        privs = change.field("privs")
        # Without `append`, PUT sets the role's privileges to exactly these.
        params = {} if privs is None else {"privs": privs.new or ""}
        return collection_requests(change, "/access/roles", "roleid", params)

    def terraform_attrs(self, manifest: ResourceManifest) -> list[tuple[str, Any]]:
        assert isinstance(manifest, RoleManifest)
        return [("role_id", manifest.name), ("privileges", manifest.spec.privileges or [])]

    def ansible_args(self, manifest: ResourceManifest) -> list[tuple[str, Any]]:
        assert isinstance(manifest, RoleManifest)
        privs = ",".join(manifest.spec.privileges or [])
        # No community.proxmox module manages roles: the playbook writes it through the API (POST when
        # the role is new, PUT when it exists; a PUT without `append` sets exactly these privileges).
        return [("write", ApiWrite("/access/roles", "roleid", manifest.name, {"privs": privs}))]


KIND = RoleKind()
