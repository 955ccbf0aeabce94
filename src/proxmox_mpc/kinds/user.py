"""User: a PVE user (`/access/users`), `resources/access/user-NAME_REALM.yaml`, addressed `user/NAME@REALM`.

```yaml
kind: User
name: alice@pve
spec:
  firstname: Alice
  email: alice@example.com
  groups: [ops]
  password_env: ALICE_PASSWORD   # pve realm only: read from the environment when the user is created
```
A user's groups are part of the user (PVE keeps membership on the user), a set: listing the groups
makes them exactly the user's (`groups: []` leaves it in none; no `groups:` leaves them alone). Each
group named is a reference: validate checks it exists, apply creates it first.

The password is never read back, stored, printed or generated: `password_env` names the environment
variable that holds it, read by apply when it creates the user (in the `pve` realm, the only one whose
passwords PVE keeps; other realms authenticate elsewhere). A user that exists keeps its password: pmpc
never compares or changes it. `root@pam` is PVE's own superuser and is neither imported nor managed.
The two-factor `keys` field is not managed either: for legacy OATH entries it holds a shared secret.
API tokens are not managed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from proxmox_mpc.core.access import ROOT_USER, check_group_id, check_user_id
from proxmox_mpc.core.batch import PlannedRequest
from proxmox_mpc.core.plan import Change
from proxmox_mpc.core.secrets import check_env_name
from proxmox_mpc.kinds.base import (
    PRESENCE_FIELD,
    AnsibleMapping,
    EnvSecret,
    Reference,
    Resource,
    ResourceKind,
    ResourceManifest,
    ResourceSpec,
    TerraformMapping,
    blank_equal,
    collection_requests,
)

FOLDER = "access"
PASSWORD_ENV = "password_env"
# The realm whose passwords PVE keeps itself (pam and LDAP users log in through the system or a directory).
PASSWORD_REALM = "pve"
TEXT_FIELDS = ("firstname", "lastname", "email", "comment")
MAX_TEXT = {"firstname": 1024, "lastname": 1024, "email": 254, "comment": 2048}


class UserSpec(ResourceSpec):
    """What a user should be (a field left out is left as it is; `enable` is true unless it says false)."""

    enable: bool = True
    # Seconds since the epoch when the account expires; 0: never.
    expire: int | None = Field(None, ge=0)
    firstname: str | None = Field(None, max_length=MAX_TEXT["firstname"])
    lastname: str | None = Field(None, max_length=MAX_TEXT["lastname"])
    email: str | None = Field(None, max_length=MAX_TEXT["email"])
    comment: str | None = Field(None, max_length=MAX_TEXT["comment"])
    groups: list[str] | None = None
    password_env: str | None = None

    @field_validator("groups")
    @classmethod
    def _groups(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else sorted({check_group_id(g) for g in value})

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value and ("@" not in value or any(c.isspace() for c in value)):
            raise ValueError(f"{value!r} is not an email address")
        return value

    @field_validator(PASSWORD_ENV)
    @classmethod
    def _env(cls, value: str | None) -> str | None:
        return None if value is None else check_env_name(value)


class UserManifest(ResourceManifest):
    """A User manifest."""

    prefix: ClassVar[str] = "user"
    kind: Literal["User"] = "User"
    spec: UserSpec = Field(default_factory=UserSpec)

    @field_validator("name")
    @classmethod
    def _user_id(cls, value: str) -> str:
        if value == ROOT_USER:
            raise ValueError(f"{ROOT_USER} is PVE's own superuser: pmpc neither imports nor manages it")
        return check_user_id(value)

    @model_validator(mode="after")
    def _password_realm(self) -> UserManifest:
        if self.spec.password_env is not None and self.name.rpartition("@")[2] != PASSWORD_REALM:
            raise ValueError(
                f"password_env is for users of the {PASSWORD_REALM} realm; {self.name} logs in through its own realm"
            )
        return self


def _groups_text(groups: list[str] | None) -> str | None:
    return None if groups is None else ",".join(groups)


def _group_names(value: str | None) -> list[str]:
    return sorted({g.strip() for g in str(value or "").split(",") if g.strip()})


def expiration_date(expire: int) -> str:
    """Return an expiry in seconds since the epoch as the RFC 3339 UTC time bpg's `expiration_date` takes."""
    return datetime.fromtimestamp(expire, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class UserKind(ResourceKind):
    """Users (every realm's; root@pam left out)."""

    name = "User"
    prefix = "user"
    folder = FOLDER
    model = UserManifest
    reads = ("/access/users",)
    writes = ("/access/users", "/access/users/{userid}")
    terraform = TerraformMapping("proxmox_virtual_environment_user", import_id="{id}")
    ansible = AnsibleMapping("community.proxmox.proxmox_user")
    columns = ("id", "enable", "expire", "firstname", "lastname", "email", "groups", "comment")
    # The create (and only it: PVE changes a password elsewhere) sends the password read from `password_env`.
    secret_params: ClassVar[Mapping[str, str]] = {PASSWORD_ENV: "password"}
    secrets_on_update = False
    example: ClassVar[dict[str, Any]] = {
        "kind": "User",
        "name": "alice@pve",
        "spec": {"firstname": "Alice", "email": "alice@example.com", "groups": ["ops"], "password_env": "ALICE_PW"},
    }

    def references(self, manifest: Any) -> list[Reference]:
        groups = manifest.spec.groups or []
        return [Reference(("spec", "groups", i), f"group/{g}", "group") for i, g in enumerate(groups)]

    def change_references(self, change: Change) -> list[str]:
        groups = change.field("groups")
        return [] if groups is None else [f"group/{g}" for g in _group_names(groups.new)]

    def normalise(self, item: Mapping[str, Any]) -> Resource | None:
        userid = item.get("userid")
        if not userid or userid == ROOT_USER:
            return None
        data: dict[str, Any] = {
            "enable": str(item.get("enable", 1)) not in ("0", "false", "False"),
            "expire": int(item.get("expire") or 0) or None,
            **{key: item.get(key) or None for key in TEXT_FIELDS},
            "groups": ",".join(_group_names(item.get("groups"))) or None,
        }
        return Resource(kind=self.prefix, id=str(userid), data=data)

    def file_stem(self, resource: Resource) -> str:
        return f"user-{resource.id}"

    def to_manifest(self, resource: Resource) -> UserManifest:
        data = resource.data
        groups = _group_names(data.get("groups"))
        spec = UserSpec(
            enable=bool(data.get("enable", True)),
            expire=data.get("expire") or None,
            groups=groups or None,
            **{key: data.get(key) or None for key in TEXT_FIELDS},
        )
        return UserManifest(name=resource.id, spec=spec)

    def desired(self, manifest: ResourceManifest) -> dict[str, Any]:
        assert isinstance(manifest, UserManifest)
        spec = manifest.spec
        return {
            "enable": spec.enable,
            "expire": spec.expire,
            **{key: getattr(spec, key) for key in TEXT_FIELDS},
            "groups": _groups_text(spec.groups),
        }

    def same(self, key: str, want: Any, have: Any) -> bool:
        if key == "expire":
            return int(want or 0) == int(have or 0)
        if key == "enable":
            return bool(want) == bool(have)
        return blank_equal(want, have)

    def requests(self, change: Change) -> list[PlannedRequest]:
        # A create's `password_env` names the variable: apply reads it and adds `password` as it sends.
        params = {
            f.name: f.new if f.new is not None else ""
            for f in change.fields
            if f.name not in (PRESENCE_FIELD, PASSWORD_ENV)
        }
        return collection_requests(change, "/access/users", "userid", params)

    def terraform_attrs(self, manifest: ResourceManifest) -> list[tuple[str, Any]]:
        assert isinstance(manifest, UserManifest)
        spec = manifest.spec
        return [
            ("user_id", manifest.name),
            ("comment", spec.comment),
            ("email", spec.email),
            ("enabled", spec.enable),
            ("expiration_date", expiration_date(spec.expire) if spec.expire else None),
            ("first_name", spec.firstname),
            ("last_name", spec.lastname),
            ("groups", spec.groups),
            ("password", EnvSecret(spec.password_env) if spec.password_env else None),
        ]

    def ansible_args(self, manifest: ResourceManifest) -> list[tuple[str, Any]]:
        assert isinstance(manifest, UserManifest)
        spec = manifest.spec
        return [
            ("userid", manifest.name),
            ("comment", spec.comment),
            ("email", spec.email),
            ("enable", spec.enable),
            ("expire", spec.expire),
            ("firstname", spec.firstname),
            ("lastname", spec.lastname),
            ("groups", spec.groups),
            ("password", EnvSecret(spec.password_env) if spec.password_env else None),
            ("state", "present"),
        ]


KIND = UserKind()
