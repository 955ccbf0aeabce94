"""The alembic migrations build exactly the SQLModel tables, on open, once, on both backends."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import text

from proxmox_mpc.errors import StateError
from proxmox_mpc.state import migrations
from proxmox_mpc.state.store import open_store
from proxmox_mpc.state.tables import TABLES

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
# The revision before guests were stored by pmpc's kind (vm/ct) rather than PVE's type (qemu/lxc).
BEFORE_KINDS = "0004"
OLD_GUESTS = [
    {"vmid": 101, "kind": "qemu", "name": "web", "t": T0},
    {"vmid": 201, "kind": "lxc", "name": "dns", "t": T0},
]


def test_the_head_constant_is_alembics_head():
    assert migrations.head_revision() == migrations.HEAD


def test_models_and_migrations_agree(store):
    with store.transaction() as conn:
        differences = migrations.compare(conn)
    assert differences == []


def test_compare_would_see_a_missing_column(store):
    # Proves the comparison above can fail: drop an index behind alembic's back.
    with store.transaction() as conn:
        conn.execute(text("DROP INDEX ix_pmpc_changes_cluster_vmid"))
        differences = migrations.compare(conn)
    assert any(d[0] == "add_index" and d[1].name == "ix_pmpc_changes_cluster_vmid" for d in differences)


def test_open_store_upgrades_to_head_and_is_idempotent(state_url):
    first = open_store(state_url, upgrade=False)
    try:
        assert first.revision() is None and not first.at_head()
        assert first.upgrade() == (None, migrations.head_revision())
        assert first.upgrade() == (migrations.head_revision(), migrations.head_revision())
    finally:
        first.close()
    again = open_store(state_url)
    try:
        assert again.at_head()
        with again.transaction() as conn:
            names = {t.__tablename__ for t in TABLES}
            for name in names:
                conn.execute(text(f"SELECT count(*) FROM {name}")).scalar_one()
    finally:
        again.close()


def test_a_newer_database_is_refused(store, state_url):
    with store.transaction() as conn:
        conn.execute(text("UPDATE pmpc_alembic_version SET version_num = '9999'"))
    with pytest.raises(StateError, match="newer than this pmpc knows"):
        open_store(state_url)


def test_unreachable_database_is_a_state_error_without_the_password():
    with pytest.raises(StateError) as info:
        open_store("postgresql+psycopg://pmpc:hunter2@127.0.0.1:9/db")
    assert "hunter2" not in str(info.value) and "********" in str(info.value)


def test_unsupported_url_is_refused():
    with pytest.raises(StateError, match="Unsupported state database"):
        open_store("mysql://u:p@h/db")


def _a_database_before_kinds(state_url: str) -> None:
    """Build the schema as pmpc wrote it before 0005 and fill it the way that pmpc did (PVE's qemu/lxc)."""
    old = open_store(state_url, upgrade=False)
    try:
        with old.transaction() as conn:
            migrations.upgrade(conn, BEFORE_KINDS)
            conn.execute(
                text("INSERT INTO pmpc_clusters (id, key, created_at) VALUES (1, 'pve:8006', :t)"), {"t": T0}
            )
            conn.execute(
                text(
                    "INSERT INTO pmpc_guests (cluster_id, vmid, kind, node, name, status, tags, template, cpus, "
                    "memory, disk_size, config, first_seen, last_seen) VALUES "
                    "(1, :vmid, :kind, 'pve1', :name, 'running', '', false, 1, 0, 0, '{}', :t, :t)"
                ),
                OLD_GUESTS,
            )
            conn.execute(
                text(
                    "INSERT INTO pmpc_sync_runs (id, cluster_id, started_at, status, guests, added, changed, "
                    "deleted, requests) VALUES (1, 1, :t, 'ok', 2, 2, 0, 0, 3)"
                ),
                {"t": T0},
            )
            conn.execute(
                text(
                    "INSERT INTO pmpc_changes (cluster_id, sync_run_id, vmid, kind, guest_name, change, field, "
                    "changed_at) VALUES (1, 1, :vmid, :kind, :name, 'add', '', :t)"
                ),
                OLD_GUESTS,
            )
            conn.execute(
                text(
                    "INSERT INTO pmpc_created_guests (cluster_id, vmid, kind, name, created_at) "
                    "VALUES (1, 201, 'lxc', 'dns', :t)"
                ),
                {"t": T0},
            )
        assert old.revision() == BEFORE_KINDS
    finally:
        old.close()


def test_upgrading_an_older_database_stores_guest_kinds_as_vm_and_ct(state_url):
    _a_database_before_kinds(state_url)
    store = open_store(state_url)
    try:
        assert store.revision() == migrations.HEAD
        with store.transaction() as conn:
            for table, expected in (
                ("pmpc_guests", [(101, "vm"), (201, "ct")]),
                ("pmpc_changes", [(101, "vm"), (201, "ct")]),
                ("pmpc_created_guests", [(201, "ct")]),
            ):
                kinds = conn.execute(text(f"SELECT vmid, kind FROM {table} ORDER BY vmid")).all()
                assert [tuple(row) for row in kinds] == expected, table
        guests = store.current_guests("pve:8006")
        assert [(g.ref, g.kind, g.type, g.name) for g in guests] == [
            ("vm/101", "vm", "qemu", "web"),
            ("ct/201", "ct", "lxc", "dns"),
        ]
        assert [(h.kind, h.name) for h in store.history("pve:8006", 201)] == [("ct", "dns")]
        assert store.created_guests("pve:8006") == {("ct", 201)}
        assert store.guest_counts("pve:8006") == {"vm": {"running": 1}, "ct": {"running": 1}}
    finally:
        store.close()


def test_the_guest_kind_migration_goes_back_down(state_url):
    from alembic import command

    _a_database_before_kinds(state_url)
    store = open_store(state_url)
    try:
        with store.transaction() as conn:
            command.downgrade(migrations.alembic_config(conn), BEFORE_KINDS)
            kinds = conn.execute(text("SELECT vmid, kind FROM pmpc_guests ORDER BY vmid")).all()
            created = conn.execute(text("SELECT kind FROM pmpc_created_guests")).scalars().all()
        assert [tuple(row) for row in kinds] == [(101, "qemu"), (201, "lxc")]
        assert created == ["lxc"]
        assert store.revision() == BEFORE_KINDS
    finally:
        store.close()
