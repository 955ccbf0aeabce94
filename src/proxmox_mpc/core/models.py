"""Domain models shared by services, output and the state store (pydantic, JSON keys snake_case)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, PlainSerializer, computed_field

from proxmox_mpc.core.identity import ApiType, GuestKind, api_type, guest_kind, is_api_guest_type
from proxmox_mpc.core.modeling import Model


def rfc3339(moment: datetime) -> str:
    """Return `2026-12-06T02:22:36Z`: UTC, whole seconds, the one spelling of a time in pmpc's JSON."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# Every time in a JSON/YAML model: RFC 3339 in UTC (`2026-12-06T02:22:36Z`).
UtcTime = Annotated[datetime, PlainSerializer(rfc3339, return_type=str, when_used="json")]

# The state store keeps numbers as BIGINT: a value beyond it (10**30 bytes of memory from a broken
# API) is held at the limit rather than ending a sync in OverflowError.
INT64_MAX = 2**63 - 1


def to_int(value: Any, default: int = 0) -> int:
    """Return an int from PVE's numbers (strings or floats), held within a signed 64-bit integer."""
    try:
        number = int(value) if isinstance(value, int) else int(str(value).strip())
    except (TypeError, ValueError):
        try:
            number = int(float(value))
        except (TypeError, ValueError, OverflowError):
            return default
    return max(-INT64_MAX - 1, min(INT64_MAX, number))


def to_float(value: Any, default: float = 0.0) -> float:
    """Return a float from PVE's numbers, which may arrive as strings."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


class Node(Model):
    """A cluster node as `pmpc node list` shows it."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["node"] = "node"
    name: str
    status: str
    cpu_usage: float = 0.0
    cpus: int = 0
    memory_used: int = 0
    memory_total: int = 0
    disk_used: int = 0
    disk_total: int = 0
    uptime: int = 0
    ssl_fingerprint: str | None = None

    @classmethod
    def from_api(cls, raw: dict[str, Any]) -> Node:
        """Build from an entry of GET /nodes or /cluster/resources?type=node."""
        return cls(
            name=str(raw.get("node") or raw.get("name") or ""),
            status=str(raw.get("status") or "unknown"),
            cpu_usage=to_float(raw.get("cpu")),
            cpus=to_int(raw.get("maxcpu")),
            memory_used=to_int(raw.get("mem")),
            memory_total=to_int(raw.get("maxmem")),
            disk_used=to_int(raw.get("disk")),
            disk_total=to_int(raw.get("maxdisk")),
            uptime=to_int(raw.get("uptime")),
            ssl_fingerprint=raw.get("ssl_fingerprint"),
        )


class Storage(Model):
    """A storage as one node sees it."""

    kind: Literal["storage"] = "storage"
    name: str
    node: str
    type: str = ""
    content: list[str] = Field(default_factory=list)
    active: bool = True
    enabled: bool = True
    shared: bool = False
    used: int = 0
    total: int = 0
    available: int = 0

    @property
    def usage(self) -> float:
        return self.used / self.total if self.total else 0.0

    @classmethod
    def from_api(cls, node: str, raw: dict[str, Any]) -> Storage:
        """Build from an entry of GET /nodes/{node}/storage."""
        content = raw.get("content") or ""
        return cls(
            name=str(raw.get("storage") or raw.get("name") or ""),
            node=node,
            type=str(raw.get("type") or ""),
            content=sorted(c for c in str(content).split(",") if c),
            active=bool(to_int(raw.get("active", 1))),
            enabled=bool(to_int(raw.get("enabled", 1))),
            shared=bool(to_int(raw.get("shared", 0))),
            used=to_int(raw.get("used")),
            total=to_int(raw.get("total")),
            available=to_int(raw.get("avail")),
        )


class GuestCounts(Model):
    """How many guests of each kind and power state live somewhere."""

    vms: int = 0
    vms_running: int = 0
    cts: int = 0
    cts_running: int = 0
    templates: int = 0


class NodeDescription(Model):
    """Everything `pmpc node describe` shows about one node."""

    kind: Literal["node"] = "node"
    name: str
    status: str
    pve_version: str | None = None
    kernel: str | None = None
    cpu_model: str | None = None
    cpus: int = 0
    sockets: int = 0
    cpu_usage: float = 0.0
    load_average: list[float] = Field(default_factory=list)
    memory_used: int = 0
    memory_total: int = 0
    swap_used: int = 0
    swap_total: int = 0
    rootfs_used: int = 0
    rootfs_total: int = 0
    uptime: int = 0
    storages: list[Storage] = Field(default_factory=list)
    guests: GuestCounts = Field(default_factory=GuestCounts)


