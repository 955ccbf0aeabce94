"""Engine creation: SQLite (WAL, foreign keys, busy timeout, immediate write transactions) or PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from proxmox_mpc.config import redact_url
from proxmox_mpc.errors import StateError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

# Seconds SQLite waits for another writer before SQLITE_BUSY.
SQLITE_BUSY_TIMEOUT = 30.0
# Execution option: begin the transaction with BEGIN IMMEDIATE (SQLite takes the write lock up front,
# so a read-then-write transaction cannot fail half way with "database is locked").
IMMEDIATE = "pmpc_immediate"


def sqlite_url(path: Path) -> str:
    """Return the SQLAlchemy URL of a SQLite file."""
    return f"sqlite:///{path}"


def dialect_of(url: str) -> str:
    """Return `sqlite` or `postgresql` for a database URL.

    Raises:
        StateError: the URL names another database.
    """
    scheme = url.split(":", 1)[0].lower()
    name = scheme.split("+", 1)[0]
    if name == "postgres":
        name = "postgresql"
    if name not in ("sqlite", "postgresql"):
        raise StateError(
            f"Unsupported state database {redact_url(url)}: use a SQLite file or a postgresql+psycopg:// URL."
        )
    return name


def normalise_url(url: str) -> str:
    """Return the URL with the psycopg 3 driver spelled out for PostgreSQL."""
    scheme, sep, rest = url.partition("://")
    if scheme in ("postgres", "postgresql"):
        return f"postgresql+psycopg{sep}{rest}"
    return url


def create_engine_for(url: str) -> Engine:
    """Create the engine for a state database URL (creating a SQLite file's directory).

    Raises:
        StateError: unsupported URL, or the PostgreSQL driver is missing.
    """
    from sqlalchemy import create_engine, event

    url = normalise_url(url)
    dialect = dialect_of(url)
    if dialect == "sqlite":
        path = url.split(":///", 1)[1] if ":///" in url else ""
        read_only = False
        if path and path != ":memory:" and not path.startswith("file:"):
            file = Path(path).expanduser()
            read_only = _read_only(file)
            if not read_only:
                file.parent.mkdir(parents=True, exist_ok=True)
        if read_only:
            # A database on a read-only file system (or one we may not write): open it read-only and
            # immutable, so SQLite needs no -wal/-shm file beside it; reads work, a write is refused.
            engine = create_engine(
                f"sqlite:///file:{quote(str(Path(path).expanduser()))}?mode=ro&immutable=1&uri=true",
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT},
            )
        else:
            engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT})

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own is deferred, too late).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT * 1000)}")
            if not read_only:
                _enable_wal(cursor)
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection: Any) -> None:
            immediate = connection.get_execution_options().get(IMMEDIATE)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        raise StateError(
            "PostgreSQL state databases need the psycopg driver: pip install 'proxmox-mpc[postgres]'."
        ) from exc
    return create_engine(url, pool_pre_ping=True)


def _read_only(file: Path) -> bool:
    """Return True when an existing SQLite file, or its directory, cannot be written (read-only mount)."""
    import os

    if not file.is_file():
        return False
    return not (os.access(file, os.W_OK) and os.access(file.parent, os.W_OK))


def _enable_wal(cursor: Any) -> None:
    """Switch a SQLite database to WAL, retrying while another process holds it.

    Changing the journal mode takes an exclusive lock and does not wait in SQLite's busy handler, so two
    processes opening a new database at once (two CI jobs' first `pmpc sync`) would otherwise fail.
    """
    import sqlite3
    import time

    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


def describe_db_error(exc: BaseException, url: str) -> str:
    """Return one sentence for a database failure, the URL's password redacted."""
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    first = text[0] if text else type(exc).__name__
    secret = _password(url)
    if secret:
        first = first.replace(secret, "********")
    return f"The state database {redact_url(url)} cannot be used: {first.rstrip('.')}."


def _password(url: str) -> str | None:
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).password
    except ValueError:
        return None
