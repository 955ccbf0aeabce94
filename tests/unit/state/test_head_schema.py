"""A new SQLite state database made through sqlite3 (state/lite.py `create_lite`) is the one the
migrations make: the same schema, statement for statement, at the same revision."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from proxmox_mpc.state import lite, migrations
from proxmox_mpc.state.basics import HEAD
from proxmox_mpc.state.head_schema import STATEMENTS
from proxmox_mpc.state.store import open_store


def schema(path: Path) -> list[str]:
    """The statements SQLite keeps of a database's schema, in the order they were made, each on one line
    with single spaces (as state/head_schema.py lays them out or as SQLAlchemy wrote them: the same)."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid")
        return [" ".join(sql.split()) for (sql,) in rows]


def made_beside(directory: Path) -> list[str]:
    """The files besides the database and SQLite's own (-wal, -shm) in its directory."""
    return [p.name for p in directory.iterdir() if p.name.partition("-")[0] != "state.db"]


def test_the_statements_are_the_schema_the_migrations_make(tmp_path):
    open_store(f"sqlite:///{tmp_path / 'migrated.db'}").close()
    with sqlite3.connect(tmp_path / "migrated.db") as conn:
        made = [sql for (sql,) in conn.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid")]
    listed = "\n\n".join(made)
    assert [" ".join(s.split()) for s in STATEMENTS] == schema(tmp_path / "migrated.db"), (
        "state/head_schema.py is not the schema the migrations make: lay out these statements there, in "
        f"this order:\n\n{listed}"
    )


def test_a_created_database_is_the_migrated_one(tmp_path):
    url = f"sqlite:///{tmp_path / 'new' / 'state.db'}"
    store = lite.create_lite(url)
    assert store is not None
    try:
        assert store.revision() == HEAD
    finally:
        store.close()
    open_store(f"sqlite:///{tmp_path / 'migrated.db'}").close()
    assert schema(tmp_path / "new" / "state.db") == schema(tmp_path / "migrated.db")
    assert made_beside(tmp_path / "new") == []  # nothing of the making left beside it
    with sqlite3.connect(tmp_path / "new" / "state.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    # The store opens it at its revision, and finds the tables of the models there.
    reopened = open_store(url)
    try:
        assert reopened.revision() == HEAD
        with reopened.transaction() as conn:
            assert migrations.compare(conn) == []
    finally:
        reopened.close()


@pytest.mark.parametrize("url", ["postgresql+psycopg://u@h/db", "sqlite:///:memory:", "sqlite:///file:x?mode=ro"])
def test_only_a_new_sqlite_file_is_created_so(url):
    assert lite.create_lite(url) is None


def test_an_existing_file_is_left_to_open_or_migrate(tmp_path):
    (tmp_path / "state.db").write_bytes(b"")
    assert lite.create_lite(f"sqlite:///{tmp_path / 'state.db'}") is None
    assert (tmp_path / "state.db").read_bytes() == b""


def test_a_database_another_process_created_meanwhile_is_opened(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'db' / 'state.db'}"
    link = os.link

    def first_another(source: str | Path, target: str | Path) -> None:
        other = open_store(url)  # another process's first sync, created through the migrations
        other.cluster_id("theirs:8006", create=True)
        other.close()
        link(source, target)

    monkeypatch.setattr(lite.os, "link", first_another)
    store = lite.create_lite(url)
    assert store is not None
    try:
        assert store.cluster_id("theirs:8006") is not None
    finally:
        store.close()
    assert made_beside(tmp_path / "db") == []


def test_a_file_system_without_hard_links_leaves_it_to_the_store(tmp_path, monkeypatch):
    def refused(source: str | Path, target: str | Path) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(lite.os, "link", refused)
    assert lite.create_lite(f"sqlite:///{tmp_path / 'db' / 'state.db'}") is None
    assert list((tmp_path / "db").iterdir()) == []


def test_first_syncs_started_together_each_open_one_whole_store(tmp_path):
    # Four processes create the same new store at once: each opens it at HEAD, one file is left.
    url = f"sqlite:///{tmp_path / 'db' / 'state.db'}"
    code = (
        "import sys, time\nfrom proxmox_mpc.state import lite\n"
        "time.sleep(max(0.0, float(sys.argv[2]) - time.time()))\n"  # all four start at the same moment
        "store = lite.create_lite(sys.argv[1])\n"
        "if store is None:\n    store = lite.open_lite(sys.argv[1])\nprint(store.revision())\nstore.close()\n"
    )
    start = str(time.time() + 3)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, url, start], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
        )
        for _ in range(4)
    ]
    results = [(p.communicate(timeout=60), p.returncode) for p in procs]
    assert [(out.decode().strip(), rc) for (out, _), rc in results] == [(HEAD, 0)] * 4, results
    assert made_beside(tmp_path / "db") == []
    assert schema(tmp_path / "db" / "state.db") == [" ".join(s.split()) for s in STATEMENTS]
