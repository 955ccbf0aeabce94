"""The apply journal: apply and destroy runs, each action they took, and the guests pmpc created."""

from __future__ import annotations

import os
import socket
from typing import Any

from proxmox_mpc.state.common import unfinished_replaces
from proxmox_mpc.state.processes import process_gone, process_start
from proxmox_mpc.state.records import ApplyRunRecord, JournalEntry, from_row
from proxmox_mpc.state.repository import Repository
from proxmox_mpc.state.tables import apply_actions_t, apply_runs_t, clusters_t, created_t, utcnow


class Journal(Repository):
    """Queries of apply runs, their journal and the guests pmpc created."""

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

        query = select(apply_runs_t, clusters_t.c.key).join(
            clusters_t, clusters_t.c.id == apply_runs_t.c.cluster_id
        )
        if cluster is not None:
            query = query.where(clusters_t.c.key == cluster)
        if workspace is not None:
            query = query.where(apply_runs_t.c.workspace == workspace)
        with self._read() as conn:
            rows = conn.execute(query.order_by(apply_runs_t.c.id.desc()).limit(limit)).all()
        return [_apply_run_record(r) for r in rows]

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
        cid = self._cid(cluster)
        if cid is None:
            return {}
        return unfinished_replaces(self._replace_steps(cid, runs))

    def _replace_steps(self, cid: int, runs: int) -> list[Any]:
        """Return the replace, delete, create and clone steps of a cluster's newest `runs` apply runs."""
        from sqlalchemy import select

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
                return []
            return list(
                conn.execute(
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
            )

    def journal(self, run_id: int) -> list[JournalEntry]:
        """Return the journal of one apply run, in order."""
        from sqlalchemy import select

        with self._read() as conn:
            rows = conn.execute(
                select(apply_actions_t)
                .where(apply_actions_t.c.run_id == run_id)
                .order_by(apply_actions_t.c.id)
            ).all()
        return [from_row(JournalEntry, r) for r in rows]

    # ------------------------------------------------------------------ guests pmpc created

    def record_created(self, cluster: str, kind: str, vmid: int, name: str, run_id: int | None) -> None:
        """Remember that pmpc created a guest (`vm` or `ct`; a replace's create too)."""
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
        """Return (kind, vmid) of every guest pmpc created on a cluster and has not deleted (`vm`/`ct`)."""
        from sqlalchemy import select

        cid = self._cid(cluster)
        if cid is None:
            return set()
        with self._read() as conn:
            rows = conn.execute(select(created_t.c.kind, created_t.c.vmid).where(created_t.c.cluster_id == cid))
            return {(str(r.kind), int(r.vmid)) for r in rows}


def _apply_run_record(row: Any) -> ApplyRunRecord:
    # A run still `running` whose process is gone was interrupted (kill -9, power loss).
    running_gone = row.status == "running" and process_gone(row.pid, row.host, row.process_start)
    return from_row(ApplyRunRecord, row, cluster=row.key, status="interrupted" if running_gone else row.status)
