"""The workspace lock: one pmpc session at a time writes a workspace (sync, apply, destroy).

PostgreSQL: a session advisory lock keyed by a hash of the name (freed if the process dies), plus the lock
row naming the holder. SQLite: the lock row, taken in an immediate transaction.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from proxmox_mpc.errors import Conflict, PmpcError
from proxmox_mpc.state.common import LOCK_POLL_SECONDS, OnWait, Waiter, held_error, lock_row_held, new_lock
from proxmox_mpc.state.records import LockInfo
from proxmox_mpc.state.repository import Repository, advisory_key
from proxmox_mpc.state.tables import locks_t, utcnow

HOLDER_ROW_GRACE_SECONDS = 2.0
UNLOCK_WAIT_SECONDS = 10.0


class Locks(Repository):
    """The workspace lock: take, wait for, describe and force-release it."""

    def lock_info(self, name: str) -> LockInfo | None:
        """Return who holds a workspace lock per the lock row (None: nobody)."""
        from sqlalchemy import select

        with self._read() as conn:
            row = conn.execute(select(locks_t).where(locks_t.c.name == name)).first()
        if row is None:
            return None
        return LockInfo(name=row.name, holder=row.holder, pid=row.pid, host=row.host, since=row.since)

    @contextmanager
    def workspace_lock(
        self, name: str, holder: str, timeout: float, on_wait: OnWait | None = None
    ) -> Iterator[LockInfo]:
        """Hold the workspace lock `name` for the enclosed block, waiting up to `timeout` seconds.

        `on_wait(holder or None)` is called once when the lock is busy and the caller is going to wait.

        Raises:
            Conflict: another holder kept it for the whole timeout (exit 7).
        """
        info, token = new_lock(name, holder)
        if self.dialect != "postgresql":
            with lock_row_held(self, info, token, timeout, on_wait):
                yield info
            return
        waiting = Waiter(self, name, timeout, on_wait)
        with self._advisory_session(name, timeout, waiting):
            info.since = utcnow()
            self._upsert(locks_t, [{**info.model_dump(), "token": token}], ("name",))
            try:
                yield info
            finally:
                self._drop_lock_row(name, token)

    def force_unlock(self, name: str) -> LockInfo | None:
        """Release a workspace lock whatever holds it (a crashed or hung holder); return what held it.

        On PostgreSQL a session still holding the advisory lock is terminated.
        """
        from sqlalchemy import delete

        info = self.lock_info(name)
        if self.dialect == "postgresql":
            pids = self._terminate_holders(name)
            if info is None and pids:
                info = LockInfo(
                    name=name, holder="another pmpc session", pid=pids[0], host="database server", since=utcnow()
                )
            # A terminated backend lets go of its locks a moment later: return once it has.
            deadline = time.monotonic() + UNLOCK_WAIT_SECONDS
            while pids and self.advisory_lock_held(name) and time.monotonic() < deadline:
                time.sleep(LOCK_POLL_SECONDS)
        with self.transaction() as conn:
            conn.execute(delete(locks_t).where(locks_t.c.name == name))
        return info

    def advisory_lock_held(self, name: str) -> bool:
        """Return True when a PostgreSQL session holds the workspace's advisory lock (SQLite: False)."""
        from sqlalchemy import func, select

        if self.dialect != "postgresql":
            return False
        key = self._schema_key(name)
        with self._guard(), self.engine.connect() as conn:
            got = conn.execute(select(func.pg_try_advisory_lock(key))).scalar()
            if got:
                conn.execute(select(func.pg_advisory_unlock(key)))
            conn.commit()
        return not got

    # ------------------------------------------------------------------ helpers

    def _schema_key(self, name: str) -> int:
        from sqlalchemy import text

        with self._read() as conn:
            schema = conn.execute(text("SELECT current_schema()")).scalar()
        return advisory_key(f"pmpc:workspace:{schema}:{name}")

    def _held_error(self, name: str, timeout: float) -> Conflict:
        info = self.lock_info(name)
        if info is None and self.dialect == "postgresql":
            # The holder names itself in the lock row just after it takes the advisory lock: a loser of a
            # close race gives that row a moment to appear, so the error can say who holds the lock.
            settle = time.monotonic() + HOLDER_ROW_GRACE_SECONDS
            while info is None and time.monotonic() < settle:
                time.sleep(LOCK_POLL_SECONDS)
                info = self.lock_info(name)
        return held_error(info, name, timeout)

    def _try_lock_row(self, info: LockInfo, token: str) -> bool:
        from sqlalchemy import delete, insert, select

        with self.transaction() as conn:
            held = conn.execute(
                select(locks_t.c.holder, locks_t.c.pid, locks_t.c.host, locks_t.c.since).where(
                    locks_t.c.name == info.name
                )
            ).first()
            if held is not None:
                holder = LockInfo(name=info.name, holder=held[0], pid=held[1], host=held[2], since=held[3])
                if not holder.holder_gone():
                    return False
                # Its process ended without releasing it (killed, or the release itself failed): expire it.
                conn.execute(delete(locks_t).where(locks_t.c.name == info.name))
            info.since = utcnow()
            conn.execute(insert(locks_t).values({**info.model_dump(), "token": token}))
            return True

    def _drop_lock_row(self, name: str, token: str, *, quiet: bool = False) -> None:
        from sqlalchemy import delete

        try:
            with self.transaction() as conn:
                conn.execute(delete(locks_t).where(locks_t.c.name == name, locks_t.c.token == token))
        except PmpcError:
            # PostgreSQL: the advisory lock is released anyway; a stale row is overwritten later.
            if self.dialect != "postgresql" and not quiet:
                raise

    @contextmanager
    def _advisory_session(self, name: str, timeout: float, waiting: Waiter) -> Iterator[None]:
        from sqlalchemy import func, select
        from sqlalchemy.exc import SQLAlchemyError

        key = self._schema_key(name)
        with self._guard():
            conn = self.engine.connect()
        try:
            # The wait starts once connected: on a busy machine the connection alone can outlast a short
            # --lock-timeout, which would then give up without having waited (or said so).
            deadline = time.monotonic() + max(0.0, timeout)
            with self._guard():
                while True:
                    got = conn.execute(select(func.pg_try_advisory_lock(key))).scalar()
                    conn.commit()
                    if got:
                        break
                    if time.monotonic() >= deadline:
                        raise self._held_error(name, timeout)
                    waiting.notify()
                    time.sleep(LOCK_POLL_SECONDS)
            try:
                yield
            finally:
                try:
                    conn.execute(select(func.pg_advisory_unlock(key)))
                    conn.commit()
                except SQLAlchemyError:
                    pass  # the session is gone (`pmpc state unlock` ended it), and its lock with it
        finally:
            conn.close()

    def _terminate_holders(self, name: str) -> list[int]:
        """End the PostgreSQL sessions holding the workspace's advisory lock; return their pids."""
        from sqlalchemy import text

        unsigned = self._schema_key(name) & 0xFFFFFFFFFFFFFFFF
        with self.transaction() as conn:
            pids = (
                conn.execute(
                    text(
                        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                        "AND classid::bigint = :hi AND objid::bigint = :lo AND objsubid = 1 "
                        "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                    ),
                    {"hi": unsigned >> 32, "lo": unsigned & 0xFFFFFFFF},
                )
                .scalars()
                .all()
            )
            for pid in pids:
                conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        return [int(pid) for pid in pids]

