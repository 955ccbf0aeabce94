"""The store's plumbing: one transaction per operation, rollbacks, errors as StateError."""

from __future__ import annotations

import pytest
from tests.unit.state.rows import CLUSTER, T0, guest_row

from proxmox_mpc.errors import PmpcError
from proxmox_mpc.state.store import Store


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

def test_errors_are_state_errors(store: Store):
    cid = store.cluster_id(CLUSTER, create=True)
    with pytest.raises(PmpcError) as info:
        store.upsert_guests(cid, [guest_row(101, name=None)])  # NOT NULL
    assert info.value.kind == "state" and "cannot be used" in info.value.message
