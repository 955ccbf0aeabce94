"""Manifests: the desired state of one guest (pydantic), and its mapping to and from Proxmox config.

A manifest is `kind: VM|CT`, `name`, `node`, optional `vmid`, and a `spec` with structured fields for
the common settings plus `config:`, passed through verbatim for any other Proxmox key. The mapping
round-trips: `manifest_from_config(manifest_to_config(m), ...) == m` for every canonical manifest,
and a manifest imported from a guest maps back to a config that `normalize.equivalent()` finds
equal to the guest's own.

Absent (None) structured fields are unmanaged: pmpc neither compares nor changes them. A list that
is given (disks, networks, mounts, tags) is the whole truth for its family of keys.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from proxmox_mpc.core import normalize as nz
from proxmox_mpc.core.pveconfig import QEMU_NIC_MODELS, parse_size

MANIFEST_KINDS = ("VM", "CT")
KIND_TO_TYPE = {"VM": "qemu", "CT": "lxc"}
TYPE_TO_KIND = {"qemu": "VM", "lxc": "CT"}
KIND_PREFIX = {"VM": "vm", "CT": "ct"}
PowerState = Literal["running", "stopped", "absent"]

VM_DISK_SLOT = re.compile(
    r"^(scsi([0-9]|[12][0-9]|30)|virtio([0-9]|1[0-5])|sata[0-5]|ide[0-3]|efidisk0|tpmstate0)\Z"
)
NET_SLOT = re.compile(r"^net([0-9]|[1-9][0-9])\Z")
MP_SLOT = re.compile(r"^mp([0-9]|[1-9][0-9]|[12][0-9]{2})\Z")
NAME_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9\-.]*[A-Za-z0-9])?\Z")
# PVE's own schema: a container's hostname is a dns-name of at most 255 characters (a VM's name
# is a dns-name without a stated maximum); a manifest accepts every name PVE accepts.
MAX_NAME_LENGTH = 255
# PVE gives memory no maximum, but keeps it (in MiB) and computes with bytes in 64-bit integers.
MAX_MEMORY_MIB = 2**43 - 1
MAC_RE = re.compile(r"^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}\Z")
SIMPLE_VALUE = re.compile(r"^(0|-?[1-9][0-9]*)\Z")

# The config key of each structured field; a `config:` entry may not repeat a key a set field owns.
_COMMON_FIELD_KEYS = {
    "cores": "cores",
    "memory": "memory",
    "os_type": "ostype",
    "onboot": "onboot",
    "protection": "protection",
    "description": "description",
    "tags": "tags",
    "template": "template",
}
VM_FIELD_KEYS = {**_COMMON_FIELD_KEYS, "sockets": "sockets", "cpu": "cpu", "agent": "agent"}
CT_FIELD_KEYS = {
    **_COMMON_FIELD_KEYS,
    "swap": "swap",
    "unprivileged": "unprivileged",
    "rootfs": "rootfs",
    "nameserver": "nameserver",
    "searchdomain": "searchdomain",
}

ConfigValue = str | int | None
MASKED = "**********"


def scalar(value: Any) -> ConfigValue:
    """Return a passthrough config value in canonical form: integers as int, booleans as 1/0, else text."""
    if value is None:
        return None
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    text = str(value)
    return int(text) if SIMPLE_VALUE.match(text) and len(text) < 19 else text


def _options(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError("must be a mapping of option: value")
    return {str(k): nz.bool_text(v) if isinstance(v, bool) else str(v) for k, v in sorted(value.items())}


def _size(value: Any) -> str:
    try:
        size = parse_size(value)
    except ValueError as exc:
        raise ValueError(str(exc)) from None
    if size <= 0:
        raise ValueError("must be greater than 0")
    return nz.canonical_size(size)


def _check(pattern: re.Pattern[str], value: str, what: str) -> str:
    if not pattern.match(value):
        raise ValueError(f"{value!r} is not {what}")
    return value


DiskSlot = Annotated[
    str, AfterValidator(lambda v: _check(VM_DISK_SLOT, v, "a disk slot such as scsi0, virtio1, sata0"))
]
NetSlot = Annotated[str, AfterValidator(lambda v: _check(NET_SLOT, v, "a NIC slot such as net0"))]
MountSlot = Annotated[str, AfterValidator(lambda v: _check(MP_SLOT, v, "a mount point slot such as mp0"))]
Size = Annotated[str, BeforeValidator(lambda v: _size(v))]
Options = Annotated[dict[str, str], BeforeValidator(lambda v: _options(v))]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class VmDisk(_Strict):
    """A VM disk: `{slot: scsi0, storage: local-lvm, size: 32G, options: {ssd: 1}}`."""

    slot: DiskSlot
    storage: str
    size: Size
    options: Options = Field(default_factory=dict)

    @field_validator("options")
    @classmethod
    def _no_reserved(cls, value: dict[str, str]) -> dict[str, str]:
        for key in ("size", "file", "media"):
            if key in value:
                raise ValueError(f"`{key}` is not an option here")
        return value


class VmNetwork(_Strict):
    """A VM NIC: `{slot: net0, model: virtio, bridge: vmbr0, tag: 20}`; macaddr PVE generates if absent."""

    slot: NetSlot
    model: str = "virtio"
    bridge: str | None = None
    tag: int | None = Field(None, ge=1, le=4094)
    firewall: bool | None = None
    macaddr: str | None = None
    options: Options = Field(default_factory=dict)

    @field_validator("model")
    @classmethod
    def _model(cls, value: str) -> str:
        if value not in QEMU_NIC_MODELS:
            raise ValueError(f"unknown NIC model {value!r} (known: {', '.join(sorted(QEMU_NIC_MODELS))})")
        return value

    @field_validator("macaddr")
    @classmethod
    def _mac(cls, value: str | None) -> str | None:
        if value is not None and not MAC_RE.match(value):
            raise ValueError("must be a MAC address such as BC:24:11:00:00:01")
        return value.upper() if value else value


class CloudInit(_Strict):
    """Cloud-init settings of a VM (ciuser, sshkeys, ipconfig0, DNS) and its drive."""

    drive: DiskSlot = "ide2"
    storage: str | None = None
    user: str | None = None
    ssh_keys: list[str] | None = None
    ip: str | None = None
    gw: str | None = None
    ip6: str | None = None
    gw6: str | None = None
    nameserver: str | None = None
    searchdomain: str | None = None

    @field_validator("ssh_keys")
    @classmethod
    def _keys(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        return [line.strip() for key in value for line in str(key).splitlines() if line.strip()]

    @model_validator(mode="after")
    def _gateways(self) -> CloudInit:
        if self.gw and not self.ip:
            raise ValueError("gw needs ip")
        if self.gw6 and not self.ip6:
            raise ValueError("gw6 needs ip6")
        return self


class Clone(_Strict):
    """Create by cloning: `{from: ubuntu-tmpl, full: true}` (a name or a VMID); used on create only."""

    source: str = Field(alias="from")
    full: bool = True
    storage: str | None = None

    @field_validator("source", mode="before")
    @classmethod
    def _text(cls, value: Any) -> str:
        return str(value)


class CtRootfs(_Strict):
    """A container's root disk: `{storage: local-lvm, size: 8G}`."""

    storage: str
    size: Size
    options: Options = Field(default_factory=dict)


