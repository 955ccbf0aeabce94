"""The Store facade: one object answers every query family, on SQLite and PostgreSQL."""

from __future__ import annotations

from proxmox_mpc.state.store import Store


def test_unknown_cluster_reads_are_empty(store: Store):
    assert store.current_guests("nope:1") == []
    assert store.history("nope:1", 1) == []
    assert store.guest_counts("nope:1") == {}
    assert store.last_sync("nope:1") is None
