"""`vm|ct wait --for`, `-w/--watch` on list and get, and `--no-wait` printing UPIDs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import pytest

from tests.helpers.signals import default_sigint


def test_wait_for_status_unlocked_and_timeout(cluster, cli):
    too_soon = cli("vm", "wait", "db-1", "--for", "status=running", "--timeout", "0.3")
    assert too_soon.exit_code == 8, too_soon.output
    assert "still not status=running after 0.3s" in too_soon.stderr
    queued = cli("vm", "start", "db-1", "-y", "--no-wait")
    assert queued.exit_code == 0, queued.output
    assert "UPID:pve2:" in queued.stdout
    done = cli("vm", "wait", "db-1", "--for", "status=running", "--timeout", "30")
    assert done.exit_code == 0, done.output
    assert done.stdout.startswith("vm/103 status=running (after ")
    both = cli("vm", "wait", "web-1", "103", "--for", "unlocked", "-o", "json")
    assert both.exit_code == 0, both.output
    records = [(r["target"], r["ok"], r["action"]) for r in both.json()]
    assert records == [("vm/101", True, "wait"), ("vm/103", True, "wait")]
    assert cli("ct", "wait", "-l", "tag=nosuch", "--for", "deleted").exit_code == 0


def test_wait_for_deleted_and_bad_conditions(cluster, cli):
    assert cli("vm", "delete", "db-1", "-y", "--no-wait").exit_code == 0
    gone = cli("vm", "wait", "103", "--for", "deleted", "--timeout", "30")
    assert gone.exit_code == 0, gone.output
    assert gone.stdout.startswith("vm/103 deleted")
    # A name cannot be told from a typo: once the guest is gone it is "not found".
    assert cli("vm", "wait", "db-1", "--for", "deleted").exit_code == 6
    still = cli("vm", "wait", "web-1", "--for", "deleted", "--timeout", "0.2")
    assert still.exit_code == 8 and "still not deleted" in still.stderr
    unknown = cli("vm", "wait", "web-1", "--for", "ready")
    assert unknown.exit_code == 64 and "--for" in unknown.stderr and "status=running" in unknown.stderr
    no_agent = cli("ct", "wait", "dns-1", "--for", "agent")
    assert no_agent.exit_code == 64 and "containers have no QEMU guest agent" in no_agent.stderr
    missing = cli("vm", "wait", "web-1")
    assert missing.exit_code == 64 and "--for" in missing.stderr


def test_wait_for_the_agent_and_an_address(cluster, cli):
    assert cli("vm", "wait", "web-1", "--for", "agent", "--timeout", "0.2").exit_code == 8
    assert cli("vm", "wait", "web-1", "--for", "ip", "--timeout", "0.2").exit_code == 8
    cluster.vm(101).agent = {}  # the fake's agent starts answering (address 192.0.2.10)
    agent = cli("vm", "wait", "web-1", "--for", "agent", "--timeout", "10")
    assert agent.exit_code == 0 and agent.stdout.startswith("vm/101 agent"), agent.output
    ip = cli("vm", "wait", "web-1", "--for", "ip", "--timeout", "10")
    assert ip.exit_code == 0 and ip.stdout.startswith("vm/101 ip"), ip.output


def _watch(*args: str) -> subprocess.Popen[str]:
    code = "from proxmox_mpc.cli import main; main()"
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=dict(os.environ), preexec_fn=default_sigint,
    )


@pytest.mark.parametrize("fmt", ["json", "table"])
def test_watch_prints_the_list_then_each_change_until_ctrl_c(cluster, cli, fmt):
    proc = _watch("vm", "list", "-w", "-o", fmt)
    killer = threading.Timer(90, proc.kill)
    killer.start()
    try:
        assert proc.stdout is not None
        first = [proc.stdout.readline() for _ in range(5 if fmt == "json" else 6)]
        if fmt == "json":
            import json

            rows = [json.loads(line) for line in first]
            assert {r["name"] for r in rows} == {"ubuntu-tmpl", "web-1", "web-2", "db-1", "batch-1"}
        else:
            assert first[0].split()[:2] == ["VMID", "NAME"]
        assert cli("vm", "start", "db-1", "-y").exit_code == 0
        change = proc.stdout.readline()
        assert "db-1" in change and "running" in change, change
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        killer.cancel()
        proc.kill()


def test_node_get_watch_streams_json_objects(cluster, cli):
    import json

    proc = _watch("node", "get", "pve1", "-w", "-o", "json")
    killer = threading.Timer(90, proc.kill)
    killer.start()
    try:
        assert proc.stdout is not None
        assert json.loads(proc.stdout.readline())["name"] == "pve1"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        killer.cancel()
        proc.kill()