def count_guests(resources: list[dict[str, Any]], node: str | None = None) -> GuestCounts:
    """Count guests by kind and power state in /cluster/resources entries (optionally of one node)."""
    counts = GuestCounts()
    for res in resources:
        if not is_api_guest_type(res.get("type")) or (node and res.get("node") != node):
            continue
        if to_int(res.get("template")):
            counts.templates += 1
            continue
        running = res.get("status") == "running"
        if guest_kind(res["type"]) == "vm":
            counts.vms += 1
            counts.vms_running += running
        else:
            counts.cts += 1
            counts.cts_running += running
    return counts


def split_tags(raw: Any) -> list[str]:
    """Return PVE's tag string (`;`, `,` or space separated) as a sorted, lower-cased, unique list."""
    if raw is None:
        return []
    if isinstance(raw, list | tuple):
        items = [str(t) for t in raw]
    else:
        items = str(raw).replace(",", ";").replace(" ", ";").split(";")
    return sorted({t.strip().lower() for t in items if t.strip()})


class BaseGuest(Model):
    """What every view of a guest shares: who it is, where it runs, its power state and its sizes.

    The listing (`Guest`), the observation (`ObservedGuest`), the stored row (`state.store.GuestRecord`)
    and `describe`'s `GuestDescription` are this model plus what their view adds. It speaks pmpc's
    `kind` (vm/ct); PVE's qemu/lxc is `type`, derived for the API edge and JSON output only.
    """

    kind: GuestKind
    vmid: int
    name: str
    node: str
    status: str = "unknown"
    template: bool = False
    tags: list[str] = Field(default_factory=list)
    pool: str | None = None
    lock: str | None = None
    cpus: float = 0
    memory: int = 0
    disk_size: int = 0

    @computed_field  # type: ignore[prop-decorator]
    @property
    def type(self) -> ApiType:
        """Return PVE's word for the kind (`qemu`, `lxc`): for API paths, and kept in JSON output."""
        return api_type(self.kind)

    @property
    def ref(self) -> str:
        """Return `vm/101` or `ct/201`."""
        return f"{self.kind}/{self.vmid}"

    @staticmethod
    def resource_fields(raw: Mapping[str, Any]) -> dict[str, Any]:
        """Return the shared fields of a `type=qemu|lxc` entry of GET /cluster/resources.

        Raises:
            ValueError: the entry is not a guest.
        """
        kind = guest_kind(str(raw.get("type")))
        vmid = to_int(raw.get("vmid")) or to_int(str(raw.get("id", "")).rpartition("/")[2])
        return {
            "kind": kind,
            "vmid": vmid,
            "name": str(raw.get("name") or f"{kind}-{vmid}"),
            "node": str(raw.get("node") or ""),
            "status": str(raw.get("status") or "unknown"),
            "template": bool(to_int(raw.get("template"))),
            "tags": split_tags(raw.get("tags")),
            "pool": raw.get("pool") or None,
            "lock": raw.get("lock") or None,
            "cpus": to_float(raw.get("maxcpu")),
            "memory": to_int(raw.get("maxmem")),
            "disk_size": to_int(raw.get("maxdisk")),
        }


class Guest(BaseGuest):
    """A VM or container as /cluster/resources lists it (one request for the whole cluster), with its usage."""

    cpu_usage: float = 0.0
    memory_used: int = 0
    uptime: int = 0
    ha_state: str | None = None

    @classmethod
    def from_resource(cls, raw: dict[str, Any]) -> Guest:
        """Build from a `type=qemu|lxc` entry of GET /cluster/resources.

        Raises:
            ValueError: the entry is not a guest.
        """
        return cls(
            **cls.resource_fields(raw),
            cpu_usage=to_float(raw.get("cpu")),
            memory_used=to_int(raw.get("mem")),
            uptime=to_int(raw.get("uptime")),
            ha_state=raw.get("hastate") or None,
        )


class ObservedGuest(BaseGuest):
    """A guest with its config, as one observation read it (or the last sync stored it): what plan and sync compare."""

    digest: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    # Keys of `config` whose value is pending: set, but in effect only from the guest's next start.
    pending: list[str] = Field(default_factory=list, exclude=True)
    # Its node is offline: `config` and `digest` could not be read (sync keeps the stored ones).
    unread: bool = Field(default=False, exclude=True)


class ResourceChange(Model):
    """One difference between the store and the cluster: a resource added or deleted, or a field changed."""

    address: str
    kind: str
    change: str  # add | change | delete
    field: str = ""
    old: str | None = None
    new: str | None = None
