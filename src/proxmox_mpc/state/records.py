"""The records the store returns: pydantic views of its rows (what `state show -o json` prints)."""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field

from proxmox_mpc.core.identity import GuestKind
from proxmox_mpc.core.modeling import Model
from proxmox_mpc.core.models import ObservedGuest, Storage, UtcTime, split_tags
from proxmox_mpc.state.processes import process_gone


class GuestRecord(ObservedGuest):
    """A guest as the store remembers it: the observed guest (its config's secrets masked), and when it was seen."""

    first_seen: UtcTime
    last_seen: UtcTime
    deleted_at: UtcTime | None = None

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None


class NodeRecord(Model):
    kind: Literal["node"] = "node"
    name: str
    status: str
    cpus: int = 0
    memory_total: int = 0
    disk_total: int = 0
    ssl_fingerprint: str | None = None
    first_seen: UtcTime
    last_seen: UtcTime
    deleted_at: UtcTime | None = None


class StorageRecord(Storage):
    """A storage as the store remembers it: what one node showed, and when."""

    first_seen: UtcTime
    last_seen: UtcTime
    deleted_at: UtcTime | None = None


class ChangeRecord(Model):
    """One history row: a field of a guest that a sync saw change (or the guest appearing/vanishing)."""

    sync_run_id: int
    vmid: int
    kind: GuestKind
    name: str
    change: str
    field: str
    old: str | None
    new: str | None
    changed_at: UtcTime


class SyncRunRecord(Model):
    id: int
    cluster: str
    workspace: str | None = None
    started_at: UtcTime
    finished_at: UtcTime | None = None
    status: str
    guests: int = 0
    added: int = 0
    changed: int = 0
    deleted: int = 0
    requests: int = 0
    error: str | None = None


class ApplyRunRecord(Model):
    id: int
    cluster: str
    workspace: str | None = None
    plan_digest: str | None = None
    started_at: UtcTime
    finished_at: UtcTime | None = None
    status: str
    operation: str | None = None
    pid: int | None = None
    host: str | None = None


class JournalEntry(Model):
    id: int
    run_id: int
    address: str
    action: str
    status: str
    detail: str | None = None
    upid: str | None = None
    at: UtcTime


class LockInfo(Model):
    """Who holds a workspace lock, and since when."""

    name: str
    holder: str
    pid: int
    host: str
    since: UtcTime

    def describe(self) -> str:
        """Return `pmpc sync (pid 123 on host) since 2026-01-01 10:00:00 UTC`."""
        return f"{self.holder} (pid {self.pid} on {self.host}) since {self.since:%Y-%m-%d %H:%M:%S} UTC"

    def holder_gone(self) -> bool:
        """Return True when the holder ran on this host and its process no longer exists."""
        return process_gone(self.pid, self.host, None)


class ResourceRecord(Model):
    """A stored resource: its kind, address and normalised data (deleted_at once it is gone)."""

    kind: str
    address: str
    data: dict[str, Any] = Field(default_factory=dict)
    first_seen: UtcTime
    last_seen: UtcTime
    deleted_at: UtcTime | None = None

    @property
    def id(self) -> str:
        """Return the resource's id: `prod` of `pool/prod`."""
        return self.address.split("/", 1)[1]


class ResourceChangeRecord(Model):
    """One history row of a resource: added, deleted, or one field changed, seen by a sync."""

    sync_run_id: int
    kind: str
    address: str
    change: str
    field: str = ""
    old: str | None = None
    new: str | None = None
    changed_at: UtcTime


def resource_record(row: Any) -> ResourceRecord:
    """Return the record of a `pmpc_resources` row."""
    return ResourceRecord(
        kind=row.kind,
        address=row.address,
        data=dict(row.data or {}),
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        deleted_at=row.deleted_at,
    )


R = TypeVar("R", bound=BaseModel)


def from_row(model: type[R], row: Any, **extra: Any) -> R:
    """Return a record from a result row (or its mapping): the columns the model has, then `extra`."""
    mapping = getattr(row, "_mapping", row)
    data = {k: v for k, v in mapping.items() if k in model.model_fields}
    data.update(extra)
    return model(**data)


def guest_record(row: Any) -> GuestRecord:
    """Return the record of a `pmpc_guests` row."""
    return GuestRecord(
        kind=row.kind,
        vmid=row.vmid,
        name=row.name,
        node=row.node,
        status=row.status,
        template=bool(row.template),
        tags=split_tags(row.tags),
        pool=row.pool,
        lock=row.lock,
        cpus=float(row.cpus or 0),
        memory=int(row.memory or 0),
        disk_size=int(row.disk_size or 0),
        digest=row.digest,
        config=dict(row.config or {}),
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        deleted_at=row.deleted_at,
    )
