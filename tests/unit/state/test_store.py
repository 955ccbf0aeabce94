"""The repository on SQLite and PostgreSQL: upserts, deletion marks, history, journal, types."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from proxmox_mpc.errors import PmpcError
from proxmox_mpc.state.store import Store

CLUSTER = "pve.example.org:8006"
T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
BIG = 5 * 1024**4  # 5 TiB: more than 32 bits


def guest_row(vmid: int, **over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "vmid": vmid,
        "kind": "qemu",
        "node": "pve1",
        "name": f"vm-{vmid}",
        "status": "running",
        "tags": "web",
        "pool": None,
        "template": False,
        "lock": None,
        "cpus": 2.0,
        "memory": 2 * 1024**3,
        "disk_size": BIG,
        "config": {"cores": 2, "memory": "2048", "net0": "virtio=BC:24:11:00:00:01,bridge=vmbr0"},
        "digest": f"d{vmid}",
        "first_seen": T0,
        "last_seen": T0,
        "deleted_at": None,
    }
    row.update(over)
    return row


def test_upsert_inserts_then_updates_in_one_statement(store: Store):
    cid = store.cluster_id(CLUSTER, create=True, name="lab", context="ctx")
    assert cid is not None and store.cluster_id(CLUSTER) == cid
    store.upsert_guests(cid, [guest_row(101), guest_row(102, kind="lxc", name="ct-102")])
    later = T0 + timedelta(hours=1)
    store.upsert_guests(
        cid, [guest_row(101, name="web-1", status="stopped", last_seen=later, config={"cores": 4})]
    )
    guests = store.current_guests(CLUSTER)
    assert [(g.ref, g.name, g.status) for g in guests] == [
        ("vm/101", "web-1", "stopped"),
        ("ct/102", "ct-102", "running"),
    ]
    web = guests[0]
    assert web.config == {"cores": 4} and web.digest == "d101"
    assert web.first_seen == T0 and web.last_seen == later
    assert web.disk_size == BIG and web.tags == ["web"]
    assert web.first_seen.tzinfo is not None and web.first_seen.utcoffset() == timedelta(0)


def test_naive_and_other_zone_timestamps_are_stored_as_utc(store: Store):
    cid = store.cluster_id(CLUSTER, create=True)
    plus2 = timezone(timedelta(hours=2))
    store.upsert_guests(
        cid,
        [
            guest_row(
                101,
                first_seen=datetime(2026, 1, 2, 5, 4, 5, tzinfo=plus2),
                last_seen=datetime(2026, 1, 2, 3, 4, 5),
            )
        ],
    )
    (guest,) = store.current_guests(CLUSTER)
    assert guest.first_seen == T0 and guest.last_seen == T0
    assert guest.first_seen.tzinfo == timezone.utc


def test_deleted_guests_are_kept_but_not_current(store: Store):
    cid = store.cluster_id(CLUSTER, create=True)
    store.upsert_guests(cid, [guest_row(101), guest_row(102)])
    store.mark_guests_deleted(cid, [102], T0)
    assert [g.vmid for g in store.current_guests(CLUSTER)] == [101]
    everything = store.current_guests(CLUSTER, include_deleted=True)
    assert [(g.vmid, g.deleted_at) for g in everything] == [(101, None), (102, T0)]
    assert [g.vmid for g in store.find_guests(CLUSTER, "vm-102")] == [102]
    assert [g.vmid for g in store.find_guests(CLUSTER, "101")] == [101]
    assert store.guest_counts(CLUSTER) == {"vm": {"running": 1}}


def test_a_failed_transaction_leaves_everything_as_it_was(store: Store):
    cid = store.cluster_id(CLUSTER, create=True)
    store.upsert_guests(cid, [guest_row(101)])
    with pytest.raises(RuntimeError), store.transaction():
        store.upsert_guests(cid, [guest_row(101, name="changed"), guest_row(103)])
        store.mark_guests_deleted(cid, [101], T0)
        raise RuntimeError("network fault mid-sync")
    assert [(g.vmid, g.name, g.deleted_at) for g in store.current_guests(CLUSTER, include_deleted=True)] == [
        (101, "vm-101", None)
    ]


def test_a_cluster_created_in_a_rolled_back_transaction_is_forgotten(store: Store):
    with pytest.raises(RuntimeError), store.transaction():
        assert store.cluster_id("new:8006", create=True) is not None
        raise RuntimeError("boom")
    assert store.cluster_id("new:8006") is None
    run_id = store.record_failed_sync("new:8006", None, T0, "boom")
    assert store.sync_runs("new:8006")[0].id == run_id


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
                    "kind": "qemu",
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
                    "kind": "qemu",
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
                    "kind": "lxc",
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
    assert store.count_changes(CLUSTER) == 3


def test_nodes_and_storages_with_big_byte_counts(store: Store):
    cid = store.cluster_id(CLUSTER, create=True)
    store.upsert_nodes(
        cid,
        [
            {
                "name": "pve1",
                "status": "online",
                "cpus": 64,
                "memory_total": BIG,
                "disk_total": BIG * 3,
                "ssl_fingerprint": None,
                "first_seen": T0,
                "last_seen": T0,
                "deleted_at": None,
            }
        ],
    )
    store.upsert_storages(
        cid,
        [
            {
                "node": "pve1",
                "name": "ceph",
                "type": "rbd",
                "content": "images,rootdir",
                "shared": True,
                "enabled": True,
                "active": True,
                "total": BIG * 100,
                "used": BIG,
                "available": BIG * 99,
                "first_seen": T0,
                "last_seen": T0,
                "deleted_at": None,
            }
        ],
    )
    (node,) = store.nodes(CLUSTER)
    (storage,) = store.storages(CLUSTER)
    assert node.disk_total == BIG * 3 and storage.total == BIG * 100
    assert storage.content == ["images", "rootdir"] and storage.shared is True
    store.mark_storages_deleted(cid, [("pve1", "ceph")], T0)
    store.mark_nodes_deleted(cid, ["pve1"], T0)
    assert store.nodes(CLUSTER) == [] and store.storages(CLUSTER) == []
    assert store.nodes(CLUSTER, include_deleted=True)[0].deleted_at == T0


def test_apply_journal(store: Store):
    run_id = store.start_apply_run(CLUSTER, "/srv/infra", "sha256:abc")
    store.journal_action(
        run_id, "vm/101", "update", "ok", "memory: 2048 -> 4096", upid="UPID:pve1:1:2:3:qmconfig"
    )
    store.journal_action(run_id, "vm/102", "start", "failed", "boom")
    store.finish_apply_run(run_id, "partial")
    (run,) = store.apply_runs(CLUSTER)
    assert (run.id, run.workspace, run.plan_digest, run.status) == (
        run_id,
        "/srv/infra",
        "sha256:abc",
        "partial",
    )
    assert run.finished_at is not None and run.finished_at >= run.started_at
    entries = store.journal(run_id)
    assert [(e.address, e.action, e.status, e.upid) for e in entries] == [
        ("vm/101", "update", "ok", "UPID:pve1:1:2:3:qmconfig"),
        ("vm/102", "start", "failed", None),
    ]
    assert store.apply_runs("other:8006") == [] and store.apply_runs(workspace="/srv/infra")[0].id == run_id


def test_unknown_cluster_reads_are_empty(store: Store):
    assert store.current_guests("nope:1") == []
    assert store.history("nope:1", 1) == []
    assert store.guest_counts("nope:1") == {}
    assert store.last_sync("nope:1") is None


def test_bulk_upsert_of_many_guests(store: Store):
    cid = store.cluster_id(CLUSTER, create=True)
    rows = [guest_row(1000 + i) for i in range(2000)]
    store.upsert_guests(cid, rows)
    store.upsert_guests(cid, [guest_row(1000 + i, status="stopped") for i in range(2000)])
    guests = store.current_guests(CLUSTER)
    assert len(guests) == 2000 and {g.status for g in guests} == {"stopped"}


def test_errors_are_state_errors(store: Store):
    cid = store.cluster_id(CLUSTER, create=True)
    with pytest.raises(PmpcError) as info:
        store.upsert_guests(cid, [guest_row(101, name=None)])  # NOT NULL
    assert info.value.kind == "state" and "cannot be used" in info.value.message
