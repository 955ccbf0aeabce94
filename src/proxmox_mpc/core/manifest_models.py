"""Manifest models: the desired state of one guest (pydantic); core/manifest.py maps them to and from Proxmox config.

A manifest is `kind: VM|CT`, `name`, `node`, optional `vmid`, and a `spec` with structured fields for
the common settings plus `config:`, passed through verbatim for any other Proxmox key. The models
check what PVE's schema would refuse (names, sizes, slots, MACs, memory bounds) with the field's
location, so a bad manifest is one `FILE:LINE:COLUMN` sentence before any request. Absent (None)
structured fields are unmanaged; a list that is given (disks, networks, mounts, tags) is the whole
truth for its family of keys.
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
from proxmox_mpc.core.identity import prefix
from proxmox_mpc.core.modeling import Model
from proxmox_mpc.core.pveconfig import QEMU_NIC_MODELS, parse_size

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


class _Strict(Model):
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


_TAG = re.compile(r"[a-z0-9_][a-z0-9_\-+.]*")
_CONFIG_KEY = re.compile(r"[a-z][a-z0-9_\-]*")


def _tags(value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        raise ValueError("must be a list of tags")
    tags = nz.split_tag_text([str(v) for v in value])
    for tag in tags:
        if not _TAG.fullmatch(tag):
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
        if not _CONFIG_KEY.fullmatch(key):
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
    def address(self) -> str:
        """Return the plan address: `vm/web-1`, `ct/dns-1`."""
        return f"{prefix(self.kind)}/{self.name}"  # type: ignore[attr-defined]


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


def _slot_order(key: str) -> tuple[str, int]:
    order = _SLOT_ORDERS.get(key)
    if order is None:
        match = _SLOT.fullmatch(key)
        order = (match.group(1), int(match.group(2))) if match else (key, -1)
        if len(_SLOT_ORDERS) < 4096:  # config keys and slots: a few hundred names at most
            _SLOT_ORDERS[key] = order
    return order


_SLOT = re.compile(r"(\D+)(\d+)")
_SLOT_ORDERS: dict[str, tuple[str, int]] = {}
