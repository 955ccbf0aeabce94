"""SQLModel tables of the state store; schema changes go through alembic revisions in migrations/.

Every table carries the `pmpc_` prefix so a team can share an existing PostgreSQL database.
Byte counts are BIGINT (PVE's exceed 32 bits); timestamps are timezone-aware UTC.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Index, Integer, Table, Text, UniqueConstraint
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel

from proxmox_mpc.state.basics import VERSION_TABLE as VERSION_TABLE
from proxmox_mpc.state.basics import utcnow as utcnow

PREFIX = "pmpc_"


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite stores it naive, in UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class ClusterRow(SQLModel, table=True):
    """A cluster pmpc has talked to, keyed by host:port (the context that reached it is noted)."""

    __tablename__ = PREFIX + "clusters"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(unique=True)
    name: str | None = None
    context: str | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class NodeRow(SQLModel, table=True):
    __tablename__ = PREFIX + "nodes"
    __table_args__ = (UniqueConstraint("cluster_id", "name", name="uq_pmpc_nodes_cluster_name"),)

    id: int | None = Field(default=None, primary_key=True)
    cluster_id: int = Field(sa_type=Integer, foreign_key=PREFIX + "clusters.id")
    name: str
    status: str
    cpus: int = 0
    memory_total: int = Field(default=0, sa_type=BigInteger)
    disk_total: int = Field(default=0, sa_type=BigInteger)
    ssl_fingerprint: str | None = None
    first_seen: datetime = Field(sa_type=UTCDateTime)
    last_seen: datetime = Field(sa_type=UTCDateTime)
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class StorageRow(SQLModel, table=True):
    __tablename__ = PREFIX + "storages"
    __table_args__ = (
        UniqueConstraint("cluster_id", "node", "name", name="uq_pmpc_storages_cluster_node_name"),
    )

    id: int | None = Field(default=None, primary_key=True)
    cluster_id: int = Field(sa_type=Integer, foreign_key=PREFIX + "clusters.id")
    node: str
    name: str
    type: str = ""
    content: str = ""
    shared: bool = False
    enabled: bool = True
    active: bool = True
    total: int = Field(default=0, sa_type=BigInteger)
    used: int = Field(default=0, sa_type=BigInteger)
    available: int = Field(default=0, sa_type=BigInteger)
    first_seen: datetime = Field(sa_type=UTCDateTime)
    last_seen: datetime = Field(sa_type=UTCDateTime)
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class GuestRow(SQLModel, table=True):
    """A VM or container; one row per VMID per cluster, kept after deletion (deleted_at)."""

    __tablename__ = PREFIX + "guests"
    __table_args__ = (
        UniqueConstraint("cluster_id", "vmid", name="uq_pmpc_guests_cluster_vmid"),
        Index("ix_pmpc_guests_cluster_name", "cluster_id", "name"),
    )

    id: int | None = Field(default=None, primary_key=True)
    cluster_id: int = Field(sa_type=Integer, foreign_key=PREFIX + "clusters.id")
    vmid: int
    kind: str  # vm | ct (pmpc's kind; PVE's qemu/lxc only at the API edge)
    node: str
    name: str
    status: str
    tags: str = ""  # sorted, lower-cased, `;`-joined as PVE writes them
    pool: str | None = None
    template: bool = False
    lock: str | None = None
    cpus: float = 0.0
    memory: int = Field(default=0, sa_type=BigInteger)
    disk_size: int = Field(default=0, sa_type=BigInteger)
    config: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    digest: str | None = None
    first_seen: datetime = Field(sa_type=UTCDateTime)
    last_seen: datetime = Field(sa_type=UTCDateTime)
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class SyncRunRow(SQLModel, table=True):
    __tablename__ = PREFIX + "sync_runs"

    id: int | None = Field(default=None, primary_key=True)
    cluster_id: int = Field(sa_type=Integer, foreign_key=PREFIX + "clusters.id", index=True)
    workspace: str | None = None
    started_at: datetime = Field(sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    status: str  # ok | failed
    guests: int = 0
    added: int = 0
    changed: int = 0
    deleted: int = 0
    requests: int = 0
    error: str | None = Field(default=None, sa_type=Text)


class ChangeRow(SQLModel, table=True):
    """One changed field of one guest, seen by one sync (added/deleted guests get one row each)."""

    __tablename__ = PREFIX + "changes"
    __table_args__ = (Index("ix_pmpc_changes_cluster_vmid", "cluster_id", "vmid"),)

    id: int | None = Field(default=None, primary_key=True)
    cluster_id: int = Field(sa_type=Integer, foreign_key=PREFIX + "clusters.id")
    sync_run_id: int = Field(sa_type=Integer, foreign_key=PREFIX + "sync_runs.id")
    vmid: int
    kind: str  # vm | ct
    guest_name: str
    change: str  # add | change | delete
    field: str = ""
    old: str | None = Field(default=None, sa_type=Text)
    new: str | None = Field(default=None, sa_type=Text)
    changed_at: datetime = Field(sa_type=UTCDateTime)


class ApplyRunRow(SQLModel, table=True):
    __tablename__ = PREFIX + "apply_runs"

    id: int | None = Field(default=None, primary_key=True)
    cluster_id: int = Field(sa_type=Integer, foreign_key=PREFIX + "clusters.id", index=True)
    workspace: str | None = None
    plan_digest: str | None = None
    started_at: datetime = Field(sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    status: str  # running | ok | failed | partial | aborted | interrupted
    # Who runs it: a run still `running` whose process is gone was interrupted (kill -9, power loss).
    operation: str | None = None  # apply | destroy
    pid: int | None = None
    host: str | None = None
    process_start: str | None = None


class ApplyActionRow(SQLModel, table=True):
    """The journal: one row per action an apply run performed (or failed to)."""

    __tablename__ = PREFIX + "apply_actions"

    id: int | None = Field(default=None, primary_key=True)
    run_id: int = Field(sa_type=Integer, foreign_key=PREFIX + "apply_runs.id", index=True)
    address: str
    action: str
    status: str
    detail: str | None = Field(default=None, sa_type=Text)
    upid: str | None = None
    at: datetime = Field(sa_type=UTCDateTime)


class CreatedGuestRow(SQLModel, table=True):
    """A guest pmpc created (any other guest was adopted, and is protected from destroy)."""

    __tablename__ = PREFIX + "created_guests"
    __table_args__ = (UniqueConstraint("cluster_id", "vmid", name="uq_pmpc_created_guests_cluster_vmid"),)

    id: int | None = Field(default=None, primary_key=True)
    cluster_id: int = Field(sa_type=Integer, foreign_key=PREFIX + "clusters.id")
    vmid: int
    kind: str  # vm | ct
    name: str
    run_id: int | None = None
    created_at: datetime = Field(sa_type=UTCDateTime)


class ResourceRow(SQLModel, table=True):
    """A resource of a non-guest kind (a pool, ...): its normalised data, kept after deletion (deleted_at)."""

    __tablename__ = PREFIX + "resources"
    __table_args__ = (UniqueConstraint("cluster_id", "kind", "address", name="uq_pmpc_resources_cluster_kind_address"),)

    id: int | None = Field(default=None, primary_key=True)
    cluster_id: int = Field(sa_type=Integer, foreign_key=PREFIX + "clusters.id")
    kind: str  # the address prefix: pool
    address: str  # pool/prod
    data: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    first_seen: datetime = Field(sa_type=UTCDateTime)
    last_seen: datetime = Field(sa_type=UTCDateTime)
    deleted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class ResourceChangeRow(SQLModel, table=True):
    """One changed field of one resource, seen by one sync (added/deleted resources get one row each)."""

    __tablename__ = PREFIX + "resource_changes"
    __table_args__ = (Index("ix_pmpc_resource_changes_cluster_address", "cluster_id", "address"),)

    id: int | None = Field(default=None, primary_key=True)
    cluster_id: int = Field(sa_type=Integer, foreign_key=PREFIX + "clusters.id")
    sync_run_id: int = Field(sa_type=Integer, foreign_key=PREFIX + "sync_runs.id")
    kind: str
    address: str
    change: str  # add | change | delete
    field: str = ""
    old: str | None = Field(default=None, sa_type=Text)
    new: str | None = Field(default=None, sa_type=Text)
    changed_at: datetime = Field(sa_type=UTCDateTime)


class CreatedResourceRow(SQLModel, table=True):
    """A resource of a non-guest kind pmpc created (any other was adopted, and is protected from destroy)."""

    __tablename__ = PREFIX + "created_resources"
    __table_args__ = (UniqueConstraint("cluster_id", "address", name="uq_pmpc_created_resources_cluster_address"),)

    id: int | None = Field(default=None, primary_key=True)
    cluster_id: int = Field(sa_type=Integer, foreign_key=PREFIX + "clusters.id")
    kind: str
    address: str
    run_id: int | None = None
    created_at: datetime = Field(sa_type=UTCDateTime)


class LockRow(SQLModel, table=True):
    """Who holds a workspace lock (authoritative on SQLite; informative beside PostgreSQL's advisory lock)."""

    __tablename__ = PREFIX + "locks"

    name: str = Field(primary_key=True)
    holder: str
    pid: int
    host: str
    token: str
    since: datetime = Field(sa_type=UTCDateTime)


class ManifestCacheRow(SQLModel, table=True):
    """A manifest file parsed before, keyed by its absolute path; valid while its size and mtime match."""

    __tablename__ = PREFIX + "manifest_cache"

    path: str = Field(primary_key=True, sa_type=Text)
    size: int = Field(sa_type=BigInteger)
    mtime_ns: int = Field(sa_type=BigInteger)
    # Which pmpc (and manifest format) wrote the entry: another one re-parses the file.
    format: str
    body: str = Field(sa_type=Text)


TABLES = (
    ClusterRow,
    NodeRow,
    StorageRow,
    GuestRow,
    SyncRunRow,
    ChangeRow,
    ApplyRunRow,
    ApplyActionRow,
    CreatedGuestRow,
    LockRow,
    ManifestCacheRow,
    ResourceRow,
    ResourceChangeRow,
    CreatedResourceRow,
)


def metadata() -> Any:
    """Return the MetaData holding the state tables (for alembic)."""
    return SQLModel.metadata


def table(model: type[SQLModel]) -> Table:
    """Return the Core table of a row model (the store's statements are Core, not ORM)."""
    return SQLModel.metadata.tables[str(model.__tablename__)]


clusters_t = table(ClusterRow)
nodes_t = table(NodeRow)
storages_t = table(StorageRow)
guests_t = table(GuestRow)
sync_runs_t = table(SyncRunRow)
changes_t = table(ChangeRow)
apply_runs_t = table(ApplyRunRow)
apply_actions_t = table(ApplyActionRow)
created_t = table(CreatedGuestRow)
locks_t = table(LockRow)
manifest_cache_t = table(ManifestCacheRow)
