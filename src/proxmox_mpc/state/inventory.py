"""The cluster's inventory in the store: guests, nodes and storages, kept after deletion (deleted_at)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from proxmox_mpc.state.records import GuestRecord, NodeRecord, StorageRecord, from_row, guest_record
from proxmox_mpc.state.repository import Repository
from proxmox_mpc.state.tables import guests_t, nodes_t, storages_t

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


class Inventory(Repository):
    """Queries of guests, nodes and storages."""

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
        return [guest_record(r) for r in rows]

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
        return [guest_record(r) for r in rows]

    def upsert_guests(self, cluster_id: int, rows: Sequence[dict[str, Any]]) -> None:
        """Insert or update guests by (cluster, vmid); each row holds every column of GUEST_COLUMNS."""
        self._upsert(guests_t, [{**r, "cluster_id": cluster_id} for r in rows], ("cluster_id", "vmid"))

    def mark_guests_deleted(self, cluster_id: int, vmids: Iterable[int], when: datetime) -> None:
        """Set deleted_at on these guests (kept, not removed: history stays readable)."""
        self._mark_deleted(guests_t, cluster_id, ("vmid",), [{"b_vmid": v} for v in vmids], when)

    def mark_guests_seen(self, cluster_id: int, vmids: Iterable[int], when: datetime) -> None:
        """Set last_seen on these guests (a sync saw them unchanged: nothing else of their rows is rewritten)."""
        self._stamp(guests_t, "last_seen", cluster_id, ("vmid",), [{"b_vmid": v} for v in vmids], when)

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
            for kind, status, template, count in conn.execute(query):
                bucket = counts.setdefault(kind, {})
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
        return [from_row(NodeRecord, r) for r in rows]

    def upsert_nodes(self, cluster_id: int, rows: Sequence[dict[str, Any]]) -> None:
        """Insert or update nodes by (cluster, name)."""
        self._upsert(nodes_t, [{**r, "cluster_id": cluster_id} for r in rows], ("cluster_id", "name"))

    def mark_nodes_deleted(self, cluster_id: int, names: Iterable[str], when: datetime) -> None:
        """Set deleted_at on nodes that left the cluster."""
        self._mark_deleted(nodes_t, cluster_id, ("name",), [{"b_name": n} for n in names], when)

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
        return [from_row(StorageRecord, r, content=[c for c in str(r["content"] or "").split(",") if c]) for r in rows]

    def upsert_storages(self, cluster_id: int, rows: Sequence[dict[str, Any]]) -> None:
        """Insert or update storages by (cluster, node, name)."""
        self._upsert(
            storages_t, [{**r, "cluster_id": cluster_id} for r in rows], ("cluster_id", "node", "name")
        )

    def mark_storages_deleted(self, cluster_id: int, keys: Iterable[tuple[str, str]], when: datetime) -> None:
        """Set deleted_at on storages (node, name) no longer seen."""
        params = [{"b_node": n, "b_name": s} for n, s in keys]
        self._mark_deleted(storages_t, cluster_id, ("node", "name"), params, when)
