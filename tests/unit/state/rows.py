"""Rows and names the state store tests share."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone

CLUSTER = "pve.example.org:8006"
T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
BIG = 5 * 1024**4  # 5 TiB: more than 32 bits


def guest_row(vmid: int, **over: object) -> dict[str, object]:
    row: dict[str, object] = {
        "vmid": vmid,
        "kind": "vm",
        "node": "pve1",
        "name": f"vm-{vmid}",
        "status": "running",
        "tags": "web",
        "pool": None,
        "template": False,
        "lock": None,
        "cpus": 2.0,
        "memory": 2 * 1024**3,
        "disk_size": BIG,
        "config": {"cores": 2, "memory": "2048", "net0": "virtio=BC:24:11:00:00:01,bridge=vmbr0"},
        "digest": f"d{vmid}",
        "first_seen": T0,
        "last_seen": T0,
        "deleted_at": None,
    }
    row.update(over)
    return row


def gone_pid() -> int:
    """Return the pid of a process of this host that has ended (reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid
