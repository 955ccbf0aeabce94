"""Sync's sqlite3 write path (state/lite.py) writes what the SQLAlchemy store writes, row for row.

The same syncs of the fixture cluster, as it changes, go into three databases: SQLite through sqlite3
alone (created through it too), SQLite through `Store` (the sqlite3 path turned off: created by the
migrations), and PostgreSQL through `Store`. The two SQLite files must hold the same rows, value for
value and type for type (timestamps only differ in time); the PostgreSQL store must read back the same
records.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from proxmox_mpc.state import lite

STAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}")


def dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the sync's tables: values with their SQLite types, timestamps checked then masked."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with sqlite3.connect(path) as conn:
        for table in lite.TABLES:
            cursor = conn.execute(f"SELECT * FROM {table} ORDER BY 1")
            names = [d[0] for d in cursor.description]
            rows = []
            for row in cursor:
                masked = []
                for name, value in zip(names, row, strict=True):
                    if name in lite.TIMESTAMPS and value is not None:
                        assert STAMP.fullmatch(value), (table, name, value)
                        value = "<time>"
                    masked.append((name, type(value).__name__, value))
                rows.append(tuple(masked))
            out[table] = rows
    return out


def records(cli: Any) -> list[Any]:
    """What the store reads back: every guest (deleted ones too), each guest's history, the resources."""
    shown = cli("state", "show", "--all", "-o", "json")
    assert shown.exit_code == 0, shown.output
    guests = json.loads(shown.stdout)
    history = [json.loads(cli("state", "history", str(g["vmid"]), "-o", "json").stdout) for g in guests]
    status = json.loads(cli("status", "-o", "json").stdout)
    found = json.dumps([guests, history, status["last_sync_guests"]], sort_keys=True)
    return json.loads(re.sub(r'"\d{4}-\d\d-\d\dT[^"]*"', '"<time>"', found))


def test_the_sqlite3_path_writes_what_the_store_writes(cluster, cli, tmp_path, monkeypatch):
    from tests.helpers.postgres import require_server, schema_url

    opened: list[str] = []
    real_open, real_create = lite.open_lite, lite.create_lite

    def spy(url: str) -> lite.LiteStore | None:
        store = real_open(url)
        if store is not None:
            opened.append(url)
        return store

    lite_file, orm_file = tmp_path / "lite.db", tmp_path / "orm.db"
    with schema_url(require_server()) as pg_url:
        targets = {"lite": f"sqlite:///{lite_file}", "orm": f"sqlite:///{orm_file}", "postgresql": pg_url}

        def through(name: str) -> None:
            # The sqlite3 path for the one, `Store` alone for the others (a new file too: migrated).
            monkeypatch.setenv("PMPC_DATABASE_URL", targets[name])
            monkeypatch.setattr(lite, "open_lite", spy if name == "lite" else lambda url: None)
            monkeypatch.setattr(lite, "create_lite", real_create if name == "lite" else lambda url: None)

        def sync_all() -> None:
            for name in targets:
                through(name)
                result = cli("sync")
                assert result.exit_code == 0, (name, result.output)

        sync_all()  # the SQLite file of the sqlite3 path is created through it (state/head_schema.py)
        assert opened == [targets["lite"]]
        cluster.vm(101).config["memory"] = 4096
        cluster.vm(102).config["tags"] = "prod;web;blue"
        cluster.vms.remove(cluster.vm(104))
        sync_all()
        cluster.set_node_offline("pve3")
        sync_all()
        cluster.fail("GET", "/nodes/pve1/qemu/101/config", 500, "boom")
        for name in targets:  # a failed sync is recorded as failed, nothing else written
            through(name)
            assert cli("sync").exit_code == 1
        assert opened == [targets["lite"]] * 4

        assert dump(lite_file) == dump(orm_file)
        read_back = {}
        for name, url in targets.items():
            monkeypatch.setenv("PMPC_DATABASE_URL", url)
            read_back[name] = records(cli)
        assert read_back["lite"] == read_back["orm"] == read_back["postgresql"]
        assert any(h["change"] == "delete" for hs in read_back["lite"][1] for h in hs)


