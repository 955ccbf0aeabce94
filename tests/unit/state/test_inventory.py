"""Guests, nodes and storages on SQLite and PostgreSQL: upserts, deletion marks, counts, types."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tests.unit.state.rows import BIG, CLUSTER, T0, guest_row

from proxmox_mpc.state.store import Store


def test_upsert_inserts_then_updates_in_one_statement(store: Store):
    cid = store.cluster_id(CLUSTER, create=True, name="lab", context="ctx")
    assert cid is not None and store.cluster_id(CLUSTER) == cid
    store.upsert_guests(cid, [guest_row(101), guest_row(102, kind="ct", name="ct-102")])
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

def test_bulk_upsert_of_many_guests(store: Store):
    cid = store.cluster_id(CLUSTER, create=True)
    rows = [guest_row(1000 + i) for i in range(2000)]
    store.upsert_guests(cid, rows)
    store.upsert_guests(cid, [guest_row(1000 + i, status="stopped") for i in range(2000)])
    guests = store.current_guests(CLUSTER)
    assert len(guests) == 2000 and {g.status for g in guests} == {"stopped"}
