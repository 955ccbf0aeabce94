"""Completion names read straight from the database: guests by kind, also from a database not yet upgraded."""

from __future__ import annotations

from sqlalchemy import text
from tests.unit.state.rows import CLUSTER, guest_row

from proxmox_mpc.state import migrations
from proxmox_mpc.state.db import sqlite_url
from proxmox_mpc.state.names import read_names
from proxmox_mpc.state.store import open_store


def test_names_of_a_current_database(tmp_path):
    url = sqlite_url(tmp_path / "state.db")
    with open_store(url) as store:
        cid = store.cluster_id(CLUSTER, create=True)
        assert cid is not None
        store.upsert_guests(cid, [guest_row(101, config={"parent": "before"}), guest_row(201, kind="ct", name="dns")])
    names = read_names(url)
    assert [(g.vmid, g.kind, g.name, g.snapshot) for g in names.guests] == [
        (101, "vm", "vm-101", "before"),
        (201, "ct", "dns", None),
    ]


def test_names_of_a_database_completion_has_not_upgraded(tmp_path):
    url = sqlite_url(tmp_path / "state.db")
    with open_store(url, upgrade=False) as store, store.transaction() as conn:
        migrations.upgrade(conn, "0004")  # before guest kinds were stored as vm/ct
        conn.execute(text("INSERT INTO pmpc_clusters (id, key, created_at) VALUES (1, 'c', '2026-01-01')"))
        conn.execute(
            text(
                "INSERT INTO pmpc_guests (cluster_id, vmid, kind, node, name, status, tags, template, cpus, memory, "
                "disk_size, config, first_seen, last_seen) VALUES (1, :vmid, :kind, 'pve1', :name, 'running', "
                "'', 0, 1, 0, 0, '{}', '2026-01-01', '2026-01-01')"
            ),
            [{"vmid": 101, "kind": "qemu", "name": "web"}, {"vmid": 201, "kind": "lxc", "name": "dns"}],
        )
    assert [(g.vmid, g.kind) for g in read_names(url).guests] == [(101, "vm"), (201, "ct")]


def test_no_database_no_names(tmp_path):
    assert read_names(sqlite_url(tmp_path / "missing.db")).guests == []