class CtMount(_Strict):
    """A container mount point: a volume (`storage` + `size`) or a bind mount (`source`), at `path`."""

    slot: MountSlot
    path: str
    storage: str | None = None
    size: Size | None = None
    source: str | None = None
    options: Options = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_kind(self) -> CtMount:
        if (self.storage is None) == (self.source is None):
            raise ValueError("give either storage (a volume) or source (a host path to bind-mount)")
        if self.storage is not None and self.size is None:
            raise ValueError("a volume mount point needs size")
        if self.source is not None and (self.size is not None or not self.source.startswith("/")):
            raise ValueError("a bind mount takes an absolute host path as source and no size")
        return self


class CtNetwork(_Strict):
    """A container NIC: `{slot: net0, name: eth0, bridge: vmbr0, ip: dhcp}`; hwaddr generated if absent."""

    slot: NetSlot
    name: str = "eth0"
    bridge: str | None = None
    ip: str | None = None
    gw: str | None = None
    ip6: str | None = None
    gw6: str | None = None
    tag: int | None = Field(None, ge=1, le=4094)
    firewall: bool | None = None
    hwaddr: str | None = None
    options: Options = Field(default_factory=dict)

    @field_validator("hwaddr")
    @classmethod
    def _mac(cls, value: str | None) -> str | None:
        if value is not None and not MAC_RE.match(value):
            raise ValueError("must be a MAC address such as BC:24:11:00:00:01")
        return value.upper() if value else value


