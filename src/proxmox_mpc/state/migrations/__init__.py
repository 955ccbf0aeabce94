"""Alembic migrations shipped in the package and run programmatically (no alembic.ini at runtime).

A new revision, for developers: change state/tables.py, then
`python -c "from proxmox_mpc.state.migrations import make_revision; make_revision('what changed')"`
and review the generated file in versions/.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

# HEAD: the newest revision, known without importing alembic (the fast path of every open).
from proxmox_mpc.state.basics import HEAD as HEAD
from proxmox_mpc.state.basics import VERSION_TABLE

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import Connection

HERE = Path(__file__).resolve().parent


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    """Return an alembic Config pointing at these migrations, bound to a connection (or a URL)."""
    from alembic.config import Config

    cfg = Config()
    # ConfigParser interpolates %: escape it in paths and URLs.
    cfg.set_main_option("script_location", str(HERE).replace("%", "%%"))
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["connection"] = connection
    return cfg


@functools.lru_cache(maxsize=1)
def _script() -> Any:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """Return the newest revision these migrations know."""
    head = _script().get_current_head()
    assert head is not None
    return str(head)


def known_revisions() -> set[str]:
    """Return every revision id these migrations know."""
    return {s.revision for s in _script().walk_revisions()}


def current_revision(connection: Connection) -> str | None:
    """Return the revision the database is at (None: never migrated)."""
    from sqlalchemy import inspect, text

    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    rows = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    return str(rows[0]) if len(rows) == 1 else None


def upgrade(connection: Connection, revision: str = "head") -> None:
    """Upgrade the database on this connection (inside the caller's transaction)."""
    from alembic import command

    command.upgrade(alembic_config(connection), revision)


def compare(connection: Connection) -> list[Any]:
    """Return alembic's autogenerate differences between the tables and the database (empty: they agree)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from proxmox_mpc.state.migrations.env import include_name
    from proxmox_mpc.state.tables import metadata

    ctx = MigrationContext.configure(
        connection,
        opts={"version_table": VERSION_TABLE, "include_name": include_name, "compare_type": True},
    )
    return list(compare_metadata(ctx, metadata()))


def make_revision(message: str, url: str = "sqlite:///pmpc-revision.db") -> None:
    """Autogenerate a new revision against a scratch database upgraded to head (developers only)."""
    from alembic import command

    command.revision(alembic_config(url=url), message=message, autogenerate=True)
