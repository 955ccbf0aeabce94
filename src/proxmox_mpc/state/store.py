"""The repository: every query the state store runs, behind one Store object per database.

Usage: `store = open_store(url)` (migrates to head), then `with store.transaction(): ...`; a method called
inside a transaction joins it, one called outside runs in its own short transaction. Bulk writes are
single Core `INSERT ... ON CONFLICT DO UPDATE` statements executed with many parameter sets.
A Store is used from one thread at a time.
"""

from __future__ import annotations

import hashlib
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from proxmox_mpc.config import redact_url
from proxmox_mpc.core.models import KIND_PREFIX, UtcTime, split_tags
from proxmox_mpc.errors import Conflict, PmpcError, StateError
from proxmox_mpc.state import migrations
from proxmox_mpc.state.db import IMMEDIATE, create_engine_for, describe_db_error, dialect_of, normalise_url
from proxmox_mpc.state.resources import ResourceStore
from proxmox_mpc.state.tables import (
    ApplyActionRow,
    ApplyRunRow,
    ChangeRow,
    ClusterRow,
    CreatedGuestRow,
    GuestRow,
    LockRow,
    ManifestCacheRow,
    NodeRow,
    StorageRow,
    SyncRunRow,
    utcnow,
)

if TYPE_CHECKING:
    from sqlalchemy import Table
    from sqlalchemy.engine import Connection, Engine

# A fixed key: two processes migrating one PostgreSQL database at once take turns.
MIGRATION_LOCK_KEY = 0x706D7063_00000001
LOCK_POLL_SECONDS = 0.1
HOLDER_ROW_GRACE_SECONDS = 2.0
UNLOCK_WAIT_SECONDS = 10.0

clusters = ClusterRow.__table__  # type: ignore[attr-defined]
nodes_t = NodeRow.__table__  # type: ignore[attr-defined]
storages_t = StorageRow.__table__  # type: ignore[attr-defined]
guests_t = GuestRow.__table__  # type: ignore[attr-defined]
sync_runs_t = SyncRunRow.__table__  # type: ignore[attr-defined]
changes_t = ChangeRow.__table__  # type: ignore[attr-defined]
apply_runs_t = ApplyRunRow.__table__  # type: ignore[attr-defined]
apply_actions_t = ApplyActionRow.__table__  # type: ignore[attr-defined]
locks_t = LockRow.__table__  # type: ignore[attr-defined]
manifest_cache_t = ManifestCacheRow.__table__  # type: ignore[attr-defined]
created_t = CreatedGuestRow.__table__  # type: ignore[attr-defined]

GUEST_COLUMNS = (
    "cluster_id",
    "vmid",
    "kind",
    "node",
    "name",
    "status",
    "tags",
    "pool",
    "template",
    "lock",
    "cpus",
    "memory",
    "disk_size",
    "config",
    "digest",
    "first_seen",
    "last_seen",
    "deleted_at",
)
NODE_COLUMNS = (
    "cluster_id",
    "name",
    "status",
    "cpus",
    "memory_total",
    "disk_total",
    "ssl_fingerprint",
    "first_seen",
    "last_seen",
    "deleted_at",
)
STORAGE_COLUMNS = (
    "cluster_id",
    "node",
    "name",
    "type",
    "content",
    "shared",
    "enabled",
    "active",
    "total",
    "used",
    "available",
    "first_seen",
    "last_seen",
    "deleted_at",
)
CHANGE_COLUMNS = (
    "cluster_id",
    "sync_run_id",
    "vmid",
    "kind",
    "guest_name",
    "change",
    "field",
    "old",
    "new",
    "changed_at",
)


# ----------------------------------------------------------------------------- records


class GuestRecord(BaseModel):
    """A guest as the store remembers it (the raw config has its secrets redacted)."""

    kind: Literal["vm", "ct"]
    type: Literal["qemu", "lxc"]
    vmid: int
    name: str
    node: str
    status: str
    template: bool = False
    tags: list[str] = Field(default_factory=list)
    pool: str | None = None
    lock: str | None = None
    cpus: float = 0.0
    memory: int = 0
    disk_size: int = 0
    digest: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    first_seen: UtcTime
    last_seen: UtcTime
    deleted_at: UtcTime | None = None

    @property
    def ref(self) -> str:
        """Return `vm/101` or `ct/201`."""
        return f"{self.kind}/{self.vmid}"

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None


class NodeRecord(BaseModel):
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


class StorageRecord(BaseModel):
    kind: Literal["storage"] = "storage"
    name: str
    node: str
    type: str = ""
    content: list[str] = Field(default_factory=list)
    shared: bool = False
    enabled: bool = True
    active: bool = True
    total: int = 0
    used: int = 0
    available: int = 0
    first_seen: UtcTime
    last_seen: UtcTime
    deleted_at: UtcTime | None = None


class ChangeRecord(BaseModel):
    """One history row: a field of a guest that a sync saw change (or the guest appearing/vanishing)."""

    sync_run_id: int
    vmid: int
    kind: Literal["vm", "ct"]
    name: str
    change: str
    field: str
    old: str | None
    new: str | None
    changed_at: UtcTime


