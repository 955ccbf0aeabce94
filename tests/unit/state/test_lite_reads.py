"""`plan --offline`'s reads through sqlite3 alone (state/lite.py) return what `Store` returns, record for record."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.unit.state.rows import CLUSTER, T0, guest_row

from proxmox_mpc.state.lite import LiteStore, open_lite, open_lite_reader
from proxmox_mpc.state.store import Store, open_store

OTHER = "other.example.org:8006"


def node(name: str, **over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "name": name, "status": "online", "cpus": 8, "memory_total": 2**35, "disk_total": 2**40,
        "ssl_fingerprint": None, "first_seen": T0, "last_seen": T0, "deleted_at": None,
    }
    return {**row, **over}


def storage(node_name: str, name: str, **over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "node": node_name, "name": name, "type": "lvmthin", "content": "images,rootdir", "shared": False,
        "enabled": True, "active": True, "total": 2**40, "used": 2**30, "available": 2**39,
        "first_seen": T0, "last_seen": T0, "deleted_at": None,
    }
    return {**row, **over}


@pytest.fixture
def filled(tmp_path: Path) -> Iterator[tuple[str, Store]]:
    """A current SQLite store with a synced cluster, apply runs, created guests and resources, and cached files."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    store = open_store(url)
    cid = store.cluster_id(CLUSTER, create=True, name="lab")
    assert cid is not None
    store.upsert_nodes(cid, [node("pve1"), node("pve2"), node("pve9")])
    store.mark_nodes_deleted(cid, ["pve9"], T0)
    storages = [storage("pve1", "local-lvm"), storage("pve2", "nas", content=""), storage("pve2", "old")]
    store.upsert_storages(cid, storages)
    store.mark_storages_deleted(cid, [("pve2", "old")], T0)
    store.upsert_guests(cid, [guest_row(101), guest_row(102, kind="ct", tags="a;b", template=True), guest_row(103)])
    store.mark_guests_deleted(cid, [103], T0)
    store.upsert_resources(
        cid,
        [
            {"kind": "pool", "address": "pool/prod", "data": {"comment": "x", "members": [1, 2]},
             "first_seen": T0, "last_seen": T0},
            {"kind": "pool", "address": "pool/gone", "data": {}, "first_seen": T0, "last_seen": T0},
        ],
    )
    store.mark_resources_deleted(cid, [("pool", "pool/gone")], T0)
    for status in ("ok", "failed"):
        run = store.start_sync_run(cid, "/srv/infra", T0)
        store.finish_sync_run(run, status=status, guests=3, added=1, requests=9)
    replaced = store.start_apply_run(CLUSTER, None, None)
    store.journal_action(replaced, "vm/web", "replace", "started", None)
    store.journal_action(replaced, "vm/web", "delete", "ok", None)
    store.journal_action(replaced, "vm/db", "replace", "started", None)
    store.journal_action(replaced, "vm/db", "delete", "started", None, upid="UPID:pve1:x")
    store.journal_action(replaced, "vm/db", "clone", "ok", None)
    store.record_created(CLUSTER, "vm", 101, "vm-101", replaced)
    store.record_created(CLUSTER, "ct", 102, "ct-102", None)
    store.record_created_resource(CLUSTER, "pool", "pool/prod", replaced)
    rows = [
        {"path": f"/ws/resources/vms/{n}.yaml", "size": 10 + i, "mtime_ns": 2**62 + i, "format": "f1", "body": "[]"}
        for i, n in enumerate(("a", "b", "c"))
    ]
    store.save_manifest_cache("/ws/resources/", rows, [])
    store.save_manifest_cache("/other/", [{**rows[0], "path": "/other/x.yaml"}], [])
    try:
        yield url, store
    finally:
        store.close()


def reads(store: LiteStore | Store, cluster: str) -> dict[str, object]:
    return {
        "last_sync": store.last_sync(cluster),
        "guests": store.current_guests(cluster),
        "nodes": store.nodes(cluster),
        "storages": store.storages(cluster),
        "all nodes": store.nodes(cluster, include_deleted=True),
        "all storages": store.storages(cluster, include_deleted=True),
        "resources": store.current_resources(cluster),
        "created": store.created_guests(cluster),
        "created resources": store.created_resources(cluster),
        "unfinished": store.unfinished_replaces(cluster),
        "cache": store.cached_manifests("/ws/resources/"),
    }


