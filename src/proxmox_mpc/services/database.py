"""Where the invocation's state database is, and opening it (read-write with migration, or read-only).

services/state.py (show, history, drift, status) and services/sync.py both build on this module.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from proxmox_mpc.config import read_workspace_file, user_state_dir
from proxmox_mpc.context import AppContext
from proxmox_mpc.errors import PmpcError
from proxmox_mpc.locations import STATE_DIR, STATE_FILE

if TYPE_CHECKING:
    from proxmox_mpc.state.lite import LiteStore
    from proxmox_mpc.state.store import Store


def database_url(app_ctx: AppContext) -> str:
    """Return the state database URL: PMPC_DATABASE_URL, else the workspace's, else the per-user one."""
    from proxmox_mpc.state.db import sqlite_url

    configured = app_ctx.settings.database_url
    if configured:
        return configured
    if app_ctx.workspace is not None:
        return sqlite_url(Path(app_ctx.workspace) / STATE_DIR / STATE_FILE)
    return sqlite_url(user_state_dir() / STATE_FILE)


def open_app_store(app_ctx: AppContext) -> Store:
    """Open (and migrate) the invocation's state database.

    Raises:
        StateError: the database cannot be reached, created or migrated.
    """
    from proxmox_mpc.state.store import open_store

    store = open_store(database_url(app_ctx))
    try:
        # An apply killed mid-run (kill -9, power loss) left its run `running`: say what it is.
        store.mark_interrupted_runs()
    except PmpcError:
        pass  # a read-only database: the journal view still tells interrupted runs apart
    return store


def open_sync_store(app_ctx: AppContext) -> Store | LiteStore:
    """Open the state database for a sync's writes: through sqlite3 alone when it is a SQLite file at the
    current schema or a new one (no SQLAlchemy, no SQLModel tables loaded), else as `open_app_store` does.

    Raises:
        StateError: the database cannot be reached, created or migrated.
    """
    from proxmox_mpc.state.lite import create_lite, open_lite

    url = database_url(app_ctx)
    return open_lite(url) or create_lite(url) or open_app_store(app_ctx)


def open_store_readonly(app_ctx: AppContext) -> Store | None:
    """Open the state database without writing to it: None when there is none yet (a dry run's view).

    Raises:
        StateError: it exists but needs a migration (`pmpc state upgrade`), or cannot be read.
    """
    from proxmox_mpc.errors import StateError
    from proxmox_mpc.state.db import dialect_of
    from proxmox_mpc.state.store import open_store

    url = database_url(app_ctx)
    if dialect_of(url) == "sqlite":
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if path and path != ":memory:" and not Path(path).exists():
            return None
    store = open_store(url, upgrade=False)
    try:
        revision = store.revision()
        if revision is None:
            store.close()
            return None
        if not store.at_head():
            raise StateError(
                f"The state database {store.url} needs a schema upgrade (it is at {revision}): "
                "run `pmpc state upgrade`."
            )
    except BaseException:
        store.close()
        raise
    return store


def open_state_reader(app_ctx: AppContext) -> LiteStore | Store | None:
    """Open the state database for an offline plan's reads: through sqlite3 alone when it is a SQLite file
    at the current schema (no SQLAlchemy to import), else as `open_store_readonly` does.

    Raises:
        StateError: it exists but needs a migration (`pmpc state upgrade`), or cannot be read.
    """
    from proxmox_mpc.state.lite import open_lite_reader

    return open_lite_reader(database_url(app_ctx)) or open_store_readonly(app_ctx)


def cluster_key(app_ctx: AppContext) -> str:
    """Return the key the store files this cluster under: host:port of the API.

    Raises:
        ConfigError: no host is configured.
    """
    return app_ctx.settings.base_url.split("://", 1)[1]


def workspace_lock_name(app_ctx: AppContext) -> str:
    """Return the workspace lock's name: `name` in pmpc.yaml, else the directory name; outside: `default`."""
    if app_ctx.workspace is None:
        return "default"
    data = read_workspace_file(Path(app_ctx.workspace))
    return str(data.get("name") or Path(app_ctx.workspace).name)
