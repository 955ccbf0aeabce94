"""Sync runs and the change history on SQLite and PostgreSQL."""

from __future__ import annotations

from tests.unit.state.rows import CLUSTER, T0

from proxmox_mpc.state.store import Store


def test_sync_runs_and_history(store: Store):
    cid = store.cluster_id(CLUSTER, create=True)
    assert store.last_sync(CLUSTER) is None
    with store.transaction():
        run = store.start_sync_run(cid, "/ws", T0)
        store.add_changes(
            [
                {
                    "cluster_id": cid,
                    "sync_run_id": run,
                    "vmid": 101,
                    "kind": "vm",
                    "guest_name": "web-1",
                    "change": "add",
                    "field": "",
                    "old": None,
                    "new": None,
                    "changed_at": T0,
                },
                {
                    "cluster_id": cid,
                    "sync_run_id": run,
                    "vmid": 101,
                    "kind": "vm",
                    "guest_name": "web-1",
                    "change": "change",
                    "field": "config.memory",
                    "old": "2048",
                    "new": "4096",
                    "changed_at": T0,
                },
                {
                    "cluster_id": cid,
                    "sync_run_id": run,
                    "vmid": 201,
                    "kind": "ct",
                    "guest_name": "dns",
                    "change": "add",
                    "field": "",
                    "old": None,
                    "new": None,
                    "changed_at": T0,
                },
            ]
        )
        store.finish_sync_run(run, status="ok", guests=2, added=2, requests=7)
    store.record_failed_sync(CLUSTER, "/ws", T0, "network down")
    last = store.last_sync(CLUSTER)
    assert last is not None and (last.id, last.status, last.guests, last.requests) == (run, "ok", 2, 7)
    assert [r.status for r in store.sync_runs(CLUSTER)] == ["failed", "ok"]
    history = store.history(CLUSTER, 101)
    assert [(h.change, h.field, h.old, h.new, h.kind) for h in history] == [
        ("add", "", None, None, "vm"),
        ("change", "config.memory", "2048", "4096", "vm"),
    ]
    assert [h.field for h in store.history(CLUSTER, 101, limit=1)] == ["config.memory"]
    assert store.history(CLUSTER, 201)[0].kind == "ct"
    assert len(store.history(CLUSTER, 101)) + len(store.history(CLUSTER, 201)) == 3