def test_the_sqlite3_reader_reads_what_the_store_reads(filled):
    url, store = filled
    reader = open_lite_reader(url)
    assert reader is not None
    try:
        for cluster in (CLUSTER, OTHER):
            assert reads(reader, cluster) == reads(store, cluster)
        mine = reads(reader, CLUSTER)
    finally:
        reader.close()
    # Not vacuous: every read found something, deleted rows only where asked.
    assert mine["unfinished"] == {"vm/web": 1} and mine["created"] == {("vm", 101), ("ct", 102)}
    assert [n.name for n in mine["nodes"]] == ["pve1", "pve2"]  # type: ignore[attr-defined]
    assert len(mine["all storages"]) == 3 and len(mine["cache"]) == 3  # type: ignore[arg-type]
    assert mine["last_sync"].status == "ok" and mine["last_sync"].requests == 9  # type: ignore[attr-defined]


def test_the_sqlite3_reader_keeps_the_manifest_cache_as_the_store_does(filled):
    url, store = filled
    reader = open_lite_reader(url)
    assert reader is not None
    row = {"path": "/ws/resources/vms/d.yaml", "size": 5, "mtime_ns": 7, "format": "f2", "body": '["x"]'}
    try:
        reader.save_manifest_cache("/ws/resources/", [row], ["/ws/resources/vms/a.yaml"])
    finally:
        reader.close()
    assert store.cached_manifests("/ws/resources/") == {
        "/ws/resources/vms/a.yaml": (10, 2**62, "f1", "[]"),
        "/ws/resources/vms/d.yaml": (5, 7, "f2", '["x"]'),
    }
    assert list(store.cached_manifests("/other/")) == ["/other/x.yaml"]  # another directory's entries stay


def test_a_database_we_may_not_write_is_read_and_its_cache_left_alone(filled, monkeypatch):
    from proxmox_mpc.errors import StateError
    from proxmox_mpc.state import lite

    url, store = filled
    expected = reads(store, CLUSTER)
    store.close()  # the last writer is gone: its WAL is in the file (an immutable open reads the file only)
    opened: list[bool] = []
    real = lite.LiteStore

    def spy(path: Path, url: str, *, read_only: bool = False) -> LiteStore:
        opened.append(read_only)
        return real(path, url, read_only=read_only)

    monkeypatch.setattr(lite, "LiteStore", spy)
    monkeypatch.setattr(lite.os, "access", lambda path, mode: False)  # a read-only mount, even for root
    reader = open_lite_reader(url)
    assert reader is not None and opened == [True]
    try:
        assert reads(reader, CLUSTER) == expected
        with pytest.raises(StateError, match="cannot be used"):
            reader.save_manifest_cache("/ws/resources/", [], [])
    finally:
        reader.close()


def test_other_databases_are_left_to_the_store(tmp_path):
    assert open_lite_reader(f"sqlite:///{tmp_path / 'none.db'}") is None  # no such file
    (tmp_path / "empty.db").write_bytes(b"")
    assert open_lite_reader(f"sqlite:///{tmp_path / 'empty.db'}") is None  # no schema yet
    (tmp_path / "junk.db").write_bytes(b"not a database" * 100)
    assert open_lite_reader(f"sqlite:///{tmp_path / 'junk.db'}") is None  # Store says what is wrong
    assert open_lite_reader("postgresql+psycopg://u@127.0.0.1:1/db") is None
    assert open_lite_reader("sqlite:///:memory:") is None


def test_guests_read_as_of_a_version_stay_trusted_until_another_connection_commits(filled):
    url, _ = filled
    store = open_lite(url)
    other = open_lite(url)
    assert store is not None and other is not None
    try:
        guests, version = store.guests_as_of(CLUSTER)
        assert [g.vmid for g in guests] == [101, 102, 103]  # the deleted one too
        cid = store.cluster_id(CLUSTER)
        assert cid is not None
        with store.transaction():  # its own writes leave the version where it was
            store.mark_guests_seen(cid, [101], T0)
            assert store.unchanged_since(version)
        assert store.unchanged_since(version)
        other.mark_guests_deleted(cid, [101], T0)  # another connection's commit moves it
        assert not store.unchanged_since(version)
        again, moved = store.guests_as_of(CLUSTER)
        assert store.unchanged_since(moved)
        assert next(g for g in again if g.vmid == 101).deleted_at is not None
    finally:
        store.close()
        other.close()