def _tags(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        raise ValueError("must be a list of tags")
    tags = nz.split_tag_text([str(v) for v in value])
    for tag in tags:
        if not re.fullmatch(r"[a-z0-9_][a-z0-9_\-+.]*", tag):
            raise ValueError(f"invalid tag {tag!r}: letters, digits, _ - + . only")
    return tags


def _config(value: Any) -> dict[str, ConfigValue]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError("must be a mapping of Proxmox key: value")
    result: dict[str, ConfigValue] = {}
    for key, val in sorted(value.items(), key=lambda kv: str(kv[0])):
        key = str(key)
        if not re.fullmatch(r"[a-z][a-z0-9_\-]*", key):
            raise ValueError(f"{key!r} is not a Proxmox config key")
        if key in nz.VOLATILE_KEYS:
            raise ValueError(f"{key!r} is managed by Proxmox itself and cannot be set")
        if isinstance(val, list | dict):
            raise ValueError(f"{key}: must be a single value (Proxmox writes lists as text)")
        result[key] = scalar(val)
    return result


def _mib(value: Any) -> Any:
    """Take `2048` (MiB, as Proxmox counts memory) or a size with a unit, `2G`, `512M`, as disks do."""
    if not isinstance(value, str) or re.fullmatch(r"\s*\d+\s*", value):
        return value
    size = parse_size(value)  # ValueError: the manifest error names the field and the line
    if size % 1024**2:
        raise ValueError(f"{value!r} is not a whole number of MiB")
    return size // 1024**2


Mib = Annotated[int | None, BeforeValidator(_mib)]


class _Spec(_Strict):
    cores: int | None = Field(None, ge=1, le=8192)
    memory: Mib = Field(None, ge=16, le=MAX_MEMORY_MIB, description="MiB, or a size: 2G")
    os_type: str | None = None
    onboot: bool | None = None
    protection: bool | None = None
    description: str | None = None
    tags: Annotated[list[str] | None, BeforeValidator(lambda v: _tags(v))] = None
    state: PowerState | None = None
    template: bool | None = None
    pool: str | None = None
    clone: Clone | None = None
    config: Annotated[dict[str, ConfigValue], BeforeValidator(lambda v: _config(v))] = Field(
        default_factory=dict
    )


class VmSpec(_Spec):
    """What a VM should be."""

    sockets: int | None = Field(None, ge=1, le=64)
    cpu: str | None = None
    agent: bool | None = None
    disks: list[VmDisk] | None = None
    networks: list[VmNetwork] | None = None
    cloud_init: CloudInit | None = None

    @model_validator(mode="after")
    def _consistent(self) -> VmSpec:
        if self.disks is not None:
            self.disks = sorted(self.disks, key=lambda d: _slot_order(d.slot))
        if self.networks is not None:
            self.networks = sorted(self.networks, key=lambda n: _slot_order(n.slot))
        _unique("disks", [d.slot for d in self.disks or []])
        _unique("networks", [n.slot for n in self.networks or []])
        taken = {"name", *_set_keys(self, VM_FIELD_KEYS)}
        taken |= {d.slot for d in self.disks or []} | {n.slot for n in self.networks or []}
        if self.cloud_init is not None:
            taken |= {self.cloud_init.drive, "ciuser", "sshkeys", "ipconfig0", "nameserver", "searchdomain"}
            if self.cloud_init.drive in {d.slot for d in self.disks or []}:
                raise ValueError(f"cloud_init.drive {self.cloud_init.drive} is also a disk slot")
        _no_overlap(self.config, taken, "VM")
        return self


class CtSpec(_Spec):
    """What a container should be."""

    swap: Mib = Field(None, ge=0, le=MAX_MEMORY_MIB)
    unprivileged: bool | None = None
    ostemplate: str | None = None
    ssh_keys: list[str] | None = None
    rootfs: CtRootfs | None = None
    mounts: list[CtMount] | None = None
    networks: list[CtNetwork] | None = None
    nameserver: str | None = None
    searchdomain: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> CtSpec:
        if self.mounts is not None:
            self.mounts = sorted(self.mounts, key=lambda m: _slot_order(m.slot))
        if self.networks is not None:
            self.networks = sorted(self.networks, key=lambda n: _slot_order(n.slot))
        _unique("mounts", [m.slot for m in self.mounts or []])
        _unique("networks", [n.slot for n in self.networks or []])
        taken = {"hostname", *_set_keys(self, CT_FIELD_KEYS)}
        taken |= {m.slot for m in self.mounts or []} | {n.slot for n in self.networks or []}
        _no_overlap(self.config, taken, "CT")
        return self


def _set_keys(spec: BaseModel, keys: Mapping[str, str]) -> set[str]:
    return {key for attr, key in keys.items() if getattr(spec, attr) is not None}


def _unique(field: str, slots: list[str]) -> None:
    seen: set[str] = set()
    for slot in slots:
        if slot in seen:
            raise ValueError(f"{field}: slot {slot} is given twice")
        seen.add(slot)


def _no_overlap(config: Mapping[str, Any], taken: set[str], kind: str) -> None:
    both = sorted(set(config) & taken)
    if both:
        raise ValueError(
            f"config: {', '.join(both)} set both here and by a structured field of the {kind} spec"
        )


# What `lifecycle.ignore_changes` may name besides a Proxmox config key: the spec's structured fields.
LIFECYCLE_FIELDS = frozenset(
    {
        "node",
        "state",
        "pool",
        "disks",
        "networks",
        "mounts",
        "rootfs",
        "cloud_init",
        "os_type",
        "config",
        *_COMMON_FIELD_KEYS,
        *VM_FIELD_KEYS,
        *CT_FIELD_KEYS,
    }
)


class Lifecycle(_Strict):
    """`lifecycle:` beside `spec:`, as terraform's block: what pmpc may destroy, back up first, or leave alone."""

    prevent_destroy: bool = False
    allow_destroy: bool = False
    backup_before_destroy: str | None = None
    ignore_changes: list[str] = Field(default_factory=list)

    @field_validator("ignore_changes")
    @classmethod
    def _known(cls, value: list[str]) -> list[str]:
        for name in value:
            key = name.removeprefix("config.")
            if name not in LIFECYCLE_FIELDS and not re.fullmatch(r"[a-z][a-z0-9_\-]*", key):
                raise ValueError(f"{name!r} is neither a spec field nor a Proxmox config key")
        return value

    @field_validator("backup_before_destroy")
    @classmethod
    def _storage(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z][A-Za-z0-9\-_.]*[A-Za-z0-9]", value):
            raise ValueError(f"{value!r} is not a storage name")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Lifecycle:
        if self.prevent_destroy and self.allow_destroy:
            raise ValueError("prevent_destroy and allow_destroy contradict each other")
        return self


class _Manifest(_Strict):
    name: str
    node: str
    vmid: int | None = Field(None, ge=100, le=999999999)
    lifecycle: Lifecycle | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME_RE.match(value) or len(value) > MAX_NAME_LENGTH:
            raise ValueError(
                f"must be a DNS name: letters, digits, - and . (at most {MAX_NAME_LENGTH} characters)"
            )
        return value

    @property
    def type(self) -> str:
        """Return the Proxmox guest type: qemu or lxc."""
        return KIND_TO_TYPE[self.kind]  # type: ignore[attr-defined,no-any-return]

    @property
    def address(self) -> str:
        """Return the plan address: `vm/web-1`, `ct/dns-1`."""
        return f"{KIND_PREFIX[self.kind]}/{self.name}"  # type: ignore[attr-defined]


class VmManifest(_Manifest):
    """A VM manifest."""

    kind: Literal["VM"] = "VM"
    spec: VmSpec = Field(default_factory=VmSpec)


class CtManifest(_Manifest):
    """A container manifest."""

    kind: Literal["CT"] = "CT"
    spec: CtSpec = Field(default_factory=CtSpec)


Manifest = Annotated[VmManifest | CtManifest, Field(discriminator="kind")]
AnyManifest = VmManifest | CtManifest


# ----------------------------------------------------------------------------- to Proxmox


def _bool(value: bool | None) -> int | None:
    return None if value is None else int(value)


def _disk_value(
    storage: str, size: str, options: Mapping[str, str], extra: Mapping[str, str] | None = None
) -> str:
    head = f"{storage}:{nz.gib_text(parse_size(size))}"
    return nz.join_props(head, {**options, **(extra or {})})


def _vm_net_value(net: VmNetwork) -> str:
    props: dict[str, Any] = dict(net.options)
    if net.bridge is not None:
        props["bridge"] = net.bridge
    if net.tag is not None:
        props["tag"] = net.tag
    if net.firewall is not None:
        props["firewall"] = int(net.firewall)
    head = f"{net.model}={net.macaddr}" if net.macaddr else net.model
    return nz.join_props(head, props)


def _ct_net_value(net: CtNetwork) -> str:
    props: dict[str, Any] = dict(net.options)
    props["name"] = net.name
    for key in ("bridge", "ip", "gw", "ip6", "gw6", "tag", "hwaddr"):
        if getattr(net, key) is not None:
            props[key] = getattr(net, key)
    if net.firewall is not None:
        props["firewall"] = int(net.firewall)
    return nz.join_props(None, props)


def _ipconfig(ci: CloudInit) -> str | None:
    props = {k: getattr(ci, k) for k in ("ip", "gw", "ip6", "gw6") if getattr(ci, k) is not None}
    return nz.join_props(None, props) if props else None


def manifest_to_config(manifest: AnyManifest) -> dict[str, ConfigValue]:
    """Return the Proxmox config a manifest asks for: only the keys it manages (None = delete the key).

    Disks and mount points use PVE's create syntax (`local-lvm:32` for 32 GiB); `normalize`
    compares them with the stored form (`local-lvm:vm-101-disk-0,size=32G`).
    """
    config: dict[str, ConfigValue] = {}
    spec = manifest.spec
    common: dict[str, Any] = {
        "cores": spec.cores,
        "memory": spec.memory,
        "ostype": spec.os_type,
        "onboot": _bool(spec.onboot),
        "protection": _bool(spec.protection),
        "description": spec.description,
        "template": _bool(spec.template),
    }
    if spec.tags is not None:
        common["tags"] = ";".join(spec.tags)
    if isinstance(manifest, VmManifest):
        vm = manifest.spec
        config["name"] = manifest.name
        common.update(sockets=vm.sockets, cpu=vm.cpu, agent=_bool(vm.agent))
        for disk in vm.disks or []:
            config[disk.slot] = _disk_value(disk.storage, disk.size, disk.options)
        for net in vm.networks or []:
            config[net.slot] = _vm_net_value(net)
        ci = vm.cloud_init
        if ci is not None:
            config[ci.drive] = f"{ci.storage}:cloudinit" if ci.storage else "cloudinit"
            common.update(
                ciuser=ci.user,
                nameserver=ci.nameserver,
                searchdomain=ci.searchdomain,
                ipconfig0=_ipconfig(ci),
            )
            if ci.ssh_keys is not None:
                common["sshkeys"] = "\n".join(ci.ssh_keys)
    else:
        ct = manifest.spec
        config["hostname"] = manifest.name
        common.update(
            swap=ct.swap,
            unprivileged=_bool(ct.unprivileged),
            nameserver=ct.nameserver,
            searchdomain=ct.searchdomain,
        )
        if ct.rootfs is not None:
            config["rootfs"] = _disk_value(ct.rootfs.storage, ct.rootfs.size, ct.rootfs.options)
        for mount in ct.mounts or []:
            if mount.source is not None:
                config[mount.slot] = nz.join_props(mount.source, {**mount.options, "mp": mount.path})
            else:
                assert mount.storage is not None and mount.size is not None
                config[mount.slot] = _disk_value(mount.storage, mount.size, mount.options, {"mp": mount.path})
        for ct_net in ct.networks or []:
            config[ct_net.slot] = _ct_net_value(ct_net)
    config.update({k: v for k, v in common.items() if v is not None})
    config.update(spec.config)
    return config


def managed_keys(manifest: AnyManifest, observed: Mapping[str, Any]) -> set[str]:
    """Return the keys a manifest owns: what it sets, plus the observed members of each family it lists.

    A family is authoritative when its list is given: VM disks (not CD-ROMs), NICs, container mount
    points; an observed key of such a family that the manifest leaves out is to be deleted.
    """
    kind = manifest.type
    keys = set(manifest_to_config(manifest))
    spec = manifest.spec
    for key, value in observed.items():
        if key in keys or key in nz.VOLATILE_KEYS:
            continue
        if nz.NET_RE.match(key) and spec.networks is not None:
            keys.add(key)
        elif kind == "qemu" and isinstance(spec, VmSpec):
            disk = bool(nz.QEMU_DISK_RE.match(key))
            owned_disk = disk and not nz.is_cdrom(value) and spec.disks is not None
            owned_ci = spec.cloud_init is not None and bool(
                key in nz.CLOUDINIT_KEYS
                or nz.IPCONFIG_RE.match(key)
                or (disk and nz.is_cloudinit_drive(value))
            )
            if owned_disk or owned_ci:
                keys.add(key)
        elif kind == "lxc" and isinstance(spec, CtSpec) and MP_SLOT.match(key) and spec.mounts is not None:
            keys.add(key)
    return keys


def ignores_change(manifest: AnyManifest, key: str) -> bool:
    """Return True when `lifecycle.ignore_changes` leaves a plan field (config key or pseudo-field) alone."""
    if manifest.lifecycle is None or not manifest.lifecycle.ignore_changes:
        return False
    names = set(manifest.lifecycle.ignore_changes)
    if key in names or f"config.{key}" in names:
        return True
    owners = {attr for attr, k in {**VM_FIELD_KEYS, **CT_FIELD_KEYS}.items() if k == key}
    if owners & names:
        return True
    if "config" in names and key in manifest.spec.config:
        return True
    if "networks" in names and nz.NET_RE.match(key):
        return True
    if manifest.type == "qemu":
        if "disks" in names and nz.QEMU_DISK_RE.match(key):
            return True
        if "cloud_init" in names and (key in nz.CLOUDINIT_KEYS or nz.IPCONFIG_RE.match(key)):
            return True
    else:
        if "mounts" in names and MP_SLOT.match(key):
            return True
        if "rootfs" in names and key == "rootfs":
            return True
    return False


# ----------------------------------------------------------------------------- from Proxmox


def _props_to_options(props: Mapping[str, str], skip: tuple[str, ...] = ()) -> dict[str, str]:
    return {
        k.removeprefix("opt:"): v
        for k, v in sorted(props.items())
        if k.startswith("opt:") and k[4:] not in skip
    }


def _import_disk(slot: str, value: Any) -> VmDisk | None:
    disk = nz.parse_disk(value)
    if "storage" not in disk or "size" not in disk:
        return None
    return VmDisk(slot=slot, storage=disk["storage"], size=disk["size"], options=_props_to_options(disk))


def _import_vm_net(slot: str, value: Any) -> VmNetwork | None:
    canon = nz.canonical("qemu", slot, value)
    if not isinstance(canon, dict) or canon.get("model") not in QEMU_NIC_MODELS:
        return None
    rest = {k: v for k, v in canon.items() if k not in ("model", "macaddr", "bridge", "tag", "firewall")}
    tag = canon.get("tag")
    if tag is not None and not (tag.isdigit() and 1 <= int(tag) <= 4094):
        return None
    return VmNetwork(
        slot=slot,
        model=canon["model"],
        macaddr=canon.get("macaddr"),
        bridge=canon.get("bridge"),
        tag=int(tag) if tag else None,
        firewall=True if canon.get("firewall") == "1" else None,
        options=rest,
    )


def _import_ct_net(slot: str, value: Any) -> CtNetwork | None:
    canon = nz.canonical("lxc", slot, value)
    if not isinstance(canon, dict) or "name" not in canon:
        return None
    fields = ("name", "bridge", "ip", "gw", "ip6", "gw6", "tag", "firewall", "hwaddr")
    tag = canon.get("tag")
    if tag is not None and not (tag.isdigit() and 1 <= int(tag) <= 4094):
        return None
    rest = {k: v for k, v in canon.items() if k not in fields}
    known = {k: canon[k] for k in ("name", "bridge", "ip", "gw", "ip6", "gw6", "hwaddr") if k in canon}
    return CtNetwork(
        slot=slot,
        tag=int(tag) if tag else None,
        firewall=True if canon.get("firewall") == "1" else None,
        options=rest,
        **known,
    )


def _import_mount(slot: str, value: Any) -> CtMount | None:
    disk = nz.parse_disk(value)
    path = disk.get("opt:mp")
    if not path:
        return None
    options = _props_to_options(disk, skip=("mp",))
    if "source" in disk:
        return CtMount(slot=slot, path=path, source=disk["source"], options=options)
    if "size" not in disk:
        return None
    return CtMount(slot=slot, path=path, storage=disk["storage"], size=disk["size"], options=options)


def _import_cloud_init(config: dict[str, Any], drive: str | None) -> CloudInit | None:
    keys = ("ciuser", "sshkeys", "ipconfig0", "nameserver", "searchdomain")
    if drive is None and not any(k in config for k in ("ciuser", "sshkeys", "ipconfig0")):
        return None
    ipconfig = nz.canonical("qemu", "ipconfig0", config.get("ipconfig0")) or {}
    if set(ipconfig) - {"ip", "gw", "ip6", "gw6"}:
        return None
    storage = None
    if drive is not None:
        storage, _ = nz.split_volume(str(nz.split_props(config[drive])[0] or ""))
    ci = CloudInit(
        drive=drive or "ide2",
        storage=storage,
        user=config.get("ciuser"),
        ssh_keys=nz.decode_ssh_keys(config["sshkeys"]) if config.get("sshkeys") else None,
        nameserver=config.get("nameserver"),
        searchdomain=config.get("searchdomain"),
        **ipconfig,
    )
    for key in keys:
        config.pop(key, None)
    if drive is not None:
        config.pop(drive, None)
    return ci


def _int(value: Any) -> int | None:
    text = nz.int_text(value)
    return int(text) if SIMPLE_VALUE.match(text) else None


def _flag(value: Any) -> bool | None:
    text = nz.bool_text(value)
    return {"1": True, "0": False}.get(text)


def manifest_from_config(
    kind: str,
    name: str,
    node: str,
    vmid: int | None,
    config: Mapping[str, Any],
    *,
    state: str | None = None,
    pool: str | None = None,
    template: bool | None = None,
) -> AnyManifest:
    """Build the manifest of a guest from its Proxmox config (kind: VM|CT or qemu|lxc).

    Keys the structured fields do not cover go to `config:` unchanged; volatile keys (digest,
    lock, generated identities, secrets) are left out.
    """
    kind = TYPE_TO_KIND.get(kind, kind)
    # PVE (and the state store) mask secrets as "**********": never a value to import.
    rest: dict[str, Any] = {
        k: v for k, v in config.items() if k not in nz.VOLATILE_KEYS and v is not None and v != MASKED
    }
    guest_type = KIND_TO_TYPE[kind]

    def take(key: str) -> Any:
        return rest.pop(key, None)

    def take_int(key: str) -> int | None:
        value = rest.get(key)
        number = _int(value) if value is not None else None
        if number is not None:
            rest.pop(key)
        return number

    def take_flag(key: str) -> bool | None:
        value = rest.get(key)
        flag = _flag(value) if value is not None else None
        if flag is not None:
            rest.pop(key)
        return flag

    tags_raw = take("tags")
    spec: dict[str, Any] = {
        "cores": take_int("cores"),
        "os_type": take("ostype"),
        "onboot": take_flag("onboot"),
        "protection": take_flag("protection"),
        "description": take("description"),
        "tags": nz.split_tag_text(tags_raw) if tags_raw is not None else [],
        "state": state,
        "pool": pool,
    }
    memory = rest.get("memory")
    if memory is not None and isinstance(nz.canonical(guest_type, "memory", memory), str):
        mem = _int(nz.canonical(guest_type, "memory", memory))
        if mem is not None and mem >= 16:
            spec["memory"] = mem
            rest.pop("memory")
    flag = take_flag("template")
    spec["template"] = template if template is not None else flag
    if kind == "VM":
        rest.pop("name", None)
        spec["sockets"] = take_int("sockets")
        spec["cpu"] = take("cpu")
        agent = nz.canonical("qemu", "agent", rest["agent"]) if "agent" in rest else None
        if isinstance(agent, dict) and set(agent) == {"enabled"}:
            spec["agent"] = agent["enabled"] == "1"
            rest.pop("agent")
        disks, nets, ci_drive = [], [], None
        for key in sorted(rest, key=_slot_order):
            value = rest[key]
            if nz.QEMU_DISK_RE.match(key):
                if nz.is_cloudinit_drive(value) and ci_drive is None:
                    ci_drive = key
                elif not nz.is_cdrom(value):
                    disk = _import_disk(key, value)
                    if disk is not None:
                        disks.append(disk)
                        rest.pop(key)
            elif nz.NET_RE.match(key):
                net = _import_vm_net(key, value)
                if net is not None:
                    nets.append(net)
                    rest.pop(key)
        spec["disks"] = disks
        spec["networks"] = nets
        spec["cloud_init"] = _import_cloud_init(rest, ci_drive)
    else:
        rest.pop("hostname", None)
        spec["swap"] = take_int("swap")
        spec["unprivileged"] = take_flag("unprivileged")
        if spec["unprivileged"] is None:
            spec["unprivileged"] = False
        spec["nameserver"] = take("nameserver")
        spec["searchdomain"] = take("searchdomain")
        if "rootfs" in rest:
            root = nz.parse_disk(rest["rootfs"])
            if "storage" in root and "size" in root:
                spec["rootfs"] = CtRootfs(
                    storage=root["storage"], size=root["size"], options=_props_to_options(root)
                )
                rest.pop("rootfs")
        mounts, nets_ct = [], []
        for key in sorted(rest, key=_slot_order):
            value = rest[key]
            if MP_SLOT.match(key):
                mount = _import_mount(key, value)
                if mount is not None:
                    mounts.append(mount)
                    rest.pop(key)
            elif nz.NET_RE.match(key):
                net_ct = _import_ct_net(key, value)
                if net_ct is not None:
                    nets_ct.append(net_ct)
                    rest.pop(key)
        spec["mounts"] = mounts
        spec["networks"] = nets_ct
    spec["config"] = {k: scalar(v) for k, v in rest.items() if not k.startswith("unused")}
    data = {
        "kind": kind,
        "name": name,
        "node": node,
        "vmid": vmid,
        "spec": {k: v for k, v in spec.items() if v is not None},
    }
    model: type[AnyManifest] = VmManifest if kind == "VM" else CtManifest
    return model.model_validate(data)


def _slot_order(key: str) -> tuple[str, int]:
    match = re.fullmatch(r"(\D+)(\d+)", key)
    return (match.group(1), int(match.group(2))) if match else (key, -1)


def manifest_to_document(manifest: AnyManifest) -> dict[str, Any]:
    """Return a manifest as the YAML document pmpc writes: absent fields left out, `clone.from` spelled so."""
    data = manifest.model_dump(mode="json", by_alias=True, exclude_none=True)
    spec = data.get("spec", {})
    for key in ("config",):
        if not spec.get(key):
            spec.pop(key, None)
    for item in spec.get("disks", []) + spec.get("networks", []) + spec.get("mounts", []):
        if not item.get("options"):
            item.pop("options", None)
    if isinstance(spec.get("rootfs"), dict) and not spec["rootfs"].get("options"):
        spec["rootfs"].pop("options", None)
    ordered = {"kind": data["kind"], "name": data["name"], "node": data["node"]}
    if data.get("vmid") is not None:
        ordered["vmid"] = data["vmid"]
    if data.get("lifecycle"):
        ordered["lifecycle"] = data["lifecycle"]
    rank = {name: index for index, name in enumerate(SPEC_ORDER)}
    ordered["spec"] = dict(sorted(spec.items(), key=lambda kv: rank.get(kv[0], len(rank))))
    return ordered


SPEC_ORDER = (
    "template",
    "clone",
    "ostemplate",
    "unprivileged",
    "cores",
    "sockets",
    "cpu",
    "memory",
    "swap",
    "os_type",
    "agent",
    "disks",
    "rootfs",
    "mounts",
    "networks",
    "cloud_init",
    "nameserver",
    "searchdomain",
    "ssh_keys",
    "tags",
    "pool",
    "onboot",
    "protection",
    "description",
    "state",
    "config",
)
