"""Two `pmpc sync` processes on one database: the second waits or exits 7; no duplicate or lost rows."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import text

from proxmox_mpc.state.store import open_store

WORKSPACE = "shared-ws"


def _pmpc(*args: str) -> list[str]:
    return [sys.executable, "-m", "proxmox_mpc", *args]


def _gate(pve: Any) -> tuple[threading.Event, threading.Event]:
    """Hold every fakepve answer until the gate (first event) is set; the second is set by the first request."""
    gate, arrived = threading.Event(), threading.Event()
    original = pve.pause

    async def pause(secs: float) -> None:
        arrived.set()
        if not gate.is_set():
            # fakepve's loop runs in another thread: wait for the threading event off that loop.
            await asyncio.get_running_loop().run_in_executor(None, gate.wait)
        await original(secs)

    pve.pause = pause
    return gate, arrived


def _wait_for_holder(url: str, pid: int, proc: subprocess.Popen[str], arrived: threading.Event) -> None:
    # sync takes the workspace lock before it sends its first request: once one arrived, the lock is held.
    if not arrived.wait(60):
        raise AssertionError(f"pmpc sync (pid {pid}) never reached the cluster: exit {proc.poll()}")
    store = open_store(url)
    try:
        info = store.lock_info(WORKSPACE)
    finally:
        store.close()
    if info is None or info.pid != pid:
        raise AssertionError(f"pmpc sync (pid {pid}) never took the lock: exit {proc.poll()}, holder {info}")


def _check_rows(url: str, runs: int) -> None:
    store = open_store(url)
    try:
        with store.transaction() as conn:
            total, distinct = conn.execute(
                text("SELECT count(*), count(DISTINCT vmid) FROM pmpc_guests")
            ).one()
            adds = conn.execute(
                text(
                    "SELECT vmid, count(*) FROM pmpc_changes WHERE change = 'add' GROUP BY vmid ORDER BY vmid"
                )
            ).all()
            other = conn.execute(text("SELECT count(*) FROM pmpc_changes WHERE change <> 'add'")).scalar()
            spans = conn.execute(
                text(
                    "SELECT started_at, finished_at FROM pmpc_sync_runs WHERE status = 'ok' "
                    "ORDER BY started_at"
                )
            ).all()
            clusters = conn.execute(text("SELECT count(*) FROM pmpc_clusters")).scalar()
    finally:
        store.close()
    assert (total, distinct) == (7, 7)
    assert [(v, n) for v, n in adds] == [(v, 1) for v in (101, 102, 103, 104, 201, 202, 9000)]
    assert other == 0 and clusters == 1
    assert len(spans) == runs
    # The lock serialised them: one run finished before the next one started reading.
    for (_, first_end), (second_start, _) in itertools.pairwise(spans):
        assert str(first_end) <= str(second_start)


def test_second_sync_exits_7_or_waits_while_first_holds_the_lock(cluster, state_url, isolated_env: Path):
    (isolated_env / "pmpc.yaml").write_text(f"name: {WORKSPACE}\n", encoding="utf-8")
    env = dict(os.environ)
    gate, arrived = _gate(cluster)
    first = subprocess.Popen(
        _pmpc("sync"), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    waiter = None
    try:
        _wait_for_holder(state_url, first.pid, first, arrived)
        busy = subprocess.run(_pmpc("sync"), env=env, capture_output=True, text=True, timeout=120)
        assert busy.returncode == 7, busy.stderr
        assert busy.stdout == ""
        assert f"held by pmpc sync (pid {first.pid} on " in busy.stderr

        waiter = subprocess.Popen(
            _pmpc("sync", "--lock-timeout", "120"),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert waiter.stderr is not None
        line = waiter.stderr.readline()
        assert line.startswith(
            f"pmpc: waiting up to 120s for the workspace lock held by pmpc sync (pid {first.pid} on "
        ), line
    finally:
        gate.set()
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert "7 added" in out.splitlines()[-1]
    out, err = waiter.communicate(timeout=120)
    assert waiter.returncode == 0, err
    assert "0 added, 0 changed, 0 deleted" in out.splitlines()[-1]
    _check_rows(state_url, runs=2)


def test_two_syncs_started_together_leave_no_duplicates(cluster, state_url, isolated_env: Path):
    (isolated_env / "pmpc.yaml").write_text(f"name: {WORKSPACE}\n", encoding="utf-8")
    env = dict(os.environ)
    procs = [
        subprocess.Popen(
            _pmpc("sync", "--lock-timeout", "0" if i else "120"),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    results = [(p, *p.communicate(timeout=120)) for p in procs]
    codes = sorted(p.returncode for p, _, _ in results)
    assert codes in ([0, 0], [0, 7]), [(p.returncode, err) for p, _, err in results]
    for proc, _out, err in results:
        if proc.returncode == 7:
            assert "is held by pmpc sync (pid " in err
    _check_rows(state_url, runs=codes.count(0))
