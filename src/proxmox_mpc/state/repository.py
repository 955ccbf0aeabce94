"""The store's plumbing: one database's engine, its transactions, upserts, schema level and cluster ids.

The query families (inventory, history, journal, locks, manifest cache) extend `Repository`; state/store.py
joins them into the one `Store`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from proxmox_mpc.config import redact_url
from proxmox_mpc.errors import StateError
from proxmox_mpc.state import migrations
from proxmox_mpc.state.db import IMMEDIATE, describe_db_error, dialect_of
from proxmox_mpc.state.tables import clusters_t, utcnow

if TYPE_CHECKING:
    from sqlalchemy import Table
    from sqlalchemy.engine import Connection, Engine

# A fixed key: two processes migrating one PostgreSQL database at once take turns.
MIGRATION_LOCK_KEY = 0x706D7063_00000001


def advisory_key(text: str) -> int:
    """Return a signed 64-bit key for pg_advisory_lock from a name."""
    digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class Repository:
    """One database: connections, transactions, bulk upserts, the schema level and the clusters table."""

    def __init__(self, engine: Engine, url: str) -> None:
        self.engine = engine
        self._url = url
        self.url = redact_url(url)
        self.dialect = dialect_of(url)
        self._conn: Connection | None = None
        self._cluster_ids: dict[str, int] = {}

    # ------------------------------------------------------------------ plumbing

    def close(self) -> None:
        """Release the connection pool."""
        self.engine.dispose()

    @contextmanager
    def _guard(self) -> Iterator[None]:
        from sqlalchemy.exc import SQLAlchemyError

        try:
            yield
        except SQLAlchemyError as exc:
            raise StateError(describe_db_error(exc, self._url)) from exc

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """Run the enclosed store calls in one transaction (committed on success, rolled back on error).

        Raises:
            StateError: the database failed.
        """
        if self._conn is not None:
            yield self._conn
            return
        try:
            with (
                self._guard(),
                self.engine.connect().execution_options(**{IMMEDIATE: True}) as conn,
                conn.begin(),
            ):
                self._conn = conn
                try:
                    yield conn
                finally:
                    self._conn = None
        except BaseException:
            # Rows created in the rolled-back transaction (a new cluster) are gone: forget their ids.
            self._cluster_ids.clear()
            raise

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        if self._conn is not None:
            yield self._conn
            return
        with self._guard(), self.engine.connect() as conn, conn.begin():
            yield conn

    def _insert(self, table: Table) -> Any:
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return pg_insert(table)
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table)

    def _upsert(self, table: Table, rows: Sequence[dict[str, Any]], keys: Sequence[str]) -> None:
        """INSERT ... ON CONFLICT (keys) DO UPDATE every other column, as one executemany."""
        if not rows:
            return
        stmt = self._insert(table)
        columns = [c for c in rows[0] if c not in keys]
        stmt = stmt.on_conflict_do_update(
            index_elements=list(keys), set_={c: stmt.excluded[c] for c in columns}
        )
        with self.transaction() as conn:
            conn.execute(stmt, list(rows))

    def _mark_deleted(
        self, table: Table, cluster_id: int, keys: Sequence[str], params: list[dict[str, Any]], when: datetime
    ) -> None:
        """Set deleted_at on a cluster's rows matching each parameter set (`b_<key>` per key column)."""
        self._stamp(table, "deleted_at", cluster_id, keys, params, when)

    def _stamp(
        self,
        table: Table,
        column: str,
        cluster_id: int,
        keys: Sequence[str],
        params: list[dict[str, Any]],
        when: datetime,
    ) -> None:
        """Set the time `column` of a cluster's rows matching each parameter set (`b_<key>` per key column)."""
        from sqlalchemy import bindparam, update

        if not params:
            return
        stmt = (
            update(table)
            .where(table.c.cluster_id == cluster_id, *(table.c[k] == bindparam(f"b_{k}") for k in keys))
            .values({column: when})
        )
        with self.transaction() as conn:
            conn.execute(stmt, params)

    # ------------------------------------------------------------------ schema

    def revision(self) -> str | None:
        """Return the alembic revision the database is at (None: empty database)."""
        with self._read() as conn:
            return migrations.current_revision(conn)

    def upgrade(self) -> tuple[str | None, str]:
        """Migrate to the newest revision; return (revision before, revision now).

        Raises:
            StateError: the database is newer than this pmpc, or cannot be migrated.
        """
        before = self.revision()
        if before == migrations.HEAD:
            return before, before  # current: no need to load alembic
        head = migrations.head_revision()
        self._check_known(before)
        if before == head:
            return before, head
        from sqlalchemy import func, select

        with self.transaction() as conn:
            if self.dialect == "postgresql":
                conn.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK_KEY)))
            before = migrations.current_revision(conn)
            self._check_known(before)
            if before != head:
                migrations.upgrade(conn)
        return before, head

    def _check_known(self, revision: str | None) -> None:
        if revision is not None and revision not in migrations.known_revisions():
            raise StateError(
                f"The state database {self.url} is at revision {revision}, newer than this pmpc knows "
                f"(newest: {migrations.head_revision()}): upgrade pmpc."
            )

    def at_head(self) -> bool:
        """Return True when the schema is current."""
        return self.revision() == migrations.HEAD

    # ------------------------------------------------------------------ clusters

    def cluster_id(
        self, cluster: str, *, create: bool = False, name: str | None = None, context: str | None = None
    ) -> int | None:
        """Return the id of a cluster key (host:port), creating the row when asked."""
        from sqlalchemy import select

        if cluster in self._cluster_ids and not create:
            return self._cluster_ids[cluster]
        if create:
            row = {"key": cluster, "name": name, "context": context, "created_at": utcnow()}
            stmt = self._insert(clusters_t).values(row)
            update = {k: v for k, v in (("name", name), ("context", context)) if v is not None}
            stmt = (
                stmt.on_conflict_do_update(index_elements=["key"], set_=update)
                if update
                else stmt.on_conflict_do_nothing(index_elements=["key"])
            )
            with self.transaction() as conn:
                conn.execute(stmt)
        with self._read() as conn:
            found = conn.execute(select(clusters_t.c.id).where(clusters_t.c.key == cluster)).scalar()
        if found is not None:
            self._cluster_ids[cluster] = int(found)
        return None if found is None else int(found)

    def _cid(self, cluster: str) -> int | None:
        return self.cluster_id(cluster)

    def lock_cluster(self, cluster_id: int) -> None:
        """Serialise writers of one cluster's rows until the current transaction ends (PostgreSQL)."""
        from sqlalchemy import func, select

        with self.transaction() as conn:
            if self.dialect == "postgresql":
                conn.execute(select(func.pg_advisory_xact_lock(advisory_key(f"pmpc:cluster:{cluster_id}"))))
