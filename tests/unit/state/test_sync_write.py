"""What a sync writes for its guests: a guest stored just as it is now only gets its last_seen refreshed;
a changed, new or returning one is written whole. Through the SQLAlchemy store (SQLite and PostgreSQL)
and through sqlite3 alone (state/lite.py), with the same result."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.unit.services.test_sync_diff import T0, live
from tests.unit.state.rows import CLUSTER

from proxmox_mpc.services.sync import ClusterSnapshot, diff_guests, write_snapshot
from proxmox_mpc.state.lite import LiteStore, open_lite
from proxmox_mpc.state.store import Store, open_store

T1 = T0 + timedelta(hours=1)


@pytest.fixture
def lite_store(tmp_path: Path) -> Iterator[LiteStore]:
    url = f"sqlite:///{tmp_path / 'lite.db'}"
    open_store(url).close()  # created and migrated
    lite = open_lite(url)
    assert lite is not None
    try:
        yield lite
    finally:
        lite.close()


def sync_once(store: Any, guests: list[Any], now: Any) -> list[list[int]]:
    """Write one sync of `guests` at `now`; return the vmids each upsert_guests call wrote whole."""
    written: list[list[int]] = []
    real = store.upsert_guests

    def spy(cluster_id: int, rows: Any) -> None:
        written.append([r["vmid"] for r in rows])
        real(cluster_id, rows)

    store.upsert_guests = spy
    try:
        with store.transaction():
            cid = store.cluster_id(CLUSTER, create=True)
            previous = store.current_guests(CLUSTER, include_deleted=True)
            changes = diff_guests(previous, guests)
            run_id = store.start_sync_run(cid, None, now)
            snapshot = ClusterSnapshot(cluster_name=None, nodes=[], storages=[], guests=guests)
            write_snapshot(store, cid, snapshot, previous, changes, run_id, now)
    finally:
        del store.upsert_guests
    return written


def unchanged_guests_only_get_their_last_seen(any_store: Any) -> None:
    assert sync_once(any_store, [live(101), live(102, name="db-1"), live(103, name="gone")], T0) == [
        [101, 102, 103]
    ]
    # 101 unchanged, 102 changed, 103 deleted, 104 new.
    again = [live(101), live(102, name="db-1", config={"cores": 4, "memory": 2048}), live(104, name="new")]
    assert sync_once(any_store, again, T1) == [[102, 104]]
    current = {g.vmid: g for g in any_store.current_guests(CLUSTER, include_deleted=True)}
    assert {v: g.last_seen for v, g in current.items()} == {101: T1, 102: T1, 103: T0, 104: T1}
    assert {v: g.first_seen for v, g in current.items()} == {101: T0, 102: T0, 103: T0, 104: T1}
    assert current[101].config == {"cores": 2, "memory": 2048} and current[101].digest == "abc"
    assert current[102].config == {"cores": 4, "memory": 2048}
    assert current[103].deleted_at == T1 and current[104].deleted_at is None


def a_guest_that_comes_back_is_written_whole(any_store: Any) -> None:
    sync_once(any_store, [live(101)], T0)
    sync_once(any_store, [], T0 + timedelta(minutes=1))
    assert sync_once(any_store, [live(101)], T1) == [[101]]
    (back,) = any_store.current_guests(CLUSTER)
    assert back.deleted_at is None and back.first_seen == T1 and back.last_seen == T1


def test_unchanged_guests_only_get_their_last_seen(store: Store) -> None:
    unchanged_guests_only_get_their_last_seen(store)


def test_unchanged_guests_only_get_their_last_seen_through_sqlite3(lite_store: LiteStore) -> None:
    unchanged_guests_only_get_their_last_seen(lite_store)


def test_a_guest_that_comes_back_is_written_whole(store: Store) -> None:
    a_guest_that_comes_back_is_written_whole(store)


def test_a_guest_that_comes_back_is_written_whole_through_sqlite3(lite_store: LiteStore) -> None:
    a_guest_that_comes_back_is_written_whole(lite_store)
