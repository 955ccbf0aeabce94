"""Storage: a cluster storage definition (`/storage`), `resources/storages/ID.yaml`, addressed `storage/ID`.

```yaml
kind: Storage
name: nas
spec:
  type: nfs
  server: 10.0.0.5
  export: /export/pve
  content: [backup, iso]
  nodes: [pve1, pve2]
  prune_backups: {keep_last: 3, keep_daily: 7}
```
One model per storage type (dir, nfs, cifs, lvm, lvmthin, zfspool, pbs), chosen by `spec.type`, each
accepting only its type's keys; `config:` passes through the type's other storage.cfg options. This is
the definition (storage.cfg); the per-node status (`pmpc storage list`) is another read.

What PVE fixes at create time (the type, path, server, export, share, vgname, thinpool, pool, datastore)
forces a replace: the definition is deleted and created again; the data on the medium stays, but guests
that keep volumes on the storage would point at a definition that is gone, so such a plan is refused
while any do. Secrets (the cifs and pbs `password`, the pbs `encryption-key`) are named by an environment
variable (`password_env: NAS_PASSWORD`); apply reads it and sends the value, PVE never returns it, so a
changed secret is not seen by `plan`: `--send-secrets storage/ID` sends it again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, Field, StringConstraints, ValidationInfo, field_validator

from proxmox_mpc.core.batch import PlannedRequest
from proxmox_mpc.core.normalize import is_disk_key, split_volume
from proxmox_mpc.core.plan import Change
from proxmox_mpc.core.retention import Retention, canonical
from proxmox_mpc.core.secrets import check_env_name
from proxmox_mpc.kinds.base import (
    AnsibleMapping,
    ApiWrite,
    EnvSecret,
    Loc,
    Resource,
    ResourceKind,
    ResourceManifest,
    ResourceSpec,
    TerraformMapping,
    check_name,
    text,
)

# PVE's pve-storage-id.
STORAGE_ID = re.compile(r"[A-Za-z][A-Za-z0-9\-_.]*[A-Za-z0-9]")
NODE_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9\-]*[A-Za-z0-9])?")
PATH = r"^/[^\s,;=]*$"
TEXT = r"^[^\s,;=]+$"

EnvName = Annotated[str, StringConstraints(max_length=128), AfterValidator(check_env_name)]
AbsPath = Annotated[str, StringConstraints(pattern=PATH, max_length=4096)]
Word = Annotated[str, StringConstraints(pattern=TEXT, max_length=256)]
MountOptions = Annotated[str, StringConstraints(pattern=r"^\S+$", max_length=4096)]
Namespace = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_][A-Za-z0-9._\-/]*$", max_length=256)]
FILE_CONTENT = ("images", "rootdir", "vztmpl", "iso", "backup", "snippets", "import")
BLOCK_CONTENT = ("images", "rootdir")
ContentType = Literal["images", "rootdir", "vztmpl", "iso", "backup", "snippets", "import", "none"]
ConfigValue = str | int | bool

# The storage.cfg options of each type pmpc manages (pve-storage's plugins); a manifest's `config:`
# may name those of its type that have no field of their own.
_FILE = (
    "content-dirs format mkdir create-base-path create-subdirs bwlimit preallocation "
    "snapshot-as-volume-chain prune-backups max-protected-backups"
)
OPTIONS: dict[str, frozenset[str]] = {
    name: frozenset(f"content nodes disable {extra}".split())
    for name, extra in {
        "dir": f"path shared is_mountpoint {_FILE}",
        "nfs": f"path server export options {_FILE}",
        "cifs": f"path server share subdir username domain smbversion options {_FILE}",
        "lvm": "vgname shared saferemove saferemove-stepsize saferemove_throughput tagged_only base bwlimit "
        "snapshot-as-volume-chain",
        "lvmthin": "vgname thinpool bwlimit",
        "zfspool": "pool blocksize sparse mountpoint bwlimit",
        "pbs": "server datastore namespace port username fingerprint prune-backups max-protected-backups",
    }.items()
}
TYPES = tuple(OPTIONS)
CONTENT = {"dir": (*FILE_CONTENT, "none"), "nfs": FILE_CONTENT, "cifs": FILE_CONTENT, "pbs": ("backup",)}
# Fixed at create time (PVE refuses to change them): changing one replaces the definition.
FIXED = frozenset({"type", "path", "server", "export", "share", "vgname", "thinpool", "pool", "datastore", "base"})
# Kept apart from storage.cfg by PVE and never returned: manifests name them by environment variable.
SECRETS = {"password_env": "password", "encryption_key_env": "encryption-key"}
NEVER_READ = frozenset({"password", "encryption-key", "keyring", "master-pubkey", "storage", "digest"})
# Flags PVE leaves out when they are off.
OFF_BY_DEFAULT = frozenset({"disable", "shared", "sparse", "saferemove", "tagged_only"})
LISTS = frozenset({"content", "nodes"})
# Manifest field -> storage.cfg key, where they differ.
KEYS = {"prune_backups": "prune-backups", "max_protected_backups": "max-protected-backups"}


def _node(value: str) -> str:
    return check_name(NODE_NAME, value, "a node name")


class StorageSpec(ResourceSpec):
    """What every storage type has: its content types, the nodes it is on, whether it is disabled."""

    type: str
    content: list[ContentType] | None = Field(None, min_length=1)
    nodes: list[str] | None = None
    disable: bool | None = None
    config: dict[str, ConfigValue] | None = None

    # The content types this type holds.
    holds: ClassVar[tuple[str, ...]] = BLOCK_CONTENT

    @field_validator("nodes")
    @classmethod
    def _nodes(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else [_node(str(n)) for n in value]

    @field_validator("content")
    @classmethod
    def _content(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        wrong = [c for c in value if c not in cls.holds]
        if wrong:
            kind = cls.model_fields["type"].default
            raise ValueError(f"a {kind} storage holds {', '.join(cls.holds)}, not {', '.join(wrong)}")
        if "none" in value and len(value) > 1:
            raise ValueError("none stands alone")
        return value

    @field_validator("config")
    @classmethod
    def _config(cls, value: dict[str, ConfigValue] | None) -> dict[str, ConfigValue] | None:
        if not value:
            return value
        kind = str(cls.model_fields["type"].default)
        fields = {KEYS.get(f, f) for f in cls.model_fields}
        for key in value:
            if key in fields:
                raise ValueError(f"{key} has its own field: write it under spec, not config")
            if key not in OPTIONS[kind]:
                known = ", ".join(sorted(OPTIONS[kind] - fields)) or "none"
                raise ValueError(f"{key!r} is not an option of a {kind} storage (config takes: {known})")
        return value


class _Backups(StorageSpec):
    """File and backup storages keep backups: their retention."""

    prune_backups: Retention | None = None
    max_protected_backups: int | None = Field(None, ge=-1, le=1_000_000)


class _Login(_Backups):
    """A storage PVE logs in to: a user, and the environment variable that holds its password."""

    username: Word | None = None
    password_env: EnvName | None = None

    @field_validator("password_env")
    @classmethod
    def _with_user(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and not info.data.get("username"):
            raise ValueError("a password goes with a username: add spec.username")
        return value


class DirSpec(_Backups):
    """A directory on each node (or a shared mount: `shared: true`)."""

    type: Literal["dir"] = "dir"
    path: AbsPath
    shared: bool | None = None
    holds: ClassVar[tuple[str, ...]] = CONTENT["dir"]


class NfsSpec(_Backups):
    """An NFS export PVE mounts (at `path`, by default /mnt/pve/ID)."""

    type: Literal["nfs"] = "nfs"
    server: Word
    export: AbsPath
    path: AbsPath | None = None
    options: MountOptions | None = None
    holds: ClassVar[tuple[str, ...]] = CONTENT["nfs"]


class CifsSpec(_Login):
    """An SMB/CIFS share PVE mounts; its password comes from an environment variable."""

    type: Literal["cifs"] = "cifs"
    server: Word
    share: Word
    path: AbsPath | None = None
    subdir: AbsPath | None = None
    domain: Word | None = None
    smbversion: Literal["default", "2.0", "2.1", "3", "3.0", "3.11"] | None = None
    options: MountOptions | None = None
    holds: ClassVar[tuple[str, ...]] = CONTENT["cifs"]


class LvmSpec(StorageSpec):
    """An LVM volume group (`shared: true` when every node sees it, e.g. on a SAN LUN)."""

    type: Literal["lvm"] = "lvm"
    vgname: Word
    shared: bool | None = None
    saferemove: bool | None = None


class LvmThinSpec(StorageSpec):
    """An LVM thin pool."""

    type: Literal["lvmthin"] = "lvmthin"
    vgname: Word
    thinpool: Word


class ZfsPoolSpec(StorageSpec):
    """A local ZFS pool (or dataset: `rpool/data`)."""

    type: Literal["zfspool"] = "zfspool"
    pool: Word
    blocksize: Annotated[str, StringConstraints(pattern=r"^\d+[kKmM]?$")] | None = None
    sparse: bool | None = None
    mountpoint: AbsPath | None = None


class PbsSpec(_Login):
    """A Proxmox Backup Server datastore; its password and encryption key come from environment variables."""

    type: Literal["pbs"] = "pbs"
    server: Word
    datastore: Word
    namespace: Namespace | None = None
    port: int | None = Field(None, ge=1, le=65535)
    fingerprint: Annotated[str, StringConstraints(pattern=r"^([A-Fa-f0-9]{2}:){31}[A-Fa-f0-9]{2}$")] | None = None
    encryption_key_env: EnvName | None = None
    holds: ClassVar[tuple[str, ...]] = CONTENT["pbs"]


AnySpec = DirSpec | NfsSpec | CifsSpec | LvmSpec | LvmThinSpec | ZfsPoolSpec | PbsSpec
SPECS: dict[str, type[StorageSpec]] = {
    "dir": DirSpec,
    "nfs": NfsSpec,
    "cifs": CifsSpec,
    "lvm": LvmSpec,
    "lvmthin": LvmThinSpec,
    "zfspool": ZfsPoolSpec,
    "pbs": PbsSpec,
}


class StorageManifest(ResourceManifest):
    """A Storage manifest: `spec.type` picks the model its other keys are checked against."""

    prefix: ClassVar[str] = "storage"
    kind: Literal["Storage"] = "Storage"
    spec: AnySpec  # type: ignore[assignment]

    @field_validator("name")
    @classmethod
    def _storage_id(cls, value: str) -> str:
        return check_name(STORAGE_ID, value, "a storage id: a letter, then letters, digits, - _ . (not last)")

    @field_validator("spec", mode="before")
    @classmethod
    def _by_type(cls, value: Any) -> Any:
        if isinstance(value, StorageSpec) or not isinstance(value, dict):
            return value
        kind = value.get("type")
        model = SPECS.get(kind) if isinstance(kind, str) else None
        if model is None:
            raise ValueError(f"type must be one of {', '.join(TYPES)} (got {kind!r})")
        return model.model_validate(value)


def _canonical(key: str, value: Any) -> str | None:
    """Return a storage.cfg value as pmpc compares it (lists sorted, retention in PVE's order)."""
    if value is None:
        return None
    if key in LISTS:
        items = sorted({v.strip() for v in str(value).split(",") if v.strip()})
        return ",".join(items) or None
    if key == "prune-backups":
        return canonical(value)
    return text(value)


def _spec_value(value: Any) -> Any:
    if isinstance(value, Retention):
        return value.to_pve()
    if isinstance(value, list):
        return ",".join(sorted(set(value)))
    return value


def guest_volumes(guest: Any, storage: str) -> list[str]:
    """Return the config keys of a guest's volumes (disks, mount points, unused, ISOs) on a storage."""
    found = []
    for key, value in sorted((getattr(guest, "config", None) or {}).items()):
        if not (is_disk_key(guest.kind, key) or key.startswith("unused")):
            continue
        if split_volume(str(value).split(",")[0])[0] == storage:
            found.append(key)
    return found


class StorageKind(ResourceKind):
    """Cluster storage definitions (storage.cfg)."""

    name = "Storage"
    prefix = "storage"
    folder = "storages"
    model = StorageManifest
    reads = ("/storage",)
    writes = ("/storage", "/storage/{storage}")
    replace_fields = FIXED
    # bpg documents `terraform import <type>.<name> ID` for each of its storage resources.
    terraform = TerraformMapping("proxmox_virtual_environment_storage_nfs", import_id="{id}")
    ansible = AnsibleMapping("community.proxmox.proxmox_storage")
    columns = ("id", "type", "content", "nodes", "shared", "disable")
    secret_params: ClassVar[Mapping[str, str]] = SECRETS
    # A replace reads the definition first, to create it again with the options the manifest leaves alone.
    applier = "proxmox_mpc.services.storage:apply_storage_change"
    example: ClassVar[dict[str, Any]] = {
        "kind": "Storage",
        "name": "nas",
        "spec": {
            "type": "nfs",
            "server": "10.0.0.5",
            "export": "/export/pve",
            "content": ["backup", "iso"],
            "prune_backups": {"keep_last": 3, "keep_daily": 7},
        },
    }

    # ------------------------------------------------------------------ reading

    def normalise(self, item: Mapping[str, Any]) -> Resource | None:
        kind, sid = item.get("type"), item.get("storage")
        if kind not in OPTIONS or not sid:
            return None  # a type pmpc does not manage (rbd, cephfs, iscsi, zfs, btrfs, esxi): left alone
        data: dict[str, Any] = {"type": kind}
        for key, value in item.items():
            # Only the type's own options: PVE adds computed ones (`shared` on an NFS storage).
            if key in OPTIONS[kind] and key not in NEVER_READ:
                found = _canonical(key, value)
                if found is not None:
                    data[key] = found
        return Resource(kind=self.prefix, id=str(sid), data=data)

    def to_manifest(self, resource: Resource) -> StorageManifest:
        data = dict(resource.data)
        model = SPECS[str(data["type"])]
        fields = {KEYS.get(f, f): f for f in model.model_fields if f not in ("state", "config", *SECRETS)}
        spec: dict[str, Any] = {}
        config: dict[str, Any] = {}
        for key, value in sorted(data.items()):
            name = fields.get(key)
            if name is None:
                config[key] = value
            elif key in LISTS:
                spec[name] = value.split(",")
            elif key == "prune-backups":
                spec[name] = Retention.from_pve(value) or value
            elif model.model_fields[name].annotation in (bool | None,):
                spec[name] = value == "1"
            else:
                spec[name] = value
        if config:
            spec["config"] = config
        return StorageManifest(name=resource.id, spec=model.model_validate(spec))

    def node_references(self, manifest: ResourceManifest) -> list[tuple[Loc, str]]:
        assert isinstance(manifest, StorageManifest)
        return [(("spec", "nodes", i), n) for i, n in enumerate(manifest.spec.nodes or [])]

    # ------------------------------------------------------------------ comparing

    def desired(self, manifest: ResourceManifest) -> dict[str, Any]:
        assert isinstance(manifest, StorageManifest)
        spec = manifest.spec
        want: dict[str, Any] = {}
        for name in type(spec).model_fields:
            if name in ("state", "config", *SECRETS):
                continue
            key = KEYS.get(name, name)
            value = _spec_value(getattr(spec, name))
            # An empty node list is every node: PVE keeps that as no `nodes` at all.
            want[key] = "" if name == "nodes" and value == "" else _canonical(key, value)
        for key, value in (spec.config or {}).items():
            want[key] = text(value)
        return want

    def same(self, key: str, want: Any, have: Any) -> bool:
        if key in OFF_BY_DEFAULT:
            return (want or "0") == (have or "0")
        return (want or None) == (have or None)

    def in_use(self, change: Change, guests: Sequence[Any]) -> str | None:
        if change.action not in ("delete", "replace"):
            return None
        sid = change.address.split("/", 1)[1]
        users = [f"{g.kind}/{g.vmid} ({', '.join(keys)})" for g in guests if (keys := guest_volumes(g, sid))]
        if not users:
            return None
        verb = "deletes" if change.action == "delete" else "replaces (deletes, then creates)"
        return (
            f"the plan {verb} {change.address}, but guests keep volumes on it: {'; '.join(users)}; "
            "PVE would leave them naming a storage that is gone: move or remove those volumes first"
        )

    # ------------------------------------------------------------------ writing

    def requests(self, change: Change) -> list[PlannedRequest]:
        sid = change.address.split("/", 1)[1]
        values = {f.name: f.new for f in change.fields if f.name not in SECRETS}
        delete = PlannedRequest(method="DELETE", path=f"/storage/{sid}")
        if change.action == "delete":
            return [delete]
        if change.action in ("create", "replace"):
            # A replace that keeps the type names only what changes: the applier adds the rest (replace_requests).
            params: dict[str, Any] = {"storage": sid}
            params.update({k: v for k, v in values.items() if v not in (None, "")})
            if params.get("type") in ("nfs", "cifs"):
                params.setdefault("path", f"/mnt/pve/{sid}")  # where PVE's own tools mount it
            create = PlannedRequest(method="POST", path="/storage", params=params)
            return [create] if change.action == "create" else [delete, create]
        params = {k: v for k, v in values.items() if v not in (None, "")}
        gone = sorted(k for k, v in values.items() if v in (None, ""))
        if gone:
            params["delete"] = ",".join(gone)
        return [PlannedRequest(method="PUT", path=f"/storage/{sid}", params=params)]

    def replace_requests(self, change: Change, current: Mapping[str, Any]) -> list[PlannedRequest]:
        """Return a replace's requests: the definition deleted, then created with what it had and the change.

        A replace's change carries only what changes; the options the manifest leaves alone (and those it
        keeps the same) are taken from the definition as it is now (`current`, GET /storage/{storage}),
        so creating it again loses nothing: the new type's options only, fixed ones only where the type stays.
        """
        requests = self.requests(change)
        create = requests[-1]
        sid = change.address.split("/", 1)[1]
        kept = self.normalise({**current, "storage": sid})
        kind = str(create.params.get("type") or (kept.data["type"] if kept is not None else ""))
        if kind not in OPTIONS:
            return requests  # nothing to keep: PVE says what is missing
        same_type = kept is not None and kept.data.get("type") == kind
        params: dict[str, Any] = {"storage": sid, "type": kind}
        for key, value in (kept.data.items() if kept is not None else ()):
            if key in OPTIONS[kind] and (same_type or key not in FIXED):
                params[key] = value
        changed = {f.name for f in change.fields}
        # The default mount point only where neither the change nor the kept definition gives one.
        params.update({k: v for k, v in create.params.items() if k in changed or k not in params})
        return [*requests[:-1], create.model_copy(update={"params": params})]

    # ------------------------------------------------------------------ generators

    def terraform_type(self, manifest: ResourceManifest) -> str:
        assert isinstance(manifest, StorageManifest)
        suffix = "directory" if manifest.spec.type == "dir" else manifest.spec.type
        return f"proxmox_virtual_environment_storage_{suffix}"

    def terraform_attrs(self, manifest: ResourceManifest) -> list[tuple[str, Any]]:
        assert isinstance(manifest, StorageManifest)
        spec = manifest.spec
        attrs: list[tuple[str, Any]] = [("id", manifest.name)]
        own: dict[str, tuple[tuple[str, str], ...]] = {
            "dir": (("path", "path"), ("shared", "shared")),
            "nfs": (("server", "server"), ("export", "export"), ("options", "options")),
            "cifs": (
                ("server", "server"),
                ("share", "share"),
                ("username", "username"),
                ("domain", "domain"),
                ("subdir", "subdirectory"),
                ("options", "options"),
            ),
            "lvm": (("vgname", "volume_group"), ("shared", "shared"), ("saferemove", "wipe_removed_volumes")),
            "lvmthin": (("vgname", "volume_group"), ("thinpool", "thin_pool")),
            "zfspool": (("pool", "zfs_pool"), ("blocksize", "blocksize"), ("sparse", "thin_provision")),
            "pbs": (
                ("server", "server"),
                ("datastore", "datastore"),
                ("username", "username"),
                ("namespace", "namespace"),
                ("fingerprint", "fingerprint"),
            ),
        }
        attrs += [(attr, getattr(spec, name)) for name, attr in own[spec.type]]
        if isinstance(spec, _Login) and spec.password_env:
            attrs.append(("password", EnvSecret(spec.password_env)))
        if isinstance(spec, PbsSpec) and spec.encryption_key_env:
            attrs.append(("encryption_key", EnvSecret(spec.encryption_key_env)))
        attrs += [("nodes", spec.nodes), ("content", spec.content), ("disable", spec.disable)]
        if isinstance(spec, _Backups):
            keep = spec.prune_backups.model_dump(exclude_none=True) if spec.prune_backups else {}
            if spec.max_protected_backups is not None:
                keep["max_protected_backups"] = spec.max_protected_backups
            if keep:
                attrs.append(("backups", [keep]))
        return attrs

    def ansible_module(self, manifest: ResourceManifest) -> str:
        assert isinstance(manifest, StorageManifest)
        # community.proxmox.proxmox_storage has no LVM types: the API itself, through ansible.builtin.uri.
        return "ansible.builtin.uri" if manifest.spec.type in ("lvm", "lvmthin") else self.ansible.module

    def ansible_args(self, manifest: ResourceManifest) -> list[tuple[str, Any]]:
        assert isinstance(manifest, StorageManifest)
        spec = manifest.spec
        if spec.type in ("lvm", "lvmthin"):
            create = self.diff(manifest, None)
            assert create is not None
            body = {k: v for k, v in self.requests(create)[0].params.items() if k != "storage"}
            fixed = tuple(sorted(FIXED & set(body)))  # PVE refuses them on update
            write = ApiWrite(collection="/storage", key="storage", ident=manifest.name, body=body, fixed=fixed)
            return [("api", write)]
        options: dict[str, Any] = {}
        if isinstance(spec, DirSpec):
            options = {"path": spec.path}
        elif isinstance(spec, NfsSpec):
            options = {"server": spec.server, "export": spec.export, "options": spec.options}
        elif isinstance(spec, CifsSpec):
            options = {
                "server": spec.server,
                "share": spec.share,
                "username": spec.username,
                "domain": spec.domain,
                "smb_version": spec.smbversion,
                "password": EnvSecret(spec.password_env) if spec.password_env else None,
            }
        elif isinstance(spec, ZfsPoolSpec):
            options = {"pool": spec.pool}
        elif isinstance(spec, PbsSpec):
            options = {
                "server": spec.server,
                "datastore": spec.datastore,
                "username": spec.username,
                "fingerprint": spec.fingerprint,
                "password": EnvSecret(spec.password_env) if spec.password_env else None,
            }
        return [
            ("name", manifest.name),
            ("type", spec.type),
            (f"{spec.type}_options", {k: v for k, v in options.items() if v is not None}),
            ("content", spec.content),
            ("nodes", spec.nodes),
            ("state", "present"),
        ]

    # ------------------------------------------------------------------ listing

    def row(self, resource: Resource) -> dict[str, Any]:
        data = resource.data
        return {
            "id": resource.id,
            "type": data.get("type"),
            "content": data.get("content"),
            "nodes": data.get("nodes") or "all",
            "shared": data.get("shared") == "1",
            "disable": data.get("disable") == "1",
            **{k: v for k, v in sorted(data.items()) if k not in self.columns},
        }


KIND = StorageKind()
