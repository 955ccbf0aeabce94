"""Sync runs and the change history they wrote: what pmpc saw change on a cluster, field by field."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from proxmox_mpc.state.common import record_failed_sync
from proxmox_mpc.state.records import ChangeRecord, SyncRunRecord, from_row
from proxmox_mpc.state.repository import Repository
from proxmox_mpc.state.tables import changes_t, sync_runs_t, utcnow


class History(Repository):
    """Queries of sync runs and history rows."""

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
        return record_failed_sync(self, cluster, workspace, started_at, error)

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
        return [from_row(SyncRunRecord, r, cluster=cluster) for r in rows]

    def add_changes(self, rows: Sequence[dict[str, Any]]) -> None:
        """Insert history rows (every column of pmpc_changes but the id) as one executemany."""
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
        return [from_row(ChangeRecord, r, name=r.guest_name) for r in reversed(rows)]
