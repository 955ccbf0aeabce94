"""ACL: one entry of PVE's access control list (`/access/acl`), `resources/access/acl-....yaml`.

```yaml
kind: ACL
spec:
  path: /vms/101
  type: user          # user | group | token
  ugid: alice@pve
  role: PVEVMAdmin
  propagate: true     # the default
```
An entry is its (path, type, ugid, role): its address is `acl/PATH:TYPE:UGID:ROLE` with the path's
leading slash left out and the root path written `root` (`acl/vms/101:user:alice@pve:PVEVMAdmin`,
`acl/root:group:admins:Administrator`; core/access.py). The manifest's `name` is that id and may be left
out: pmpc derives it from the spec (one given must match). Changing the path, subject or role is a
different entry: the old one's manifest should say `state: absent`. Only `propagate` is updated in place.

The entry references its user or group (a token: the token's user), its role unless the role is one PVE
ships, and the pool a `/pool/...` path names; apply creates those first and removes the entry before
them. A `/vms/VMID` path is not checked (a guest may be created by the same apply).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import field_validator, model_validator

from proxmox_mpc.core.access import (
    ROLE_ID,
    ROOT_USER,
    SUBJECT_PARAMS,
    AclEntry,
    SubjectType,
    check_acl_path,
    check_subject,
    is_builtin_role,
)
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
)

FOLDER = "access"


class AclSpec(ResourceSpec):
    """One ACL entry: `role` for a user, group or token on `path`, inherited below it when `propagate`."""

    path: str
    type: SubjectType
    ugid: str
    role: str
    propagate: bool = True

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        return check_acl_path(value)

    @field_validator("role")
    @classmethod
    def _role(cls, value: str) -> str:
        if not ROLE_ID.fullmatch(value):
            raise ValueError(f"{value!r} is not a role id: letters, digits, . - _")
        return value

    @model_validator(mode="after")
    def _subject(self) -> AclSpec:
        check_subject(self.type, self.ugid)
        return self

    @property
    def entry(self) -> AclEntry:
        """Return the entry this spec describes."""
        return AclEntry(path=self.path, type=self.type, ugid=self.ugid, role=self.role)


class AclManifest(ResourceManifest):
    """An ACL manifest: the spec says which entry; `name`, when given, must spell the same entry."""

    prefix: ClassVar[str] = "acl"
    kind: Literal["ACL"] = "ACL"
    spec: AclSpec  # type: ignore[assignment]

    @model_validator(mode="before")
    @classmethod
    def _derived_name(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("name") is not None:
            return data
        spec = data.get("spec")
        try:
            derived = AclSpec.model_validate(spec).entry.ident if isinstance(spec, dict) else None
        except ValueError:
            derived = ""  # the spec's own errors are reported where they are, not a missing name too
        return {**data, "name": derived or ""}

    @model_validator(mode="after")
    def _name_matches(self) -> AclManifest:
        ident = self.spec.entry.ident
        if self.name != ident:
            raise ValueError(
                f"name {self.name!r} does not spell the entry of the spec ({ident}): fix it or leave it out"
            )
        return self


class AclKind(ResourceKind):
    """ACL entries."""

    name = "ACL"
    prefix = "acl"
    folder = FOLDER
    model = AclManifest
    reads = ("/access/acl",)
    writes = ("/access/acl",)
    # bpg documents the import id `{path}?{group|user@realm|user@realm!token}?{role}`.
    terraform = TerraformMapping("proxmox_virtual_environment_acl", import_id="{path}?{ugid}?{role}")
    ansible = AnsibleMapping("community.proxmox.proxmox_access_acl")
    columns = ("path", "type", "ugid", "role", "propagate")
    example: ClassVar[dict[str, Any]] = {
        "kind": "ACL",
        "spec": {"path": "/pool/prod", "type": "group", "ugid": "ops", "role": "PVEVMAdmin"},
    }

    def references(self, manifest: Any) -> list[Reference]:
        return [
            Reference(("spec", field), address, address.split("/", 1)[0])
            for field, address in _named(manifest.spec.entry)
        ]

    def change_references(self, change: Change) -> list[str]:
        return [address for _, address in _named(AclEntry.parse(change.address.split("/", 1)[1]))]

    def normalise(self, item: Mapping[str, Any]) -> Resource | None:
        try:
            spec = AclSpec(
                path=str(item.get("path")),
                type=item.get("type"),  # type: ignore[arg-type]
                ugid=str(item.get("ugid")),
                role=str(item.get("roleid")),
            )
        except ValueError:
            return None  # not an entry PVE would accept: nothing pmpc could write back
        propagate = str(item.get("propagate", 1)) not in ("0", "false", "False")
        return Resource(kind=self.prefix, id=spec.entry.ident, data={"propagate": propagate})

    def file_stem(self, resource: Resource) -> str:
        entry = AclEntry.parse(resource.id)
        where = entry.path.strip("/").replace("/", "-") or "root"
        return f"acl-{where}-{entry.type}-{entry.ugid}-{entry.role}"

    def to_manifest(self, resource: Resource) -> AclManifest:
        entry = AclEntry.parse(resource.id)
        spec = AclSpec(
            path=entry.path,
            type=entry.type,  # type: ignore[arg-type]
            ugid=entry.ugid,
            role=entry.role,
            propagate=bool(resource.data.get("propagate", True)),
        )
        return AclManifest(name=resource.id, spec=spec)

    def desired(self, manifest: ResourceManifest) -> dict[str, Any]:
        assert isinstance(manifest, AclManifest)
        return {"propagate": manifest.spec.propagate}

    def same(self, key: str, want: Any, have: Any) -> bool:
        return bool(want) == bool(have)

    def requests(self, change: Change) -> list[PlannedRequest]:
        entry = AclEntry.parse(change.address.split("/", 1)[1])
        params: dict[str, Any] = {"path": entry.path, "roles": entry.role, SUBJECT_PARAMS[entry.type]: entry.ugid}
        if change.action == "delete":
            return [PlannedRequest(method="PUT", path="/access/acl", params={**params, "delete": 1})]
        propagate = change.field("propagate")
        if propagate is not None and propagate.new is not None:
            params["propagate"] = propagate.new
        # PUT /access/acl sets the entry (and its propagate flag) whether it exists or not.
        return [PlannedRequest(method="PUT", path="/access/acl", params=params)]

    def import_id(self, manifest: ResourceManifest) -> str:
        assert isinstance(manifest, AclManifest)
        entry = manifest.spec.entry
        return self.terraform.import_id.format(path=entry.path, ugid=entry.ugid, role=entry.role)

    def terraform_attrs(self, manifest: ResourceManifest) -> list[tuple[str, Any]]:
        assert isinstance(manifest, AclManifest)
        spec = manifest.spec
        subject = {"user": "user_id", "group": "group_id", "token": "token_id"}[spec.type]
        return [("path", spec.path), (subject, spec.ugid), ("role_id", spec.role), ("propagate", spec.propagate)]

    def ansible_args(self, manifest: ResourceManifest) -> list[tuple[str, Any]]:
        assert isinstance(manifest, AclManifest)
        spec = manifest.spec
        return [
            ("path", spec.path),
            ("type", spec.type),
            ("ugid", spec.ugid),
            ("roleid", spec.role),
            ("propagate", spec.propagate),
            ("state", "present"),
        ]

    def row(self, resource: Resource) -> dict[str, Any]:
        entry = AclEntry.parse(resource.id)
        return {
            "id": resource.id,
            "path": entry.path,
            "type": entry.type,
            "ugid": entry.ugid,
            "role": entry.role,
            "propagate": bool(resource.data.get("propagate", True)),
        }


def _named(entry: AclEntry) -> list[tuple[str, str]]:
    """Return (spec field, address) for each managed object an entry names."""
    found = []
    if entry.ugid.split("!", 1)[0] != ROOT_USER:
        found.append(("ugid", entry.subject_address()))
    if not is_builtin_role(entry.role):
        found.append(("role", f"role/{entry.role}"))
    pool = entry.object_address()
    if pool is not None:
        found.append(("path", pool))
    return found


KIND = AclKind()
