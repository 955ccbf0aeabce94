"""The alembic migrations build exactly the SQLModel tables, on open, once, on both backends."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from proxmox_mpc.errors import StateError
from proxmox_mpc.state import migrations
from proxmox_mpc.state.store import open_store
from proxmox_mpc.state.tables import TABLES


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