def test_the_sqlite3_path_names_the_tables_columns_and_types_of_the_schema():
    from sqlalchemy import JSON, Boolean

    from proxmox_mpc.state.basics import HEAD
    from proxmox_mpc.state.migrations import head_revision
    from proxmox_mpc.state.tables import UTCDateTime, metadata

    assert head_revision() == HEAD
    tables = metadata().tables
    assert set(lite.TABLES) <= set(tables)
    for table in lite.TABLES:
        for column in tables[table].columns:
            assert isinstance(column.type, UTCDateTime) == (column.name in lite.TIMESTAMPS), column
            assert isinstance(column.type, JSON) == (column.name in lite.JSON_COLUMNS), column
            assert isinstance(column.type, Boolean) == (column.name in lite.BOOLEANS), column


@pytest.mark.parametrize(
    "url",
    ["postgresql+psycopg://u@h/db", "sqlite:///:memory:", "sqlite:///file:x?mode=ro", "sqlite:///{missing}"],
)
def test_a_database_the_sqlite3_path_cannot_write_goes_through_the_store(url, tmp_path):
    assert lite.open_lite(url.format(missing=tmp_path / "none.db")) is None


def test_a_database_behind_the_schema_goes_through_the_store(tmp_path):
    from proxmox_mpc.state.store import open_store

    url = f"sqlite:///{tmp_path / 'state.db'}"
    open_store(url).close()
    current = lite.open_lite(url)
    assert current is not None
    current.close()
    with sqlite3.connect(tmp_path / "state.db") as conn:
        conn.execute("UPDATE pmpc_alembic_version SET version_num = '0004'")
    assert lite.open_lite(url) is None


def test_a_write_that_lands_while_the_cluster_is_read_is_what_the_sync_diffs_against(
    cluster, cli, tmp_path, monkeypatch
):
    """The stored guests are read beside the cluster's reads; a commit by another connection after that read
    (another workspace's sync of the same database, say) makes the sync read them again in its transaction."""
    import asyncio

    from proxmox_mpc.services import sync as sync_service

    path = tmp_path / "state.db"
    monkeypatch.setenv("PMPC_DATABASE_URL", f"sqlite:///{path}")
    assert cli("sync").exit_code == 0  # created by Store: the next syncs take the sqlite3 path
    reads: list[str] = []
    real_as_of, real_current = lite.LiteStore.guests_as_of, lite.LiteStore.current_guests

    def as_of(self: lite.LiteStore, key: str) -> Any:
        reads.append("beside")
        return real_as_of(self, key)

    def current(self: lite.LiteStore, key: str, **kw: Any) -> Any:
        reads.append("current")
        return real_current(self, key, **kw)

    monkeypatch.setattr(lite.LiteStore, "guests_as_of", as_of)
    monkeypatch.setattr(lite.LiteStore, "current_guests", current)
    assert cli("sync").exit_code == 0
    assert reads == ["beside", "current"]  # nobody wrote meanwhile: the guests read beside the reads stand

    real_read = sync_service.read_live

    async def read_then_rename(app_ctx: Any, builder: Any = None) -> Any:
        snapshot = await real_read(app_ctx, builder)
        while "beside" not in reads:  # the stored guests have been read ...
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        with sqlite3.connect(path) as conn:  # ... then another connection renames 101 in the store
            conn.execute("UPDATE pmpc_guests SET name = 'renamed-meanwhile' WHERE vmid = 101")
        return snapshot

    reads.clear()
    monkeypatch.setattr(sync_service, "read_live", read_then_rename)
    result = cli("sync", "-o", "json")
    assert result.exit_code == 0, result.output
    assert reads == ["beside", "current", "current"]  # read again inside the transaction
    changes = json.loads(result.stdout)["changes"]
    live_name = cluster.vm(101).config["name"]
    assert [(c["vmid"], c["field"], c["old"], c["new"]) for c in changes] == [
        (101, "name", "renamed-meanwhile", live_name)
    ]
