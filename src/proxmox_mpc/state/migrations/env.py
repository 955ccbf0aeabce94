"""Alembic environment: runs on the connection open_store() hands over, or on sqlalchemy.url."""

from __future__ import annotations

from typing import Any

from alembic import context

from proxmox_mpc.state.tables import PREFIX, VERSION_TABLE, metadata


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Leave other applications' tables alone in a shared database."""
    if type_ == "table":
        return bool(name) and str(name).startswith(PREFIX)
    return True


def _run(connection: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata(),
        version_table=VERSION_TABLE,
        include_name=include_name,
        compare_type=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from proxmox_mpc.state.db import create_engine_for

    engine = create_engine_for(str(context.config.get_main_option("sqlalchemy.url")))
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if getattr(context, "config", None) is not None:
    _main()
