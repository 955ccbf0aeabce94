"""Wait for Proxmox tasks (UPIDs): poll with backoff, report progress, raise on failure."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from proxmox_mpc.api.client import ProxmoxClient
from proxmox_mpc.core.upid import parse_upid
from proxmox_mpc.errors import TaskFailedError, TaskTimeout

LOG_TAIL_LINES = 10
# Progress callback: (upid, seconds waited, the last status read).
Progress = Callable[[str, float, dict[str, Any]], None]


def task_succeeded(status: dict[str, Any]) -> bool:
    """Return True for a stopped task that ended OK (warnings count as success, as in PVE's GUI)."""
    exit_status = str(status.get("exitstatus", ""))
    return exit_status == "OK" or exit_status.startswith("WARNINGS")


async def log_tail(client: ProxmoxClient, node: str, upid: str, lines: int = LOG_TAIL_LINES) -> list[str]:
    """Return the last lines of a task's log."""
    entries = await client.task_log(node, upid, start=0, limit=50000)
    texts = [str(e.get("t", "")) for e in sorted(entries, key=lambda e: int(e.get("n", 0)))]
    return [t for t in texts if t.strip()][-lines:]


async def wait(
    client: ProxmoxClient,
    upid: str,
    timeout: float,
    *,
    progress: Progress | None = None,
    poll_min: float = 0.05,
    poll_max: float = 1.0,
) -> dict[str, Any]:
    """Wait for a task to stop and return its final status.

    Raises:
        TaskFailedError: the task ended with an error (exit status and log tail attached).
        TaskTimeout: the task was still running when `timeout` seconds had passed.
    """
    node = parse_upid(upid).node
    started = time.monotonic()
    interval = poll_min
    while True:
        status = await client.task_status(node, upid)
        waited = time.monotonic() - started
        if progress is not None:
            progress(upid, waited, status)
        if status.get("status") == "stopped":
            if task_succeeded(status):
                return status
            tail = await log_tail(client, node, upid)
            exit_status = str(status.get("exitstatus") or "unknown error")
            raise TaskFailedError(
                f"Task {status.get('type') or parse_upid(upid).type} on {node} failed: {exit_status}.",
                upid=upid,
                exitstatus=exit_status,
                log_tail=tail,
            )
        remaining = timeout - waited
        if remaining <= 0:
            raise TaskTimeout(
                f"Task {parse_upid(upid).type} on {node} was still running after {timeout:g}s ({upid}).",
                upid=upid,
            )
        await asyncio.sleep(min(interval, remaining))
        interval = min(interval * 1.6, poll_max)