class SyncRunRecord(BaseModel):
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


class ApplyRunRecord(BaseModel):
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


class JournalEntry(BaseModel):
    id: int
    run_id: int
    address: str
    action: str
    status: str
    detail: str | None = None
    upid: str | None = None
    at: UtcTime


class LockInfo(BaseModel):
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
        if self.host != socket.gethostname():
            return False
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except OSError:
            return False
        return False


def process_start(pid: int) -> str | None:
    """Return when a process started (clock ticks since boot, from /proc), to tell a reused pid apart."""
    try:
        with open(f"/proc/{int(pid)}/stat", encoding="ascii", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: count from its closing one.
    fields = text.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else None


def process_gone(pid: int | None, host: str | None, started: str | None) -> bool:
    """Return True when a process recorded as (pid, host, start time) ran on this host and no longer runs."""
    if pid is None or host != socket.gethostname():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False
    now = process_start(pid)
    return started is not None and now is not None and now != started


# ----------------------------------------------------------------------------- helpers


def tags_text(tags: Iterable[str]) -> str:
    """Return tags as stored: sorted, lower-cased, `;`-joined."""
    return ";".join(split_tags(list(tags)))


def _kind(gtype: str) -> Literal["vm", "ct"]:
    return "ct" if gtype == "lxc" else "vm"


def _guest_record(row: Any) -> GuestRecord:
    return GuestRecord(
        kind=_kind(row.kind),
        type=row.kind,
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


def _advisory_key(text: str) -> int:
    """Return a signed 64-bit key for pg_advisory_lock from a name."""
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class Store(ResourceStore):
    """The state store of one database: clusters, nodes, storages, guests, resources, history, journal, locks."""

    def __init__(self, engine: Engine, url: str) -> None:
        self.engine = engine
        self._url = url
        self.url = redact_url(url)
        self.dialect = dialect_of(url)
        self._conn: Connection | None = None
        self._cluster_ids: dict[str, int] = {}

    # ------------------------------------------------------------------ plumbing

    def close(self) -> None:
        """Release the connection pool."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _guard(self) -> Iterator[None]:
        from sqlalchemy.exc import SQLAlchemyError

        try:
            yield
        except SQLAlchemyError as exc:
            raise StateError(describe_db_error(exc, self._url)) from exc

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """Run the enclosed store calls in one transaction (committed on success, rolled back on error).

        Raises:
            StateError: the database failed.
        """
        if self._conn is not None:
            yield self._conn
            return
        try:
            with (
                self._guard(),
                self.engine.connect().execution_options(**{IMMEDIATE: True}) as conn,
                conn.begin(),
            ):
                self._conn = conn
                try:
                    yield conn
                finally:
                    self._conn = None
        except BaseException:
            # Rows created in the rolled-back transaction (a new cluster) are gone: forget their ids.
            self._cluster_ids.clear()
            raise

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        if self._conn is not None:
            yield self._conn
            return
        with self._guard(), self.engine.connect() as conn, conn.begin():
            yield conn

    def _insert(self, table: Table) -> Any:
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return pg_insert(table)
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table)

    def _upsert(self, table: Table, rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> None:
        """INSERT ... ON CONFLICT (keys) DO UPDATE every other column, as one executemany."""
        if not rows:
            return
        stmt = self._insert(table)
        columns = [c for c in rows[0] if c not in keys]
        stmt = stmt.on_conflict_do_update(
            index_elements=list(keys), set_={c: stmt.excluded[c] for c in columns}
        )
        with self.transaction() as conn:
            conn.execute(stmt, list(rows))

    # ------------------------------------------------------------------ schema

    def revision(self) -> str | None:
        """Return the alembic revision the database is at (None: empty database)."""
        with self._read() as conn:
            return migrations.current_revision(conn)

    def upgrade(self) -> tuple[str | None, str]:
        """Migrate to the newest revision; return (revision before, revision now).

        Raises:
            StateError: the database is newer than this pmpc, or cannot be migrated.
        """
        before = self.revision()
        if before == migrations.HEAD:
            return before, before  # current: no need to load alembic
        head = migrations.head_revision()
        self._check_known(before)
        if before == head:
            return before, head
        from sqlalchemy import func, select

        with self.transaction() as conn:
            if self.dialect == "postgresql":
                conn.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK_KEY)))
            before = migrations.current_revision(conn)
            self._check_known(before)
            if before != head:
                migrations.upgrade(conn)
        return before, head

    def _check_known(self, revision: str | None) -> None:
        if revision is not None and revision not in migrations.known_revisions():
            raise StateError(
                f"The state database {self.url} is at revision {revision}, newer than this pmpc knows "
                f"(newest: {migrations.head_revision()}): upgrade pmpc."
            )

    def at_head(self) -> bool:
        """Return True when the schema is current."""
        return self.revision() == migrations.HEAD

    # ------------------------------------------------------------------ clusters

    def cluster_id(
        self, cluster: str, *, create: bool = False, name: str | None = None, context: str | None = None
    ) -> int | None:
        """Return the id of a cluster key (host:port), creating the row when asked."""
        from sqlalchemy import select

        if cluster in self._cluster_ids and not create:
            return self._cluster_ids[cluster]
        if create:
            row = {"key": cluster, "name": name, "context": context, "created_at": utcnow()}
            stmt = self._insert(clusters).values(row)
            update = {k: v for k, v in (("name", name), ("context", context)) if v is not None}
            stmt = (
                stmt.on_conflict_do_update(index_elements=["key"], set_=update)
                if update
                else stmt.on_conflict_do_nothing(index_elements=["key"])
            )
            with self.transaction() as conn:
                conn.execute(stmt)
        with self._read() as conn:
            found = conn.execute(select(clusters.c.id).where(clusters.c.key == cluster)).scalar()
        if found is not None:
            self._cluster_ids[cluster] = int(found)
        return None if found is None else int(found)

    def _cid(self, cluster: str) -> int | None:
        return self.cluster_id(cluster)

    def lock_cluster(self, cluster_id: int) -> None:
        """Serialise writers of one cluster's rows until the current transaction ends (PostgreSQL)."""
        from sqlalchemy import func, select

        with self.transaction() as conn:
            if self.dialect == "postgresql":
                conn.execute(select(func.pg_advisory_xact_lock(_advisory_key(f"pmpc:cluster:{cluster_id}"))))

    # ------------------------------------------------------------------ guests

    def current_guests(self, cluster: str, *, include_deleted: bool = False) -> list[GuestRecord]:
        """Return the cluster's guests (non-deleted unless asked), with raw config and digest, by VMID."""
        from sqlalchemy import select

        cid = self._cid(cluster)
        if cid is None:
            return []
        query = select(guests_t).where(guests_t.c.cluster_id == cid)
        if not include_deleted:
            query = query.where(guests_t.c.deleted_at.is_(None))
        with self._read() as conn:
            rows = conn.execute(query.order_by(guests_t.c.vmid)).all()
        return [_guest_record(r) for r in rows]

    def find_guests(self, cluster: str, ref: str) -> list[GuestRecord]:
        """Return guests (deleted ones too) whose VMID or name is `ref`."""
        from sqlalchemy import or_, select

        cid = self._cid(cluster)
        if cid is None:
            return []
        cond = guests_t.c.name == ref
        if ref.isdigit():
            cond = or_(cond, guests_t.c.vmid == int(ref))
        with self._read() as conn:
            rows = conn.execute(
                select(guests_t).where(guests_t.c.cluster_id == cid, cond).order_by(guests_t.c.vmid)
            ).all()
        return [_guest_record(r) for r in rows]

    def upsert_guests(self, cluster_id: int, rows: Sequence[dict[str, Any]]) -> None:
        """Insert or update guests by (cluster, vmid); each row holds every column of GUEST_COLUMNS."""
        self._upsert(guests_t, [{**r, "cluster_id": cluster_id} for r in rows], ("cluster_id", "vmid"))

    def mark_guests_deleted(self, cluster_id: int, vmids: Iterable[int], when: datetime) -> None:
        """Set deleted_at on these guests (kept, not removed: history stays readable)."""
        from sqlalchemy import bindparam, update

        params = [{"b_vmid": v} for v in vmids]
        if not params:
            return
        stmt = (
            update(guests_t)
            .where(guests_t.c.cluster_id == cluster_id, guests_t.c.vmid == bindparam("b_vmid"))
            .values(deleted_at=when)
        )
        with self.transaction() as conn:
            conn.execute(stmt, params)

    def guest_counts(self, cluster: str) -> dict[str, dict[str, int]]:
        """Return {kind: {status: count}} of the non-deleted guests (templates counted as `template`)."""
        from sqlalchemy import func, select

        cid = self._cid(cluster)
        if cid is None:
            return {}
        query = (
            select(guests_t.c.kind, guests_t.c.status, guests_t.c.template, func.count())
            .where(guests_t.c.cluster_id == cid, guests_t.c.deleted_at.is_(None))
            .group_by(guests_t.c.kind, guests_t.c.status, guests_t.c.template)
        )
        counts: dict[str, dict[str, int]] = {}
        with self._read() as conn:
            for gtype, status, template, count in conn.execute(query):
                bucket = counts.setdefault(KIND_PREFIX.get(gtype, gtype), {})
                key = "template" if template else status
                bucket[key] = bucket.get(key, 0) + int(count)
        return counts

    # ------------------------------------------------------------------ nodes and storages

    def nodes(self, cluster: str, *, include_deleted: bool = False) -> list[NodeRecord]:
        """Return the cluster's nodes by name."""
        cid = self._cid(cluster)
        return [] if cid is None else self.nodes_of(cid, include_deleted=include_deleted)

    def nodes_of(self, cid: int, *, include_deleted: bool = True) -> list[NodeRecord]:
        """Return the nodes of a cluster id (deleted ones too unless told otherwise)."""
        from sqlalchemy import select

        query = select(nodes_t).where(nodes_t.c.cluster_id == cid)
        if not include_deleted:
            query = query.where(nodes_t.c.deleted_at.is_(None))
        with self._read() as conn:
            rows = conn.execute(query.order_by(nodes_t.c.name)).mappings().all()
        return [NodeRecord(**{k: v for k, v in r.items() if k in NodeRecord.model_fields}) for r in rows]

    def upsert_nodes(self, cluster_id: int, rows: Sequence[dict[str, Any]]) -> None:
        """Insert or update nodes by (cluster, name)."""
        self._upsert(nodes_t, [{**r, "cluster_id": cluster_id} for r in rows], ("cluster_id", "name"))

    def mark_nodes_deleted(self, cluster_id: int, names: Iterable[str], when: datetime) -> None:
        """Set deleted_at on nodes that left the cluster."""
        from sqlalchemy import bindparam, update

        params = [{"b_name": n} for n in names]
        if params:
            stmt = (
                update(nodes_t)
                .where(nodes_t.c.cluster_id == cluster_id, nodes_t.c.name == bindparam("b_name"))
                .values(deleted_at=when)
            )
            with self.transaction() as conn:
                conn.execute(stmt, params)

    def storages(self, cluster: str, *, include_deleted: bool = False) -> list[StorageRecord]:
        """Return the cluster's storages by node and name."""
        cid = self._cid(cluster)
        return [] if cid is None else self.storages_of(cid, include_deleted=include_deleted)

    def storages_of(self, cid: int, *, include_deleted: bool = True) -> list[StorageRecord]:
        """Return the storages of a cluster id (deleted ones too unless told otherwise)."""
        from sqlalchemy import select

        query = select(storages_t).where(storages_t.c.cluster_id == cid)
        if not include_deleted:
            query = query.where(storages_t.c.deleted_at.is_(None))
        with self._read() as conn:
            rows = conn.execute(query.order_by(storages_t.c.node, storages_t.c.name)).mappings().all()
        out = []
        for r in rows:
            data = {k: v for k, v in r.items() if k in StorageRecord.model_fields}
            data["content"] = [c for c in str(r["content"] or "").split(",") if c]
            out.append(StorageRecord(**data))
        return out

    def upsert_storages(self, cluster_id: int, rows: Sequence[dict[str, Any]]) -> None:
        """Insert or update storages by (cluster, node, name)."""
        self._upsert(
            storages_t, [{**r, "cluster_id": cluster_id} for r in rows], ("cluster_id", "node", "name")
        )

    def mark_storages_deleted(self, cluster_id: int, keys: Iterable[tuple[str, str]], when: datetime) -> None:
        """Set deleted_at on storages (node, name) no longer seen."""
        from sqlalchemy import bindparam, update

        params = [{"b_node": n, "b_name": s} for n, s in keys]
        if params:
            stmt = (
                update(storages_t)
                .where(
                    storages_t.c.cluster_id == cluster_id,
                    storages_t.c.node == bindparam("b_node"),
                    storages_t.c.name == bindparam("b_name"),
                )
                .values(deleted_at=when)
            )
            with self.transaction() as conn:
                conn.execute(stmt, params)

    # ------------------------------------------------------------------ sync runs and history

    def start_sync_run(self, cluster_id: int, workspace: str | None, started_at: datetime) -> int:
        """Insert a sync run (status `running`) and return its id."""
        from sqlalchemy import insert

        row = {
            "cluster_id": cluster_id,
            "workspace": workspace,
            "started_at": started_at,
            "status": "running",
        }
        with self.transaction() as conn:
            return int(conn.execute(insert(sync_runs_t).values(row).returning(sync_runs_t.c.id)).scalar_one())

    def finish_sync_run(
        self,
        run_id: int,
        *,
        status: str,
        guests: int = 0,
        added: int = 0,
        changed: int = 0,
        deleted: int = 0,
        requests: int = 0,
        error: str | None = None,
    ) -> None:
        """Record how a sync run ended."""
        from sqlalchemy import update

        values = {
            "status": status,
            "finished_at": utcnow(),
            "guests": guests,
            "added": added,
            "changed": changed,
            "deleted": deleted,
            "requests": requests,
            "error": error,
        }
        with self.transaction() as conn:
            conn.execute(update(sync_runs_t).where(sync_runs_t.c.id == run_id).values(values))

    def record_failed_sync(
        self, cluster: str, workspace: str | None, started_at: datetime, error: str
    ) -> int:
        """Record a sync that failed before writing anything (its own small transaction)."""
        with self.transaction():
            cid = self.cluster_id(cluster, create=True)
            assert cid is not None
            run_id = self.start_sync_run(cid, workspace, started_at)
            self.finish_sync_run(run_id, status="failed", error=error)
        return run_id

    def _sync_record(self, cluster: str, row: Any) -> SyncRunRecord:
        return SyncRunRecord(
            id=row.id,
            cluster=cluster,
            workspace=row.workspace,
            started_at=row.started_at,
            finished_at=row.finished_at,
            status=row.status,
            guests=row.guests,
            added=row.added,
            changed=row.changed,
            deleted=row.deleted,
            requests=row.requests,
            error=row.error,
        )

    def last_sync(self, cluster: str) -> SyncRunRecord | None:
        """Return the last successful sync of a cluster, or None."""
        runs = self.sync_runs(cluster, limit=1, status="ok")
        return runs[0] if runs else None

    def sync_runs(self, cluster: str, *, limit: int = 20, status: str | None = None) -> list[SyncRunRecord]:
        """Return the newest sync runs first."""
        from sqlalchemy import select

        cid = self._cid(cluster)
        if cid is None:
            return []
        query = select(sync_runs_t).where(sync_runs_t.c.cluster_id == cid)
        if status:
            query = query.where(sync_runs_t.c.status == status)
        with self._read() as conn:
            rows = conn.execute(query.order_by(sync_runs_t.c.id.desc()).limit(limit)).all()
        return [self._sync_record(cluster, r) for r in rows]

    def add_changes(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert history rows (CHANGE_COLUMNS each) as one executemany."""
        from sqlalchemy import insert

        if rows:
            with self.transaction() as conn:
                conn.execute(insert(changes_t), list(rows))

    def history(self, cluster: str, vmid: int, *, limit: int | None = None) -> list[ChangeRecord]:
        """Return the change history of one guest, oldest first (the newest `limit` rows)."""
        from sqlalchemy import select

        cid = self._cid(cluster)
        if cid is None:
            return []
        query = (
            select(changes_t)
            .where(changes_t.c.cluster_id == cid, changes_t.c.vmid == vmid)
            .order_by(changes_t.c.id.desc())
        )
        if limit:
            query = query.limit(limit)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [
            ChangeRecord(
                sync_run_id=r.sync_run_id,
                vmid=r.vmid,
                kind=_kind(r.kind),
                name=r.guest_name,
                change=r.change,
                field=r.field,
                old=r.old,
                new=r.new,
                changed_at=r.changed_at,
            )
            for r in reversed(rows)
        ]

    def count_changes(self, cluster: str) -> int:
        """Return how many history rows a cluster has."""
        from sqlalchemy import func, select

        cid = self._cid(cluster)
        if cid is None:
            return 0
        with self._read() as conn:
            return int(conn.execute(select(func.count()).where(changes_t.c.cluster_id == cid)).scalar_one())

    # ------------------------------------------------------------------ apply runs and journal

    def start_apply_run(
        self, cluster: str, workspace: str | None, plan_digest: str | None, *, operation: str = "apply"
    ) -> int:
        """Open an apply run (status `running`, naming this process) and return its id."""
        from sqlalchemy import insert

        with self.transaction() as conn:
            cid = self.cluster_id(cluster, create=True)
            pid = os.getpid()
            row = {
                "cluster_id": cid,
                "workspace": workspace,
                "plan_digest": plan_digest,
                "started_at": utcnow(),
                "status": "running",
                "operation": operation,
                "pid": pid,
                "host": socket.gethostname(),
                "process_start": process_start(pid),
            }
            return int(
                conn.execute(insert(apply_runs_t).values(row).returning(apply_runs_t.c.id)).scalar_one()
            )

    def journal_action(
        self, run_id: int, address: str, action: str, status: str, detail: str | None, upid: str | None = None
    ) -> None:
        """Append one action to an apply run's journal (committed at once unless inside a transaction)."""
        from sqlalchemy import insert

        row = {
            "run_id": run_id,
            "address": address,
            "action": action,
            "status": status,
            "detail": detail,
            "upid": upid,
            "at": utcnow(),
        }
        with self.transaction() as conn:
            conn.execute(insert(apply_actions_t).values(row))

    def finish_apply_run(self, run_id: int, status: str) -> None:
        """Close an apply run with its final status (ok, failed, partial, aborted)."""
        from sqlalchemy import update

        with self.transaction() as conn:
            conn.execute(
                update(apply_runs_t)
                .where(apply_runs_t.c.id == run_id)
                .values(status=status, finished_at=utcnow())
            )

    def apply_runs(
        self, cluster: str | None = None, *, workspace: str | None = None, limit: int = 20
    ) -> list[ApplyRunRecord]:
        """Return apply runs, newest first (optionally of one cluster and/or workspace)."""
        from sqlalchemy import select

        query = select(apply_runs_t, clusters.c.key).join(
            clusters, clusters.c.id == apply_runs_t.c.cluster_id
        )
        if cluster is not None:
            query = query.where(clusters.c.key == cluster)
        if workspace is not None:
            query = query.where(apply_runs_t.c.workspace == workspace)
        with self._read() as conn:
            rows = conn.execute(query.order_by(apply_runs_t.c.id.desc()).limit(limit)).all()
        return [
            ApplyRunRecord(
                id=r.id,
                cluster=r.key,
                workspace=r.workspace,
                plan_digest=r.plan_digest,
                started_at=r.started_at,
                finished_at=r.finished_at,
                status="interrupted"
                if r.status == "running" and process_gone(r.pid, r.host, r.process_start)
                else r.status,
                operation=r.operation,
                pid=r.pid,
                host=r.host,
            )
            for r in rows
        ]

    def mark_interrupted_runs(self) -> list[int]:
        """Mark every `running` apply run whose process is gone (pid, host and start time) as `interrupted`."""
        from sqlalchemy import select, update

        with self._read() as conn:
            rows = conn.execute(
                select(
                    apply_runs_t.c.id, apply_runs_t.c.pid, apply_runs_t.c.host, apply_runs_t.c.process_start
                ).where(apply_runs_t.c.status == "running")
            ).all()
        gone = [r.id for r in rows if process_gone(r.pid, r.host, r.process_start)]
        if gone:
            with self.transaction() as conn:
                conn.execute(
                    update(apply_runs_t)
                    .where(apply_runs_t.c.id.in_(gone), apply_runs_t.c.status == "running")
                    .values(status="interrupted", finished_at=utcnow())
                )
        return gone

    def unfinished_replaces(self, cluster: str, *, runs: int = 50) -> dict[str, int]:
        """Return, per address, the apply run whose replace deleted the guest and never created it again."""
        from sqlalchemy import select

        cid = self._cid(cluster)
        if cid is None:
            return {}
        with self._read() as conn:
            run_ids = (
                conn.execute(
                    select(apply_runs_t.c.id)
                    .where(apply_runs_t.c.cluster_id == cid)
                    .order_by(apply_runs_t.c.id.desc())
                    .limit(runs)
                )
                .scalars()
                .all()
            )
            if not run_ids:
                return {}
            rows = conn.execute(
                select(
                    apply_actions_t.c.run_id,
                    apply_actions_t.c.address,
                    apply_actions_t.c.action,
                    apply_actions_t.c.status,
                    apply_actions_t.c.upid,
                )
                .where(
                    apply_actions_t.c.run_id.in_(run_ids),
                    apply_actions_t.c.action.in_(("replace", "delete", "create", "clone")),
                )
                .order_by(apply_actions_t.c.id)
            ).all()
        replacing: dict[str, int] = {}
        deleted: dict[str, int] = {}
        for row in rows:
            if row.action == "replace" and row.status == "started":
                replacing[row.address] = row.run_id
            elif (
                row.action == "delete"
                and (row.status == "ok" or row.upid)  # a delete task PVE accepted goes on without pmpc
                and replacing.get(row.address) == row.run_id
            ):
                deleted[row.address] = row.run_id
            elif row.action in ("create", "clone") and row.status == "ok":
                deleted.pop(row.address, None)
                replacing.pop(row.address, None)
        return deleted

    # ------------------------------------------------------------------ guests pmpc created

    def record_created(self, cluster: str, kind: str, vmid: int, name: str, run_id: int | None) -> None:
        """Remember that pmpc created a guest (a replace's create too)."""
        stmt = self._insert(created_t)
        with self.transaction() as conn:
            cid = self.cluster_id(cluster, create=True)
            row = {
                "cluster_id": cid,
                "vmid": vmid,
                "kind": kind,
                "name": name,
                "run_id": run_id,
                "created_at": utcnow(),
            }
            conn.execute(
                stmt.values(row).on_conflict_do_update(
                    index_elements=["cluster_id", "vmid"],
                    set_={k: row[k] for k in ("kind", "name", "run_id", "created_at")},
                )
            )

    def forget_created(self, cluster: str, vmid: int) -> None:
        """Forget a guest pmpc created once it is deleted (its VMID may come back as someone else's)."""
        from sqlalchemy import delete

        cid = self._cid(cluster)
        if cid is None:
            return
        with self.transaction() as conn:
            conn.execute(delete(created_t).where(created_t.c.cluster_id == cid, created_t.c.vmid == vmid))

    def created_guests(self, cluster: str) -> set[tuple[str, int]]:
        """Return (type, vmid) of every guest pmpc created on a cluster and has not deleted."""
        from sqlalchemy import select

        cid = self._cid(cluster)
        if cid is None:
            return set()
        with self._read() as conn:
            rows = conn.execute(select(created_t.c.kind, created_t.c.vmid).where(created_t.c.cluster_id == cid))
            return {(str(r.kind), int(r.vmid)) for r in rows}

    def journal(self, run_id: int) -> list[JournalEntry]:
        """Return the journal of one apply run, in order."""
        from sqlalchemy import select

        with self._read() as conn:
            rows = conn.execute(
                select(apply_actions_t)
                .where(apply_actions_t.c.run_id == run_id)
                .order_by(apply_actions_t.c.id)
            ).all()
        return [
            JournalEntry(
                id=r.id,
                run_id=r.run_id,
                address=r.address,
                action=r.action,
                status=r.status,
                detail=r.detail,
                upid=r.upid,
                at=r.at,
            )
            for r in rows
        ]

    # ------------------------------------------------------------------ workspace lock

    def lock_info(self, name: str) -> LockInfo | None:
        """Return who holds a workspace lock per the lock row (None: nobody)."""
        from sqlalchemy import select

        with self._read() as conn:
            row = conn.execute(select(locks_t).where(locks_t.c.name == name)).first()
        if row is None:
            return None
        return LockInfo(name=row.name, holder=row.holder, pid=row.pid, host=row.host, since=row.since)

    def _schema_key(self, name: str) -> int:
        from sqlalchemy import text

        with self._read() as conn:
            schema = conn.execute(text("SELECT current_schema()")).scalar()
        return _advisory_key(f"pmpc:workspace:{schema}:{name}")

    def _held_error(self, name: str, timeout: float) -> Conflict:
        info = self.lock_info(name)
        if info is None and self.dialect == "postgresql":
            # The holder names itself in the lock row just after it takes the advisory lock: a loser of a
            # close race gives that row a moment to appear, so the error can say who holds the lock.
            settle = time.monotonic() + HOLDER_ROW_GRACE_SECONDS
            while info is None and time.monotonic() < settle:
                time.sleep(LOCK_POLL_SECONDS)
                info = self.lock_info(name)
        waited = f"gave up after {timeout:g}s" if timeout else "not waiting (--lock-timeout 0)"
        if info is None:
            return Conflict(f"The workspace lock {name!r} is held by another pmpc session; {waited}.")
        hint = " That process is no longer running:" if info.holder_gone() else " If that process is gone,"
        return Conflict(
            f"The workspace lock {name!r} is held by {info.describe()}; {waited}.{hint} "
            "release the lock with `pmpc state unlock`.",
            details=info.model_dump(mode="json"),
        )

    @contextmanager
    def workspace_lock(
        self, name: str, holder: str, timeout: float, on_wait: Callable[[LockInfo | None], None] | None = None
    ) -> Iterator[LockInfo]:
        """Hold the workspace lock `name` for the enclosed block, waiting up to `timeout` seconds.

        PostgreSQL: a session advisory lock keyed by a hash of the name (freed if the process dies), plus the
        lock row naming the holder. SQLite: the lock row, taken in an immediate transaction.

        `on_wait(holder or None)` is called once when the lock is busy and the caller is going to wait.

        Raises:
            Conflict: another holder kept it for the whole timeout (exit 7).
        """
        waiting = _Waiter(self, name, timeout, on_wait)
        info = LockInfo(name=name, holder=holder, pid=os.getpid(), host=socket.gethostname(), since=utcnow())
        token = uuid.uuid4().hex
        row = {**info.model_dump(), "token": token}
        deadline = time.monotonic() + max(0.0, timeout)
        if self.dialect == "postgresql":
            with self._advisory_session(name, timeout, deadline, waiting):
                info.since = row["since"] = utcnow()
                self._upsert(locks_t, [row], ("name",))
                try:
                    yield info
                finally:
                    self._drop_lock_row(name, token)
            return
        while not self._try_lock_row(row):
            if time.monotonic() >= deadline:
                raise self._held_error(name, timeout)
            waiting.notify()
            time.sleep(LOCK_POLL_SECONDS)
        try:
            yield info
        except BaseException:
            # The first error is the one to report: a release that fails too (the disk that filled up
            # fails the DELETE as well) leaves a row whose process is gone, which the next taker expires.
            self._drop_lock_row(name, token, quiet=True)
            raise
        self._drop_lock_row(name, token)

    def _try_lock_row(self, row: dict[str, Any]) -> bool:
        from sqlalchemy import delete, insert, select

        with self.transaction() as conn:
            held = conn.execute(
                select(locks_t.c.holder, locks_t.c.pid, locks_t.c.host, locks_t.c.since).where(
                    locks_t.c.name == row["name"]
                )
            ).first()
            if held is not None:
                holder = LockInfo(name=row["name"], holder=held[0], pid=held[1], host=held[2], since=held[3])
                if not holder.holder_gone():
                    return False
                # Its process ended without releasing it (killed, or the release itself failed): expire it.
                conn.execute(delete(locks_t).where(locks_t.c.name == row["name"]))
            row["since"] = utcnow()
            conn.execute(insert(locks_t).values(row))
            return True

    def _drop_lock_row(self, name: str, token: str, *, quiet: bool = False) -> None:
        from sqlalchemy import delete

        try:
            with self.transaction() as conn:
                conn.execute(delete(locks_t).where(locks_t.c.name == name, locks_t.c.token == token))
        except PmpcError:
            # PostgreSQL: the advisory lock is released anyway; a stale row is overwritten later.
            if self.dialect != "postgresql" and not quiet:
                raise

    @contextmanager
    def _advisory_session(
        self, name: str, timeout: float, deadline: float, waiting: _Waiter
    ) -> Iterator[None]:
        from sqlalchemy import func, select
        from sqlalchemy.exc import SQLAlchemyError

        key = self._schema_key(name)
        with self._guard():
            conn = self.engine.connect()
        try:
            with self._guard():
                while True:
                    got = conn.execute(select(func.pg_try_advisory_lock(key))).scalar()
                    conn.commit()
                    if got:
                        break
                    if time.monotonic() >= deadline:
                        raise self._held_error(name, timeout)
                    waiting.notify()
                    time.sleep(LOCK_POLL_SECONDS)
            try:
                yield
            finally:
                try:
                    conn.execute(select(func.pg_advisory_unlock(key)))
                    conn.commit()
                except SQLAlchemyError:
                    pass  # the session is gone (`pmpc state unlock` ended it), and its lock with it
        finally:
            conn.close()

    def force_unlock(self, name: str) -> LockInfo | None:
        """Release a workspace lock whatever holds it (a crashed or hung holder); return what held it.

        On PostgreSQL a session still holding the advisory lock is terminated.
        """
        from sqlalchemy import delete, text

        info = self.lock_info(name)
        if self.dialect == "postgresql":
            key = self._schema_key(name)
            unsigned = key & 0xFFFFFFFFFFFFFFFF
            with self.transaction() as conn:
                pids = (
                    conn.execute(
                        text(
                            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                            "AND classid::bigint = :hi AND objid::bigint = :lo AND objsubid = 1 "
                            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                        ),
                        {"hi": unsigned >> 32, "lo": unsigned & 0xFFFFFFFF},
                    )
                    .scalars()
                    .all()
                )
                for pid in pids:
                    conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
                if info is None and pids:
                    info = LockInfo(
                        name=name,
                        holder="another pmpc session",
                        pid=int(pids[0]),
                        host="database server",
                        since=utcnow(),
                    )
            # A terminated backend lets go of its locks a moment later: return once it has.
            deadline = time.monotonic() + UNLOCK_WAIT_SECONDS
            while pids and self.advisory_lock_held(name) and time.monotonic() < deadline:
                time.sleep(LOCK_POLL_SECONDS)
        with self.transaction() as conn:
            conn.execute(delete(locks_t).where(locks_t.c.name == name))
        return info

    def advisory_lock_held(self, name: str) -> bool:
        """Return True when a PostgreSQL session holds the workspace's advisory lock (SQLite: False)."""
        from sqlalchemy import func, select

        if self.dialect != "postgresql":
            return False
        key = self._schema_key(name)
        with self._guard(), self.engine.connect() as conn:
            got = conn.execute(select(func.pg_try_advisory_lock(key))).scalar()
            if got:
                conn.execute(select(func.pg_advisory_unlock(key)))
            conn.commit()
        return not got

    # ------------------------------------------------------------------ manifest cache

    def cached_manifests(self, prefix: str) -> dict[str, tuple[int, int, str, str]]:
        """Return the cached manifest files under a directory prefix: path -> (size, mtime_ns, format, body)."""
        from sqlalchemy import select

        t = manifest_cache_t
        query = select(t.c.path, t.c.size, t.c.mtime_ns, t.c.format, t.c.body).where(
            t.c.path >= prefix, t.c.path < _prefix_end(prefix)
        )
        with self._read() as conn:
            return {row[0]: (int(row[1]), int(row[2]), row[3], row[4]) for row in conn.execute(query)}

    def save_manifest_cache(self, prefix: str, rows: Sequence[dict[str, Any]], keep: Iterable[str]) -> None:
        """Store parsed manifest files (path, size, mtime_ns, format, body); forget the others under `prefix`."""
        from sqlalchemy import delete

        t = manifest_cache_t
        kept = set(keep) | {row["path"] for row in rows}
        with self.transaction() as conn:
            stale = [
                path
                for (path,) in conn.execute(
                    t.select().with_only_columns(t.c.path).where(t.c.path >= prefix, t.c.path < _prefix_end(prefix))
                )
                if path not in kept
            ]
            for start in range(0, len(stale), 500):
                conn.execute(delete(t).where(t.c.path.in_(stale[start : start + 500])))
            self._upsert(t, rows, ["path"])


def _prefix_end(prefix: str) -> str:
    """Return the smallest string greater than every string that starts with `prefix`."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1) if prefix else "\U0010ffff"


class _Waiter:
    """Tell the caller, once, that the lock is busy and we are waiting for it."""

    def __init__(
        self, store: Store, name: str, timeout: float, on_wait: Callable[[LockInfo | None], None] | None
    ) -> None:
        self.store, self.name, self.timeout, self.on_wait = store, name, timeout, on_wait
        self.told = False

    def notify(self) -> None:
        if self.told or self.on_wait is None or self.timeout <= 0:
            return
        self.told = True
        self.on_wait(self.store.lock_info(self.name))


def open_store(url: str, *, upgrade: bool = True) -> Store:
    """Open the state database at `url`, migrating it to the newest schema unless told not to.

    Raises:
        StateError: the database cannot be reached, created or migrated.
    """
    from sqlalchemy.exc import SQLAlchemyError

    url = normalise_url(url)
    engine = create_engine_for(url)
    store = Store(engine, url)
    try:
        if upgrade:
            store.upgrade()
    except SQLAlchemyError as exc:
        engine.dispose()
        raise StateError(describe_db_error(exc, url)) from exc
    except BaseException:
        engine.dispose()
        raise
    return store
