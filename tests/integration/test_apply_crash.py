"""kill -9 during apply: the journal names every task PVE accepted, the run shows as interrupted, plan converges.

pmpc runs as a real process against fakepve with a time_scale above 0 (tasks take wall time), and the test
kills it with SIGKILL: at a chosen point (between a replace's delete and its create) or at random points.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from proxmox_mpc.state.db import sqlite_url
from proxmox_mpc.state.store import open_store

TEMPLATE = "alpine-3.20-default_20240908_amd64.tar.xz"


def _pmpc(ws: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "proxmox_mpc", "--workspace", str(ws), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _import(cli: Any, work: Path) -> Path:
    ws = work / "infra"
    assert cli("init", str(ws), "--name", "infra").exit_code == 0
    result = cli("--workspace", str(ws), "sync", "--import")
    assert result.exit_code == 0, result.output
    return ws


def _edit(ws: Path, folder: str, name: str, **spec: Any) -> None:
    path = ws / "resources" / folder / f"{name}.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["spec"].update(spec)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def _journal_upids(ws: Path) -> set[str]:
    store = open_store(sqlite_url(ws / ".pmpc" / "state.db"))
    try:
        return {e.upid for run in store.apply_runs() for e in store.journal(run.id) if e.upid}
    finally:
        store.close()


def _wait_until(check: Any, proc: subprocess.Popen[str], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.002)
    raise AssertionError("timed out waiting for the apply to get there")


def _until_journaled(ws: Path, upids: set[str], proc: subprocess.Popen[str], timeout: float = 60.0) -> None:
    """Wait until pmpc has journaled `upids` (their answers may still be on the wire) or has exited.

    The kill comes after that point, so the check below is about every task accepted before it; how long the
    answers take to reach pmpc depends on the machine's load, not on pmpc.
    """
    deadline = time.monotonic() + timeout
    while proc.poll() is None and not upids <= _journal_upids(ws):
        if time.monotonic() > deadline:
            raise AssertionError(f"pmpc did not journal the tasks PVE accepted: {sorted(upids - _journal_upids(ws))}")
        time.sleep(0.05)


def _kill(proc: subprocess.Popen[str]) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)


def _converge(cli: Any, ws: Path) -> None:
    """Release the lock the killed process left, apply again, and find nothing left to do."""
    result = cli("--workspace", str(ws), "state", "unlock", "-y")
    assert result.exit_code == 0, result.output
    result = cli("--workspace", str(ws), "apply", "-y", "--allow-destroy", "ct/202")
    assert result.exit_code == 0, result.output
    result = cli("--workspace", str(ws), "plan", "--detailed-exitcode")
    assert result.exit_code == 0, result.output


@pytest.mark.fakepve(time_scale=0.05)
def test_kill_between_the_delete_and_the_create_of_a_replace(demo, cli, tmp_path):
    demo.store_file("local", TEMPLATE, 10 * 1024**2, content="vztmpl")
    ws = _import(cli, tmp_path)
    _edit(ws, "cts", "proxy-1", unprivileged=False, ostemplate=f"local:vztmpl/{TEMPLATE}")
    demo.ct(202).stop_secs = 20  # the slow-shutdown scenario: the stop before the delete takes a while

    dropped, resume = threading.Event(), threading.Event()
    drop = demo._drop

    def hold_after_drop(guest: Any) -> None:
        # Test hook on the fake: once CT 202 is gone, its server stops answering until the test lets it go,
        # so the apply is caught between the delete and the create (the window a crash may hit).
        drop(guest)
        if guest.vmid == 202:
            dropped.set()
            resume.wait(60)

    demo._drop = hold_after_drop
    proc = _pmpc(ws, "apply", "-y", "--allow-destroy", "ct/202")
    try:
        assert _wait_until(dropped.is_set, proc), proc.communicate()
        store = open_store(sqlite_url(ws / ".pmpc" / "state.db"))
        try:

            def journaled() -> bool:
                # pmpc journals the delete task as soon as PVE accepts it, before waiting for it.
                runs = store.apply_runs()
                return bool(runs) and any(e.action == "delete" and e.upid for e in store.journal(runs[0].id))

            assert _wait_until(journaled, proc, timeout=20)
        finally:
            store.close()
        created = [p for m, p, _ in demo.requests if m == "POST" and p.endswith("/lxc")]
        _kill(proc)
    finally:
        resume.set()
    assert not created, "the create was sent before the kill: no window between delete and create"
    assert demo.ct(202) is None

    result = cli("--workspace", str(ws), "status")
    assert result.exit_code == 0, result.output
    [line] = [line for line in result.stdout.splitlines() if line.startswith("Interrupted:")]
    assert "apply run 1 " in line and "deleted by a replace, not created again: ct/proxy-1" in line

    result = cli("--workspace", str(ws), "state", "show", "--journal")
    assert result.exit_code == 0, result.output
    assert "Journal 1: apply interrupted" in result.stdout
    assert "ct/proxy-1 was deleted by its replace and not created again; there is no backup of it" in result.stdout
    assert "ct/proxy-1  delete started DELETE /nodes/" in result.stdout  # journaled before waiting for it

    result = cli("--workspace", str(ws), "plan")
    assert result.exit_code == 0, result.output
    assert "+ ct/proxy-1 (was replaced; see journal 1)" in result.stdout
    result = cli("--workspace", str(ws), "plan", "-o", "json")
    [change] = [c for c in result.json()["changes"] if c["address"] == "ct/proxy-1"]
    assert change["action"] == "create" and change["replaced_in_run"] == 1

    _converge(cli, ws)
    assert str(demo.ct(202).config.get("unprivileged", 0)) in ("0", "False")
    result = cli("--workspace", str(ws), "status")
    assert "Interrupted:" not in result.stdout, result.output


def _edits(ws: Path) -> None:
    """A plan with tasks of every sort: config, power (a slow shutdown), a create and a replace."""
    _edit(ws, "vms", "web-1", memory=4096, cores=4)
    _edit(ws, "vms", "api-1", state="stopped")
    _edit(ws, "vms", "worker-1", memory=2048, state="running")
    _edit(ws, "cts", "proxy-1", unprivileged=False, ostemplate=f"local:vztmpl/{TEMPLATE}")
    (ws / "resources" / "cts" / "edge-1.yaml").write_text(
        f"kind: CT\nname: edge-1\nnode: pve2\nspec:\n  ostemplate: local:vztmpl/{TEMPLATE}\n"
        "  memory: 256\n  rootfs: {storage: local-lvm, size: 2G}\n  state: running\n"
    )


def _kill_at_random(demo: Any, cli: Any, tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    demo.store_file("local", TEMPLATE, 10 * 1024**2, content="vztmpl")
    ws = _import(cli, tmp_path)
    _edits(ws)
    demo.vm(102).shutdown_secs = 30
    before = set(demo.tasks)
    writes = len([m for m, _, _ in demo.requests if m != "GET"])

    proc = _pmpc(ws, "apply", "-y", "--allow-destroy", "ct/202")
    started = _wait_until(lambda: len([m for m, _, _ in demo.requests if m != "GET"]) > writes, proc)
    killed = False
    if started:
        time.sleep(rng.uniform(0.0, 2.5))
        # Tasks PVE had accepted a moment before the kill: their answers reached pmpc, which journals a task
        # before waiting for it. (One accepted in the last instant may not have reached it: no one can journal that.)
        accepted = set(demo.tasks) - before
        _until_journaled(ws, accepted, proc)
        if proc.poll() is None:
            _kill(proc)
            killed = True
    if not killed:
        proc.communicate(timeout=120)
        accepted = set(demo.tasks) - before

    missing = accepted - _journal_upids(ws)
    assert not missing, f"tasks PVE accepted but the journal lacks (seed {seed}): {sorted(missing)}"
    [run] = cli("--workspace", str(ws), "state", "show", "--journal", "-o", "json").json()
    result = cli("--workspace", str(ws), "status")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.startswith("Interrupted:")]
    if killed and run["status"] == "interrupted":
        assert len(lines) == 1 and "apply run 1 " in lines[0], result.output
        flying = {t["upid"] for t in run["in_flight"]}
        assert all(t in lines[0] for t in flying)
    else:  # it finished (and was perhaps killed while it exited): nothing was interrupted
        assert run["status"] in ("ok", "failed", "partial") and lines == [], (run["status"], result.output)
    _converge(cli, ws)


@pytest.mark.fakepve(time_scale=0.05)
@pytest.mark.parametrize("seed", range(3))
def test_kill_at_random_points_of_apply(demo, cli, tmp_path, seed):
    _kill_at_random(demo, cli, tmp_path, seed)


@pytest.mark.stress
@pytest.mark.fakepve(time_scale=0.05)
@pytest.mark.parametrize("seed", range(100, 120))
def test_kill_at_random_points_of_apply_many_times(demo, cli, tmp_path, seed):
    """20 more points; deselected unless asked for (`pytest -m stress`), the default run has the 3 above."""
    _kill_at_random(demo, cli, tmp_path, seed)
