"""Two applies at once never create one guest twice: the plan is made again under the workspace lock.

Seen before the fix: two overlapping `apply -y` (or one that waited at its prompt) both created the new VM.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pexpect
import pytest

from tests.helpers.signals import default_sigint

NEW_VM = (
    "kind: VM\nname: new-1\nnode: pve2\nspec:\n  cores: 1\n  memory: 512\n"
    "  disks: [{slot: scsi0, storage: local-lvm, size: 4G}]\n  state: stopped\n"
)
HOLDER = textwrap.dedent("""
    import sys
    from proxmox_mpc.state.store import open_store
    store = open_store(sys.argv[1])
    with store.workspace_lock(sys.argv[2], "a teammate's pmpc apply", 0):
        print("locked", flush=True)
        sys.stdin.readline()
    store.close()
""")


def _workspace(cli: Any, work: Path) -> Path:
    ws = work / "infra"
    assert cli("init", str(ws), "--name", "infra").exit_code == 0
    (ws / "resources" / "vms" / "new-1.yaml").write_text(NEW_VM)
    return ws


def _pmpc(ws: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "proxmox_mpc", "--workspace", str(ws), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _named(pve: Any, name: str) -> list[int]:
    return [vm.vmid for vm in pve.vms if vm.name == name]


def _resource_reads(pve: Any) -> int:
    return sum(1 for m, p, _ in pve.requests if m == "GET" and p.endswith("/cluster/resources"))


@pytest.mark.postgres
def test_overlapping_applies_create_the_vm_once(cluster, cli, tmp_path, state_url):
    ws = _workspace(cli, tmp_path)
    # A teammate's apply holds the lock, so both of ours plan the create and then wait for it.
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, state_url, "infra"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        reads = _resource_reads(cluster)
        # Two checkouts of one workspace (same name in pmpc.yaml) sharing one state database.
        checkout = tmp_path / "checkout-2"
        shutil.copytree(ws, checkout, ignore=shutil.ignore_patterns(".pmpc"))
        first = _pmpc(ws, "apply", "-y", "--lock-timeout", "120")
        second = _pmpc(checkout, "apply", "-y", "--lock-timeout", "120")
        deadline = time.monotonic() + 60
        # Each plan reads /cluster/resources twice (guests, then facts): wait until both have planned.
        while _resource_reads(cluster) < reads + 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        assert first.poll() is None and second.poll() is None
    finally:
        assert holder.stdin is not None
        holder.stdin.write("\n")
        holder.stdin.close()
        holder.wait(timeout=30)
    outs = [p.communicate(timeout=120) for p in (first, second)]
    codes = [first.returncode, second.returncode]
    assert codes == [0, 0], outs
    assert all("+ vm/new-1" in out for out, _ in outs), outs  # both planned the create before the lock
    assert sum("No changes: someone else already made them." in out for out, _ in outs) == 1, outs
    assert len(_named(cluster, "new-1")) == 1


def test_a_prompt_held_open_while_another_apply_runs(cluster, cli, tmp_path):
    ws = _workspace(cli, tmp_path)
    env = dict(os.environ, TERM="dumb", NO_COLOR="1")
    child = pexpect.spawn(
        sys.executable,
        ["-m", "proxmox_mpc", "--workspace", str(ws), "apply"],
        env=env,
        encoding="utf-8",
        timeout=60,
        preexec_fn=default_sigint,
    )
    try:
        child.expect(r"\+ vm/new-1")
        child.expect(r"Apply 1 target\(s\)\?")
        # Meanwhile a teammate applies the same workspace.
        result = cli("--workspace", str(ws), "apply", "-y")
        assert result.exit_code == 0, result.output
        assert len(_named(cluster, "new-1")) == 1
        child.sendline("y")
        child.expect("No changes: someone else already made them.")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0, child.before
    assert len(_named(cluster, "new-1")) == 1


def test_a_saved_plan_whose_create_exists_now_is_stale(cluster, cli, tmp_path):
    ws = _workspace(cli, tmp_path)
    plan_file = tmp_path / "plan.json"
    assert cli("--workspace", str(ws), "plan", "--out", str(plan_file)).exit_code == 0
    assert cli("--workspace", str(ws), "apply", "-y").exit_code == 0
    result = cli("--workspace", str(ws), "apply", str(plan_file))
    assert result.exit_code == 7, result.output
    assert "stale" in result.stderr and "vm/new-1 exists now" in result.stderr
    assert len(_named(cluster, "new-1")) == 1
