"""Names for shell completion, read straight from the state database: no ORM, no migration, no network.

A <TAB> starts a fresh process, so this reads SQLite with the standard library only (a few milliseconds);
another database goes through SQLAlchemy. The table names are those of state/tables.py (a test checks).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from proxmox_mpc.core.identity import guest_kind, is_api_guest_type

GUESTS_SQL = "SELECT vmid, kind, name, tags, pool, config FROM pmpc_guests WHERE deleted_at IS NULL"
NODES_SQL = "SELECT DISTINCT name FROM pmpc_nodes WHERE deleted_at IS NULL"
STORAGES_SQL = "SELECT DISTINCT name FROM pmpc_storages WHERE deleted_at IS NULL"


@dataclass
class StoredGuest:
    vmid: int
    kind: str  # vm | ct
    name: str
    tags: list[str]
    pool: str | None
    snapshot: str | None  # the guest's current snapshot (`parent` in its config)


@dataclass
class StoredNames:
    """Every live name the store knows, over all the clusters it holds."""

    guests: list[StoredGuest] = field(default_factory=list)
    nodes: list[str] = field(default_factory=list)
    storages: list[str] = field(default_factory=list)


def read_names(url: str) -> StoredNames:
    """Return the names in the state database at `url`; empty when there is none (never raises)."""
    try:
        rows = _read_sqlite(url) if url.startswith("sqlite") else _read_other(url)
    except Exception:  # completion must never fail the shell: a missing or old database offers nothing
        return StoredNames()
    guests, nodes, storages = rows
    return StoredNames(
        guests=[_guest(row) for row in guests],
        nodes=sorted({str(r[0]) for r in nodes}),
        storages=sorted({str(r[0]) for r in storages}),
    )


def _read_sqlite(url: str) -> tuple[list[Any], list[Any], list[Any]]:
    path = url.split(":///", 1)[1] if ":///" in url else ""
    if not path or not Path(path).is_file():
        return [], [], []
    # Read-only: completing a word never creates, migrates or locks the database.
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=0.2) as conn:
        return (
            conn.execute(GUESTS_SQL).fetchall(),
            conn.execute(NODES_SQL).fetchall(),
            conn.execute(STORAGES_SQL).fetchall(),
        )


def _read_other(url: str) -> tuple[list[Any], list[Any], list[Any]]:
    from sqlalchemy import text

    from proxmox_mpc.state.db import create_engine_for

    engine = create_engine_for(url)
    try:
        with engine.connect() as conn:
            return (
                list(conn.execute(text(GUESTS_SQL))),
                list(conn.execute(text(NODES_SQL))),
                list(conn.execute(text(STORAGES_SQL))),
            )
    finally:
        engine.dispose()


def _kind(stored: str) -> str:
    """Return a stored guest kind as vm/ct: a database not upgraded yet (completion never migrates) says qemu/lxc."""
    return guest_kind(stored) if is_api_guest_type(stored) else stored


def _guest(row: Any) -> StoredGuest:
    vmid, kind, name, tags, pool, config = row
    if isinstance(config, str):
        try:
            config = json.loads(config)
        except ValueError:
            config = {}
    parent = config.get("parent") if isinstance(config, dict) else None
    return StoredGuest(
        vmid=int(vmid),
        kind=_kind(str(kind)),
        name=str(name),
        tags=[t for t in str(tags or "").split(";") if t],
        pool=pool or None,
        snapshot=str(parent) if parent else None,
    )
