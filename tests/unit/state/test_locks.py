"""The workspace lock on SQLite (lock row) and PostgreSQL (advisory lock + row)."""

from __future__ import annotations

import threading

import pytest

from proxmox_mpc.errors import Conflict, ExitCode
from proxmox_mpc.state.store import Store, open_store


def test_second_holder_gets_conflict_naming_the_first(store: Store, state_url: str):
    other = open_store(state_url)
    try:
        with store.workspace_lock("ws", "pmpc apply", 0) as info:
            assert store.lock_info("ws").holder == "pmpc apply"
            with pytest.raises(Conflict) as caught, other.workspace_lock("ws", "pmpc sync", 0.2):
                pass
            err = caught.value
            assert err.exit_code == ExitCode.CONFLICT
            assert f"held by pmpc apply (pid {info.pid} on {info.host}) since " in err.message
            assert "gave up after 0.2s" in err.message
            assert err.details["holder"] == "pmpc apply"
            # Another workspace's lock is independent.
            with other.workspace_lock("other-ws", "pmpc sync", 0):
                pass
        assert store.lock_info("ws") is None
        with other.workspace_lock("ws", "pmpc sync", 0):
            assert store.lock_info("ws").holder == "pmpc sync"
    finally:
        other.close()


def test_a_waiter_gets_the_lock_when_it_is_released(store: Store, state_url: str):
    other = open_store(state_url)
    waited: list[object] = []
    acquired = threading.Event()
    released = threading.Event()

    def wait_for_it() -> None:
        with other.workspace_lock("ws", "pmpc sync", 60, on_wait=waited.append):
            acquired.set()

    try:
        with store.workspace_lock("ws", "pmpc apply", 0):
            thread = threading.Thread(target=wait_for_it)
            thread.start()
            # Hold the lock until the waiter has said it waits: then it must not have it yet.
            for _ in range(600):
                if waited:
                    break
                released.wait(0.05)
            assert waited and waited[0].holder == "pmpc apply"
            assert not acquired.is_set()
        thread.join(60)
        assert acquired.is_set()
        assert len(waited) == 1
    finally:
        other.close()


def test_force_unlock_releases_a_held_lock(store: Store, state_url: str):
    other = open_store(state_url)
    try:
        other.cluster_id("x:1", create=True)  # warm the other store's connection
        ctx = other.workspace_lock("ws", "pmpc apply", 0)
        ctx.__enter__()
        released = store.force_unlock("ws")
        assert released is not None and released.holder == "pmpc apply"
        assert store.lock_info("ws") is None
        with store.workspace_lock("ws", "pmpc sync", 1):
            pass
        ctx.__exit__(None, None, None)  # the first holder finishing later does not break anything
        assert store.lock_info("ws") is None
    finally:
        other.close()


def test_a_lock_row_whose_process_is_gone_expires(store: Store, state_url: str):
    """Issue 12: a holder killed, or whose release failed on a full disk, must not block every later command."""
    import subprocess
    import sys

    from sqlalchemy import insert

    from proxmox_mpc.state.tables import LockRow, utcnow

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait(30)
    with store.transaction() as conn:
        conn.execute(
            insert(LockRow.__table__).values(  # type: ignore[attr-defined]
                name="ws", holder="pmpc sync", pid=dead.pid, host=__import__("socket").gethostname(),
                token="old", since=utcnow(),
            )
        )
    assert store.lock_info("ws").pid == dead.pid
    with store.workspace_lock("ws", "pmpc apply", 0) as info:
        assert store.lock_info("ws").pid == info.pid
    assert store.lock_info("ws") is None


def test_the_first_error_is_reported_when_the_release_fails_too(store: Store, state_url: str, monkeypatch):
    """The release's own failure (a full disk fails the DELETE too) never hides the error that ended the block."""
    from proxmox_mpc.errors import StateError

    def failing_transaction(*args: object, **kwargs: object) -> object:
        raise StateError("database or disk is full")

    with pytest.raises(RuntimeError, match="the first error"), store.workspace_lock("ws", "pmpc sync", 0):
        monkeypatch.setattr(store, "transaction", failing_transaction)
        raise RuntimeError("the first error")
