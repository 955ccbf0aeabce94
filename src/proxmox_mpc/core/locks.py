"""Guest config locks: which running task holds a lock, and who may clear one."""

from __future__ import annotations

from collections.abc import Iterable

# The task types that set each lock while they run (PVE's lock names, qemu-server and pve-container).
LOCK_TASKS: dict[str, frozenset[str]] = {
    "backup": frozenset({"vzdump"}),
    "migrate": frozenset({"qmigrate", "vzmigrate"}),
    "snapshot": frozenset({"qmsnapshot", "vzsnapshot"}),
    "snapshot-delete": frozenset({"qmdelsnapshot", "vzdelsnapshot"}),
    "rollback": frozenset({"qmrollback", "vzrollback"}),
    "clone": frozenset({"qmclone", "vzclone"}),
    "create": frozenset({"qmcreate", "vzcreate", "qmrestore", "vzrestore"}),
    "disk": frozenset({"qmmove", "move_volume", "qmigrate"}),
    "suspending": frozenset({"qmsuspend"}),
}
# Locks that record a state rather than a running task: no task holds them.
STATE_LOCKS = frozenset({"suspended", "mounted"})
SKIPLOCK_USER = "root@pam"


def holding_task(lock: str, running: Iterable[tuple[str, str]]) -> str | None:
    """Return the UPID of the running task (given as (type, upid) pairs of the guest) that holds `lock`, if any.

    An unknown lock is held by any running task of the guest: better to refuse than to break a task.
    """
    known = LOCK_TASKS.get(lock)
    for task_type, upid in running:
        if known is None and lock not in STATE_LOCKS:
            return upid
        if known is not None and task_type in known:
            return upid
    return None


def may_skiplock(identity: str | None) -> bool:
    """Return True for the one identity PVE lets use `skiplock`: the root@pam user (not one of its API tokens)."""
    return identity == SKIPLOCK_USER
