"""Sync's write path, and `plan --offline`'s reads, on a SQLite state database, through sqlite3 alone.

A `pmpc sync` into a SQLite database whose schema is current needs neither SQLAlchemy nor the SQLModel
tables (a quarter of a second of imports and 35 MB): `LiteStore` runs the statements `Store` runs for
a sync (state/inventory.py, history.py, resources.py, locks.py, journal.py's open-time check), and
those an offline plan reads (the last sync, the created guests and resources, unfinished replaces, the
manifest cache of state/manifest_cache.py), in SQL written out here, and stores every value as
SQLAlchemy does on SQLite (timestamps as naive UTC text with microseconds, JSON as `json.dumps` text,
booleans as 0/1). state/tables.py stays the one schema: a test checks the columns and types named here
against it, that a sync through either store leaves the same rows, and that both read the same records.
A new SQLite database is created here too, with the schema's statements (state/head_schema.py); one to
migrate, or PostgreSQL, goes through `Store`.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

from proxmox_mpc.config import redact_url
from proxmox_mpc.errors import PmpcError, StateError
from proxmox_mpc.state.basics import HEAD, VERSION_TABLE, prefix_end, utcnow
from proxmox_mpc.state.common import OnWait, lock_row_held, new_lock, record_failed_sync, unfinished_replaces
from proxmox_mpc.state.db import SQLITE_BUSY_TIMEOUT, describe_db_error
from proxmox_mpc.state.processes import process_gone
from proxmox_mpc.state.records import (
    GuestRecord,
    LockInfo,
    NodeRecord,
    ResourceRecord,
    StorageRecord,
    SyncRunRecord,
    from_row,
    guest_record,
    resource_record,
)

# The tables a sync writes, and their columns stored as SQLAlchemy's SQLite types store them (a test
# checks these against state/tables.py).
TABLES = (
    "pmpc_clusters",
    "pmpc_nodes",
    "pmpc_storages",
    "pmpc_guests",
    "pmpc_sync_runs",
    "pmpc_changes",
    "pmpc_resources",
    "pmpc_resource_changes",
    "pmpc_locks",
    "pmpc_apply_runs",
    "pmpc_apply_actions",
    "pmpc_created_guests",
    "pmpc_created_resources",
    "pmpc_manifest_cache",
)
TIMESTAMPS = frozenset(
    {"first_seen", "last_seen", "deleted_at", "created_at", "started_at", "finished_at", "changed_at", "since", "at"}
)
JSON_COLUMNS = frozenset({"config", "data"})
BOOLEANS = frozenset({"template", "shared", "enabled", "active"})


def sqlite_path(url: str) -> Path | None:
    """Return the file of a `sqlite:///PATH` URL (None: another database, or not a plain file)."""
    scheme, sep, path = url.partition(":///")
    if not sep or scheme.split("+", 1)[0] != "sqlite" or not path or path == ":memory:" or path.startswith("file:"):
        return None
    return Path(path).expanduser()


def open_lite(url: str) -> LiteStore | None:
    """Open a SQLite state database for sync's writes when it needs nothing else: an existing file we
    may write, at the current schema (None: use `Store`, which creates, migrates or reaches PostgreSQL).

    Raises:
        StateError: the database cannot be read.
    """
    path = sqlite_path(url)
    if path is None or not path.is_file() or not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK):
        return None
    store = LiteStore(path, url)
    try:
        if store.revision() != HEAD:
            store.close()
            return None
        store.mark_interrupted_runs()
    except BaseException:
        store.close()
        raise
    return store


def create_lite(url: str) -> LiteStore | None:
    """Create a new SQLite state database at the current schema through sqlite3 alone (state/head_schema.py)
    and open it for sync's writes. None: not a file to create (another database, or one that exists), or
    one this file system cannot make so: `Store` creates it through the migrations then.

    The database is made whole in a file of its own beside it, then linked into place, which fails if the
    name is taken: a process opening it at the same moment finds no file, or a whole one at the current
    schema. One created meanwhile by another process is opened instead.
    """
    from proxmox_mpc.state.head_schema import STATEMENTS

    path = sqlite_path(url)
    if path is None or os.path.lexists(path):
        return None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    made = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.new")
    try:
        conn = sqlite3.connect(made, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")  # as `Store` leaves a database it opens
            conn.execute("BEGIN IMMEDIATE")
            for statement in STATEMENTS:
                conn.execute(statement)
            conn.execute(f"INSERT INTO {VERSION_TABLE} (version_num) VALUES (?)", (HEAD,))
            conn.execute("COMMIT")
        finally:
            conn.close()
        os.link(made, path)
    except FileExistsError:
        pass  # created by another process meanwhile: open theirs
    except (OSError, sqlite3.Error):
        return None
    finally:
        for leftover in (made, made.with_name(made.name + "-wal"), made.with_name(made.name + "-shm")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()
    return open_lite(url)


def open_lite_reader(url: str) -> LiteStore | None:
    """Open an existing SQLite state database at the current schema for reading (and the manifest cache's
    writes when the file may be written) through sqlite3 alone. None: another database, no such file,
    another schema level, or one sqlite3 cannot open: `Store` opens it then, and says what is wrong.
    """
    path = sqlite_path(url)
    if path is None or not path.is_file():
        return None
    try:
        store = LiteStore(path, url, read_only=not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)))
    except StateError:
        return None
    try:
        if store.revision() == HEAD:
            return store
    except StateError:
        pass
    store.close()
    return None


def to_db(column: str, value: Any) -> Any:
    """Return a value as SQLAlchemy binds it into a SQLite column."""
    if value is None:
        return None
    if column in TIMESTAMPS:
        utc = value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
        return f"{utc:%Y-%m-%d %H:%M:%S}.{utc.microsecond:06d}"
    if column in JSON_COLUMNS:
        return json.dumps(value)
    if column in BOOLEANS:
        return 1 if value else 0
    return value


def _stamp(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=timezone.utc)


def reader_of(column: str) -> Any:
    """Return what reads a SQLite column's value back as SQLAlchemy does through the tables' types (None: as is)."""
    if column in TIMESTAMPS:
        return _stamp
    if column in JSON_COLUMNS:
        return json.loads
    if column in BOOLEANS:
        return bool
    return None


class _Row:
    """A result row: its columns as attributes (`row.kind`, as on a SQLAlchemy row, a plain attribute
    read) and by name (`row["kind"]`, `row._mapping`)."""

    def __init__(self, values: Iterable[tuple[str, Any]]) -> None:
        self.__dict__.update(values)

    @property
    def _mapping(self) -> dict[str, Any]:
        return self.__dict__

    def __getitem__(self, name: str) -> Any:
        return self.__dict__[name]

    def __getattr__(self, name: str) -> Any:  # a column the query did not select (for mypy: any name)
        raise AttributeError(name)


class LiteStore:
    """The state store calls a sync makes, on one SQLite connection."""

    dialect = "sqlite"

    def __init__(self, path: Path, url: str, *, read_only: bool = False) -> None:
        self._url = url
        self.url = redact_url(url)
        self._cluster_ids: dict[str, int] = {}
        self._depth = 0
        # A file we may not write is opened read-only and immutable, as `Store` opens it (no -wal/-shm).
        where = f"file:{quote(str(path))}?mode=ro&immutable=1" if read_only else str(path)
        with self._guard():
            # One thread at a time uses it, though not always the one that opened it: a sync reads the stored
            # guests in a worker thread while the cluster is read (`guests_as_of`), and waits for it.
            self._conn = sqlite3.connect(
                where, timeout=SQLITE_BUSY_TIMEOUT, isolation_level=None, uri=read_only, check_same_thread=False
            )
            self._conn.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT * 1000)}")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> LiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ plumbing

    @contextmanager
    def _guard(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise StateError(describe_db_error(exc, self._url)) from exc

    @contextmanager
    def transaction(self) -> Iterator[LiteStore]:
        """Run the enclosed calls in one immediate transaction (a call outside one runs in its own)."""
        if self._depth:
            yield self
            return
        with self._guard():
            self._conn.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield self
        except BaseException:
            self._depth = 0
            self._cluster_ids.clear()  # a cluster created in the rolled-back transaction is gone
            with self._guard():
                self._conn.execute("ROLLBACK")
            raise
        self._depth = 0
        with self._guard():
            self._conn.execute("COMMIT")

    def _write(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        with self.transaction(), self._guard():
            return self._conn.execute(sql, params)

    def _write_many(self, sql: str, params: Iterable[Sequence[Any]]) -> None:
        with self.transaction(), self._guard():
            self._conn.executemany(sql, params)

    def _select(self, sql: str, params: Sequence[Any] = ()) -> list[_Row]:
        with self._guard():
            cursor = self._conn.execute(sql, params)
            names = [d[0] for d in cursor.description]
            read = [(i, r) for i, r in enumerate(map(reader_of, names)) if r is not None]
            rows = []
            for row in cursor:
                if read:
                    row = list(row)
                    for i, r in read:
                        if row[i] is not None:
                            row[i] = r(row[i])
                rows.append(_Row(zip(names, row, strict=True)))
            return rows

    def _upsert(
        self, table: str, rows: Sequence[dict[str, Any]], keys: Sequence[str], keep: Sequence[str] = ()
    ) -> None:
        """INSERT ... ON CONFLICT (keys) DO UPDATE every other column but `keep`, as one executemany."""
        if not rows:
            return
        columns = list(rows[0])
        updated = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in keys and c not in keep)
        sql = (
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updated}"
        )
        self._write_many(sql, ([to_db(c, r[c]) for c in columns] for r in rows))

    def _insert_many(self, table: str, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            columns = list(rows[0])
            sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
            self._write_many(sql, ([to_db(c, r[c]) for c in columns] for r in rows))

    def _mark_deleted(
        self, table: str, cluster_id: int, keys: Sequence[str], values: Iterable[Sequence[Any]], when: datetime
    ) -> None:
        self._stamp(table, "deleted_at", cluster_id, keys, values, when)

    def _stamp(
        self,
        table: str,
        column: str,
        cluster_id: int,
        keys: Sequence[str],
        values: Iterable[Sequence[Any]],
        when: datetime,
    ) -> None:
        """Set the time `column` of a cluster's rows matching each key tuple of `values`."""
        where = " AND ".join(f"{k} = ?" for k in keys)
        sql = f"UPDATE {table} SET {column} = ? WHERE cluster_id = ? AND {where}"
        stamp = to_db(column, when)
        self._write_many(sql, ([stamp, cluster_id, *v] for v in values))

    # ------------------------------------------------------------------ schema, clusters

    def revision(self) -> str | None:
        """Return the alembic revision the database is at (None: empty database)."""
        found = self._select("SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?", (VERSION_TABLE,))
        if not found:
            return None
        rows = self._select(f"SELECT version_num FROM {VERSION_TABLE}")
        return str(rows[0]["version_num"]) if len(rows) == 1 else None

    def cluster_id(
        self, cluster: str, *, create: bool = False, name: str | None = None, context: str | None = None
    ) -> int | None:
        """Return the id of a cluster key (host:port), creating the row when asked."""
        if cluster in self._cluster_ids and not create:
            return self._cluster_ids[cluster]
        if create:
            update = [k for k, v in (("name", name), ("context", context)) if v is not None]
            conflict = f"DO UPDATE SET {', '.join(f'{k} = excluded.{k}' for k in update)}" if update else "DO NOTHING"
            self._write(
                f"INSERT INTO pmpc_clusters (key, name, context, created_at) VALUES (?, ?, ?, ?) "
                f"ON CONFLICT (key) {conflict}",
                (cluster, name, context, to_db("created_at", utcnow())),
            )
        rows = self._select("SELECT id FROM pmpc_clusters WHERE key = ?", (cluster,))
        if not rows:
            return None
        self._cluster_ids[cluster] = int(rows[0]["id"])
        return self._cluster_ids[cluster]

    def lock_cluster(self, cluster_id: int) -> None:
        """Writers of a cluster are serialised by the immediate transaction on SQLite: nothing to take."""

    def mark_interrupted_runs(self) -> list[int]:
        """Mark every `running` apply run whose process is gone as `interrupted` (what `Store` does on open)."""
        rows = self._select("SELECT id, pid, host, process_start FROM pmpc_apply_runs WHERE status = 'running'")
        gone = [int(r["id"]) for r in rows if process_gone(r["pid"], r["host"], r["process_start"])]
        stamp = to_db("finished_at", utcnow())
        sql = "UPDATE pmpc_apply_runs SET status = 'interrupted', finished_at = ? WHERE id = ? AND status = 'running'"
        self._write_many(sql, ((stamp, run) for run in gone))
        return gone

    # ------------------------------------------------------------------ inventory

    def current_guests(self, cluster: str, *, include_deleted: bool = False) -> list[GuestRecord]:
        """Return the cluster's guests (non-deleted unless asked), by VMID."""
        cid = self.cluster_id(cluster)
        if cid is None:
            return []
        alive = "" if include_deleted else " AND deleted_at IS NULL"
        rows = self._select(f"SELECT * FROM pmpc_guests WHERE cluster_id = ?{alive} ORDER BY vmid", (cid,))
        return [guest_record(r) for r in rows]

    def guests_as_of(self, cluster: str) -> tuple[list[GuestRecord], int]:
        """Return the cluster's guests, deleted ones too, and the database's version they were read at
        (see `unchanged_since`): a sync reads them while the cluster is read, outside its transaction."""
        version = self._data_version()
        return self.current_guests(cluster, include_deleted=True), version

    def unchanged_since(self, version: int) -> bool:
        """Whether no other connection has committed to the database since `version` (`guests_as_of`).

        Inside an immediate transaction the answer holds until it ends: no one else can write meanwhile.
        """
        return self._data_version() == version

    def _data_version(self) -> int:
        # SQLite's counter moves when another connection commits, never for this connection's own writes.
        with self._guard():
            return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def nodes(self, cluster: str, *, include_deleted: bool = False) -> list[NodeRecord]:
        """Return the cluster's nodes by name."""
        cid = self.cluster_id(cluster)
        return [] if cid is None else self.nodes_of(cid, include_deleted=include_deleted)

    def nodes_of(self, cid: int, *, include_deleted: bool = True) -> list[NodeRecord]:
        """Return the nodes of a cluster id (deleted ones too unless told otherwise)."""
        alive = "" if include_deleted else " AND deleted_at IS NULL"
        rows = self._select(f"SELECT * FROM pmpc_nodes WHERE cluster_id = ?{alive} ORDER BY name", (cid,))
        return [from_row(NodeRecord, r) for r in rows]

    def storages(self, cluster: str, *, include_deleted: bool = False) -> list[StorageRecord]:
        """Return the cluster's storages by node and name."""
        cid = self.cluster_id(cluster)
        return [] if cid is None else self.storages_of(cid, include_deleted=include_deleted)

    def storages_of(self, cid: int, *, include_deleted: bool = True) -> list[StorageRecord]:
        """Return the storages of a cluster id (deleted ones too unless told otherwise)."""
        alive = "" if include_deleted else " AND deleted_at IS NULL"
        sql = f"SELECT * FROM pmpc_storages WHERE cluster_id = ?{alive} ORDER BY node, name"
        rows = self._select(sql, (cid,))
        return [from_row(StorageRecord, r, content=[c for c in str(r["content"] or "").split(",") if c]) for r in rows]

    def upsert_nodes(self, cluster_id: int, rows: Sequence[dict[str, Any]]) -> None:
        self._upsert("pmpc_nodes", [{**r, "cluster_id": cluster_id} for r in rows], ("cluster_id", "name"))

    def upsert_storages(self, cluster_id: int, rows: Sequence[dict[str, Any]]) -> None:
        keys = ("cluster_id", "node", "name")
        self._upsert("pmpc_storages", [{**r, "cluster_id": cluster_id} for r in rows], keys)

    def upsert_guests(self, cluster_id: int, rows: Sequence[dict[str, Any]]) -> None:
        self._upsert("pmpc_guests", [{**r, "cluster_id": cluster_id} for r in rows], ("cluster_id", "vmid"))

    def mark_nodes_deleted(self, cluster_id: int, names: Iterable[str], when: datetime) -> None:
        self._mark_deleted("pmpc_nodes", cluster_id, ("name",), ((n,) for n in names), when)

    def mark_storages_deleted(self, cluster_id: int, keys: Iterable[tuple[str, str]], when: datetime) -> None:
        self._mark_deleted("pmpc_storages", cluster_id, ("node", "name"), keys, when)

    def mark_guests_deleted(self, cluster_id: int, vmids: Iterable[int], when: datetime) -> None:
        self._mark_deleted("pmpc_guests", cluster_id, ("vmid",), ((v,) for v in vmids), when)

    def mark_guests_seen(self, cluster_id: int, vmids: Iterable[int], when: datetime) -> None:
        self._stamp("pmpc_guests", "last_seen", cluster_id, ("vmid",), ((v,) for v in vmids), when)

    # ------------------------------------------------------------------ resources

    def current_resources(self, cluster: str, *, include_deleted: bool = False) -> list[ResourceRecord]:
        """Return the cluster's resources (non-deleted unless asked), by kind and address."""
        cid = self.cluster_id(cluster)
        if cid is None:
            return []
        alive = "" if include_deleted else " AND deleted_at IS NULL"
        sql = f"SELECT * FROM pmpc_resources WHERE cluster_id = ?{alive} ORDER BY kind, address"
        return [resource_record(r) for r in self._select(sql, (cid,))]

    def upsert_resources(self, cluster_id: int, rows: Sequence[dict[str, Any]]) -> None:
        full = [{**r, "cluster_id": cluster_id, "deleted_at": None} for r in rows]
        # first_seen stays what the first sync recorded.
        self._upsert("pmpc_resources", full, ("cluster_id", "kind", "address"), keep=("first_seen",))

    def mark_resources_deleted(self, cluster_id: int, keys: Iterable[tuple[str, str]], when: datetime) -> None:
        self._mark_deleted("pmpc_resources", cluster_id, ("kind", "address"), keys, when)

    def add_resource_changes(self, rows: Sequence[dict[str, Any]]) -> None:
        self._insert_many("pmpc_resource_changes", rows)

    # ------------------------------------------------------------------ history

    def start_sync_run(self, cluster_id: int, workspace: str | None, started_at: datetime) -> int:
        """Insert a sync run (status `running`) and return its id."""
        # Every column, as SQLAlchemy inserts the tables' defaults with the row.
        cursor = self._write(
            "INSERT INTO pmpc_sync_runs (cluster_id, workspace, started_at, finished_at, status, guests, added, "
            "changed, deleted, requests, error) VALUES (?, ?, ?, NULL, 'running', 0, 0, 0, 0, 0, NULL)",
            (cluster_id, workspace, to_db("started_at", started_at)),
        )
        return int(cursor.lastrowid or 0)

    def finish_sync_run(
        self,
        run_id: int,
        *,
        status: str,
        guests: int = 0,
        added: int = 0,
        changed: int = 0,
        deleted: int = 0,
        requests: int = 0,
        error: str | None = None,
    ) -> None:
        """Record how a sync run ended."""
        self._write(
            "UPDATE pmpc_sync_runs SET status = ?, finished_at = ?, guests = ?, added = ?, changed = ?, "
            "deleted = ?, requests = ?, error = ? WHERE id = ?",
            (status, to_db("finished_at", utcnow()), guests, added, changed, deleted, requests,
             error, run_id),
        )

    def record_failed_sync(self, cluster: str, workspace: str | None, started_at: datetime, error: str) -> int:
        """Record a sync that failed before writing anything (its own small transaction)."""
        return record_failed_sync(self, cluster, workspace, started_at, error)

    def add_changes(self, rows: Sequence[dict[str, Any]]) -> None:
        self._insert_many("pmpc_changes", rows)

    def last_sync(self, cluster: str) -> SyncRunRecord | None:
        """Return the last successful sync of a cluster, or None."""
        cid = self.cluster_id(cluster)
        if cid is None:
            return None
        sql = "SELECT * FROM pmpc_sync_runs WHERE cluster_id = ? AND status = 'ok' ORDER BY id DESC LIMIT 1"
        rows = self._select(sql, (cid,))
        return from_row(SyncRunRecord, rows[0], cluster=cluster) if rows else None

    # ------------------------------------------------------------------ the journal (what plan reads of it)

    def created_guests(self, cluster: str) -> set[tuple[str, int]]:
        """Return (kind, vmid) of every guest pmpc created on a cluster and has not deleted (`vm`/`ct`)."""
        cid = self.cluster_id(cluster)
        if cid is None:
            return set()
        rows = self._select("SELECT kind, vmid FROM pmpc_created_guests WHERE cluster_id = ?", (cid,))
        return {(str(r["kind"]), int(r["vmid"])) for r in rows}

    def created_resources(self, cluster: str) -> set[str]:
        """Return the address of every resource pmpc created on a cluster and has not deleted."""
        cid = self.cluster_id(cluster)
        if cid is None:
            return set()
        rows = self._select("SELECT address FROM pmpc_created_resources WHERE cluster_id = ?", (cid,))
        return {str(r["address"]) for r in rows}

    def unfinished_replaces(self, cluster: str, *, runs: int = 50) -> dict[str, int]:
        """Return, per address, the apply run whose replace deleted the guest and never created it again."""
        cid = self.cluster_id(cluster)
        if cid is None:
            return {}
        sql = "SELECT id FROM pmpc_apply_runs WHERE cluster_id = ? ORDER BY id DESC LIMIT ?"
        run_ids = [r["id"] for r in self._select(sql, (cid, runs))]
        if not run_ids:
            return {}
        steps = self._select(
            f"SELECT run_id, address, action, status, upid FROM pmpc_apply_actions WHERE run_id IN "
            f"({', '.join('?' * len(run_ids))}) AND action IN ('replace', 'delete', 'create', 'clone') ORDER BY id",
            run_ids,
        )
        return unfinished_replaces(steps)

    # ------------------------------------------------------------------ the manifest cache

    def cached_manifests(self, prefix: str) -> dict[str, tuple[int, int, str, str]]:
        """Return the cached manifest files under a directory prefix: path -> (size, mtime_ns, format, body)."""
        sql = "SELECT path, size, mtime_ns, format, body FROM pmpc_manifest_cache WHERE path >= ? AND path < ?"
        with self._guard():
            rows = self._conn.execute(sql, (prefix, prefix_end(prefix))).fetchall()
        return {path: (int(size), int(mtime_ns), fmt, body) for path, size, mtime_ns, fmt, body in rows}

    def save_manifest_cache(self, prefix: str, rows: Sequence[dict[str, Any]], keep: Iterable[str]) -> None:
        """Store parsed manifest files (path, size, mtime_ns, format, body); forget the others under `prefix`."""
        kept = set(keep) | {row["path"] for row in rows}
        with self.transaction():
            sql = "SELECT path FROM pmpc_manifest_cache WHERE path >= ? AND path < ?"
            stale = [r["path"] for r in self._select(sql, (prefix, prefix_end(prefix))) if r["path"] not in kept]
            self._write_many("DELETE FROM pmpc_manifest_cache WHERE path = ?", ((path,) for path in stale))
            self._upsert("pmpc_manifest_cache", rows, ("path",))

    # ------------------------------------------------------------------ the workspace lock

    def lock_info(self, name: str) -> LockInfo | None:
        """Return who holds a workspace lock per the lock row (None: nobody)."""
        rows = self._select("SELECT name, holder, pid, host, since FROM pmpc_locks WHERE name = ?", (name,))
        return LockInfo(**rows[0]._mapping) if rows else None

    def workspace_lock(
        self, name: str, holder: str, timeout: float, on_wait: OnWait | None = None
    ) -> AbstractContextManager[LockInfo]:
        """Hold the workspace lock `name` (its row, as `Store` takes it on SQLite) for the enclosed block.

        Raises:
            Conflict: another holder kept it for the whole timeout (exit 7).
        """
        info, token = new_lock(name, holder)
        return lock_row_held(self, info, token, timeout, on_wait)

    def _try_lock_row(self, info: LockInfo, token: str) -> bool:
        with self.transaction():
            held = self.lock_info(info.name)
            if held is not None:
                if not held.holder_gone():
                    return False
                # Its process ended without releasing it: expire it.
                self._write("DELETE FROM pmpc_locks WHERE name = ?", (info.name,))
            info.since = utcnow()
            self._write(
                "INSERT INTO pmpc_locks (name, holder, pid, host, token, since) VALUES (?, ?, ?, ?, ?, ?)",
                (info.name, info.holder, info.pid, info.host, token, to_db("since", info.since)),
            )
            return True

    def _drop_lock_row(self, name: str, token: str, *, quiet: bool = False) -> None:
        try:
            self._write("DELETE FROM pmpc_locks WHERE name = ? AND token = ?", (name, token))
        except PmpcError:
            if not quiet:
                raise
