"""Resources of non-guest kinds in the state store: current rows, their drift history, and which pmpc created.

One of the query families state/store.py joins into Store: every kind in the registry that is not a guest
keeps its normalised data here, keyed by cluster, kind and address.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from proxmox_mpc.state.records import ResourceChangeRecord, ResourceRecord, resource_record
from proxmox_mpc.state.repository import Repository
from proxmox_mpc.state.tables import CreatedResourceRow, ResourceChangeRow, ResourceRow, table, utcnow

resources_t = table(ResourceRow)
resource_changes_t = table(ResourceChangeRow)
created_resources_t = table(CreatedResourceRow)
__all__ = ["ResourceChangeRecord", "ResourceRecord", "ResourceStore"]


class ResourceStore(Repository):
    """The queries of non-guest resources."""

    def current_resources(
        self, cluster: str, *, kind: str | None = None, include_deleted: bool = False
    ) -> list[ResourceRecord]:
        """Return the cluster's resources (of one kind, or all; non-deleted unless asked), by address."""
        from sqlalchemy import select

        cid = self._cid(cluster)
        if cid is None:
            return []
        query = select(resources_t).where(resources_t.c.cluster_id == cid)
        if kind is not None:
            query = query.where(resources_t.c.kind == kind)
        if not include_deleted:
            query = query.where(resources_t.c.deleted_at.is_(None))
        with self._read() as conn:
            rows = conn.execute(query.order_by(resources_t.c.kind, resources_t.c.address)).all()
        return [resource_record(r) for r in rows]

    def upsert_resources(self, cluster_id: int, rows: Sequence[dict[str, Any]]) -> None:
        """Insert or update resources by (cluster, kind, address): kind, address, data, first/last seen."""
        keys = ("cluster_id", "kind", "address")
        full = [{**r, "cluster_id": cluster_id, "deleted_at": None} for r in rows]
        if full:
            stmt = self._insert(resources_t)
            # first_seen stays what the first sync recorded.
            columns = [c for c in full[0] if c not in (*keys, "first_seen")]
            stmt = stmt.on_conflict_do_update(index_elements=list(keys), set_={c: stmt.excluded[c] for c in columns})
            with self.transaction() as conn:
                conn.execute(stmt, full)

    def mark_resources_deleted(
        self, cluster_id: int, keys: Iterable[tuple[str, str]], when: datetime
    ) -> None:
        """Set deleted_at on these (kind, address) resources (kept: their history stays readable)."""
        params = [{"b_kind": k, "b_address": a} for k, a in keys]
        self._mark_deleted(resources_t, cluster_id, ("kind", "address"), params, when)

    def add_resource_changes(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert resource history rows as one executemany."""
        from sqlalchemy import insert

        if rows:
            with self.transaction() as conn:
                conn.execute(insert(resource_changes_t), list(rows))

    def resource_history(self, cluster: str, address: str, *, limit: int | None = None) -> list[ResourceChangeRecord]:
        """Return the history of one resource, oldest first (the newest `limit` rows)."""
        from sqlalchemy import select

        t = resource_changes_t
        newest = select(t).where(t.c.cluster_id == self._cid(cluster), t.c.address == address)
        with self._read() as conn:
            rows = conn.execute(newest.order_by(t.c.id.desc()).limit(limit or None)).all()
        return [ResourceChangeRecord.model_validate(r, from_attributes=True) for r in reversed(rows)]

    def record_created_resource(self, cluster: str, kind: str, address: str, run_id: int | None) -> None:
        """Remember that pmpc created a resource (a replace's create too)."""
        stmt = self._insert(created_resources_t)
        with self.transaction() as conn:
            cid = self.cluster_id(cluster, create=True)
            row = {"cluster_id": cid, "kind": kind, "address": address, "run_id": run_id, "created_at": utcnow()}
            conn.execute(
                stmt.values(row).on_conflict_do_update(
                    index_elements=["cluster_id", "address"],
                    set_={k: row[k] for k in ("kind", "run_id", "created_at")},
                )
            )

    def forget_created_resource(self, cluster: str, address: str) -> None:
        """Forget a resource pmpc created once it is deleted (someone may make one of that name again)."""
        from sqlalchemy import delete

        cid = self._cid(cluster)
        if cid is None:
            return
        with self.transaction() as conn:
            conn.execute(
                delete(created_resources_t).where(
                    created_resources_t.c.cluster_id == cid, created_resources_t.c.address == address
                )
            )

    def created_resources(self, cluster: str) -> set[str]:
        """Return the address of every resource pmpc created on a cluster and has not deleted."""
        from sqlalchemy import select

        cid = self._cid(cluster)
        if cid is None:
            return set()
        with self._read() as conn:
            rows = conn.execute(
                select(created_resources_t.c.address).where(created_resources_t.c.cluster_id == cid)
            )
            return {str(r.address) for r in rows}
