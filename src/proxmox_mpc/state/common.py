"""What `Store` and sync's `LiteStore` (state/lite.py) share above their SQL: taking the workspace lock's
row on SQLite (waiting for it, the error when it stays held), recording a failed sync, and reading the
journal's unfinished replaces."""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import Any, Protocol

from proxmox_mpc.errors import Conflict
from proxmox_mpc.state.basics import utcnow
from proxmox_mpc.state.records import LockInfo

LOCK_POLL_SECONDS = 0.1

OnWait = Callable[[LockInfo | None], None]


class LockReader(Protocol):
    def lock_info(self, name: str) -> LockInfo | None: ...


class LockRows(LockReader, Protocol):
    def _try_lock_row(self, info: LockInfo, token: str) -> bool: ...
    def _drop_lock_row(self, name: str, token: str, *, quiet: bool = False) -> None: ...


class SyncRuns(Protocol):
    def transaction(self) -> AbstractContextManager[Any]: ...
    def cluster_id(
        self, cluster: str, *, create: bool = False, name: str | None = None, context: str | None = None
    ) -> int | None: ...
    def start_sync_run(self, cluster_id: int, workspace: str | None, started_at: datetime) -> int: ...
    def finish_sync_run(self, run_id: int, *, status: str, error: str | None = None) -> None: ...


def new_lock(name: str, holder: str) -> tuple[LockInfo, str]:
    """Return the lock row this process would hold (who, since now) and its token."""
    info = LockInfo(name=name, holder=holder, pid=os.getpid(), host=socket.gethostname(), since=utcnow())
    return info, uuid.uuid4().hex


@contextmanager
def lock_row_held(
    store: LockRows, info: LockInfo, token: str, timeout: float, on_wait: OnWait | None
) -> Iterator[LockInfo]:
    """Hold the lock row (SQLite's workspace lock) for the enclosed block, waiting up to `timeout` seconds.

    Raises:
        Conflict: another holder kept it for the whole timeout (exit 7).
    """
    waiting = Waiter(store, info.name, timeout, on_wait)
    deadline = time.monotonic() + max(0.0, timeout)
    while not store._try_lock_row(info, token):
        if time.monotonic() >= deadline:
            raise held_error(store.lock_info(info.name), info.name, timeout)
        waiting.notify()
        time.sleep(LOCK_POLL_SECONDS)
    try:
        yield info
    except BaseException:
        # The first error is the one to report: a release that fails too (the disk that filled up
        # fails the DELETE as well) leaves a row whose process is gone, which the next taker expires.
        store._drop_lock_row(info.name, token, quiet=True)
        raise
    store._drop_lock_row(info.name, token)


def record_failed_sync(store: SyncRuns, cluster: str, workspace: str | None, started_at: datetime, error: str) -> int:
    """Record a sync that failed before writing anything (its own small transaction); return its run id."""
    with store.transaction():
        cid = store.cluster_id(cluster, create=True)
        assert cid is not None
        run_id = store.start_sync_run(cid, workspace, started_at)
        store.finish_sync_run(run_id, status="failed", error=error)
    return run_id


def held_error(info: LockInfo | None, name: str, timeout: float) -> Conflict:
    """Return the error for a lock `info` holds (None: held by a session that has not named itself)."""
    waited = f"gave up after {timeout:g}s" if timeout else "not waiting (--lock-timeout 0)"
    if info is None:
        return Conflict(f"The workspace lock {name!r} is held by another pmpc session; {waited}.")
    hint = " That process is no longer running:" if info.holder_gone() else " If that process is gone,"
    return Conflict(
        f"The workspace lock {name!r} is held by {info.describe()}; {waited}.{hint} "
        "release the lock with `pmpc state unlock`.",
        details=info.model_dump(mode="json"),
    )


class Waiter:
    """Tell the caller, once, that the lock is busy and we are waiting for it."""

    def __init__(self, store: LockReader, name: str, timeout: float, on_wait: OnWait | None) -> None:
        self.store, self.name, self.timeout, self.on_wait = store, name, timeout, on_wait
        self.told = False

    def notify(self) -> None:
        if self.told or self.on_wait is None or self.timeout <= 0:
            return
        self.told = True
        self.on_wait(self.store.lock_info(self.name))


def unfinished_replaces(steps: list[Any]) -> dict[str, int]:
    """Return, per address, the run whose replace deleted the guest without a create after it."""
    replacing: dict[str, int] = {}
    deleted: dict[str, int] = {}
    for row in steps:
        if row.action == "replace" and row.status == "started":
            replacing[row.address] = row.run_id
        elif (
            row.action == "delete"
            and (row.status == "ok" or row.upid)  # a delete task PVE accepted goes on without pmpc
            and replacing.get(row.address) == row.run_id
        ):
            deleted[row.address] = row.run_id
        elif row.action in ("create", "clone") and row.status == "ok":
            deleted.pop(row.address, None)
            replacing.pop(row.address, None)
    return deleted
