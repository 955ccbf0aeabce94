"""Task use cases: list, get, wait and log; sending a write with lock retries, then waiting for its task."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

from proxmox_mpc.context import AppContext
from proxmox_mpc.core.batch import PlannedRequest
from proxmox_mpc.core.modeling import Model
from proxmox_mpc.core.models import UtcTime, to_int
from proxmox_mpc.core.upid import parse_upid
from proxmox_mpc.errors import (
    ApiConflict,
    Conflict,
    LockedError,
    PmpcError,
    TaskFailedError,
    TaskTimeout,
    UsageError,
)
from proxmox_mpc.output.progress import Progress
from proxmox_mpc.services.connection import connect

if TYPE_CHECKING:
    from proxmox_mpc.api.client import ProxmoxClient

LOCK_BACKOFF_START = 0.2
LOCK_BACKOFF_MAX = 5.0
FOLLOW_POLL = 0.5


class TaskInfo(Model):
    """A Proxmox task as `pmpc task list|get` shows it."""

    kind: Literal["task"] = "task"
    upid: str
    node: str
    type: str
    id: str = ""
    user: str = ""
    status: str
    exit_status: str | None = None
    ok: bool | None = None
    start_time: UtcTime | None = None
    end_time: UtcTime | None = None
    duration: float | None = None

    @classmethod
    def from_api(cls, raw: dict[str, Any], *, listing: bool = False) -> TaskInfo:
        """Build from GET /nodes/{node}/tasks (listing: exit status in `status`) or .../status."""
        upid = str(raw.get("upid") or "")
        parsed = parse_upid(upid)
        if listing:
            exitstatus = raw.get("status")
            running = exitstatus in (None, "", "running") or raw.get("endtime") in (None, "")
            status = "running" if running else "stopped"
            exitstatus = None if running else str(exitstatus)
        else:
            status = str(raw.get("status") or "running")
            exitstatus = None if status == "running" else str(raw.get("exitstatus") or "")
        start = _time(raw.get("starttime")) or parsed.starttime
        end = _time(raw.get("endtime"))
        ok = None if exitstatus is None else (exitstatus == "OK" or exitstatus.startswith("WARNINGS"))
        return cls(
            upid=upid,
            node=str(raw.get("node") or parsed.node),
            type=str(raw.get("type") or parsed.type),
            id=str(raw.get("id") or parsed.id),
            user=str(raw.get("user") or parsed.user),
            status=status,
            exit_status=exitstatus,
            ok=ok,
            start_time=start,
            end_time=end,
            duration=(end - start).total_seconds() if start and end else None,
        )


def _time(value: Any) -> datetime | None:
    seconds = to_int(value, 0)
    return datetime.fromtimestamp(seconds, tz=timezone.utc) if seconds else None


def is_upid(value: Any) -> bool:
    """Return True for a task id (what a write answers when it started a task)."""
    return isinstance(value, str) and value.startswith("UPID:")


def _lock_in(message: str) -> str | None:
    """Return the lock named by a transient lock message, `config` for a config-file lock, else None."""
    from proxmox_mpc.api.errors import LOCK_PATTERNS, lock_name

    if not any(p.search(message) for p in LOCK_PATTERNS):
        return None
    return lock_name(message) or "config"


async def send(
    api: ProxmoxClient,
    request: PlannedRequest,
    *,
    target: str,
    deadline: float,
    timeout: float,
    wait: bool,
    progress: Progress | None = None,
    wait_grace: float = 0.0,
    on_accepted: Callable[[str], None] | None = None,
) -> str | None:
    """Send one write, retrying transient lock errors with backoff until `deadline`; wait for its task.

    Returns the task's UPID (None when the write answered without a task). `on_accepted(upid)` is
    called as soon as PVE answers with a task, before waiting for it (the apply journal records it).

    Raises:
        Conflict: the guest was still locked when the time ran out (the message names the lock).
        TaskFailedError: the task ended in error.
        TaskTimeout: the task was still running at the deadline.
    """
    from proxmox_mpc.api.errors import is_lock_error

    backoff = LOCK_BACKOFF_START
    while True:
        lock: str | None = None
        try:
            result = await api.request(
                request.method,
                request.path,
                data=request.params if request.method in ("POST", "PUT") else None,
                params=request.params if request.method in ("GET", "DELETE") else None,
            )
            if is_upid(result) and on_accepted is not None:
                on_accepted(str(result))
            if not (is_upid(result) and wait):
                return result if is_upid(result) else None
            remaining = max(0.0, deadline - time.monotonic()) + wait_grace
            try:
                return await wait_task(api, str(result), remaining, target=target, progress=progress)
            except TaskTimeout as exc:
                # Word it with the target's whole --timeout, not the part left for this task.
                upid = parse_upid(exc.upid)
                raise TaskTimeout(
                    f"Task {upid.type} on {upid.node} was still running after {timeout:g}s ({exc.upid}).",
                    upid=exc.upid,
                ) from exc
        except ApiConflict as exc:
            if not is_lock_error(exc):
                raise
            message = exc.pve_message or exc.message
            lock = (exc.lock if isinstance(exc, LockedError) else None) or _lock_in(message) or "config"
        except TaskFailedError as exc:
            # PVE checks some locks inside the worker (vm_start): the task fails, nothing was done.
            lock = _lock_in(exc.exitstatus)
            if lock is None:
                raise
            message = exc.exitstatus
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise Conflict(
                f"{target} is locked ({lock}) and was still locked after {timeout:g}s: "
                f"{message.rstrip('.')}. Wait for the task holding it or raise --timeout.",
                details={"lock": lock},
            )
        await asyncio.sleep(min(backoff, remaining))
        backoff = min(backoff * 2, LOCK_BACKOFF_MAX)


async def wait_task(
    api: ProxmoxClient,
    upid: str,
    timeout: float,
    *,
    target: str | None = None,
    progress: Progress | None = None,
) -> str:
    """Wait for one task, reporting progress under `target`; return its UPID.

    Raises:
        TaskFailedError: the task ended in error.
        TaskTimeout: still running after `timeout` seconds.
    """
    from proxmox_mpc.api import tasks as api_tasks

    label = target or upid
    on_progress = None
    if progress is not None:
        progress.begin(label, parse_upid(upid).type)

        def on_progress(_upid: str, waited: float, _status: dict[str, Any]) -> None:
            progress.update(label, waited)

    try:
        await api_tasks.wait(api, upid, timeout, progress=on_progress)
    finally:
        if progress is not None:
            progress.end(label)
    return upid


def shutdown_timeout(seconds: float) -> int:
    """Return PVE's integer shutdown timeout for a wait of `seconds` (at least 1)."""
    return max(1, math.ceil(seconds))


# --------------------------------------------------------------------------- task commands


async def _online_nodes(api: ProxmoxClient) -> list[str]:
    return sorted(str(n.get("node")) for n in await api.nodes() if n.get("status") == "online")


async def list_tasks(
    app_ctx: AppContext,
    *,
    node: str | None = None,
    vmid: int | None = None,
    errors_only: bool = False,
    running: bool = False,
    type_filter: str | None = None,
    limit: int = 50,
) -> list[TaskInfo]:
    """Return recent tasks of one node or of every online node, newest first."""
    filters: dict[str, Any] = {"limit": limit}
    if vmid is not None:
        filters["vmid"] = vmid
    if errors_only:
        filters["errors"] = 1
    if type_filter:
        filters["typefilter"] = type_filter
    if running:
        filters["source"] = "active"
    async with connect(app_ctx) as api:
        nodes = [node] if node else await _online_nodes(api)
        answers = await asyncio.gather(*(api.tasks(n, **filters) for n in nodes))
    found = [
        TaskInfo.from_api(dict(raw, node=raw.get("node") or n), listing=True)
        for n, rows in zip(nodes, answers, strict=True)
        for raw in rows
        if raw.get("upid")
    ]
    if running:
        found = [t for t in found if t.status == "running"]
    if errors_only:
        found = [t for t in found if t.ok is False]
    epoch = datetime.fromtimestamp(0, tz=timezone.utc)
    found.sort(key=lambda t: t.start_time or epoch, reverse=True)
    return found[:limit]


async def get_task(app_ctx: AppContext, upid: str) -> TaskInfo:
    """Return the current status of one task.

    Raises:
        UsageError: the text is not a UPID.
    """
    node = parse_upid(upid).node
    async with connect(app_ctx) as api:
        raw = await api.task_status(node, upid)
    return TaskInfo.from_api(dict(raw, upid=raw.get("upid") or upid))


@dataclass
class WaitOutcome:
    """The tasks `task wait` waited for, and the errors of those that failed or ran out of time."""

    tasks: list[TaskInfo]
    errors: list[PmpcError] = field(default_factory=list)


async def wait_tasks(
    app_ctx: AppContext, upids: Sequence[str], *, timeout: float, progress: Progress | None = None
) -> WaitOutcome:
    """Wait for every task (concurrently); return their final status and the errors of those that failed.

    Raises:
        UsageError: no task, or a text that is not a UPID.
    """
    if not upids:
        raise UsageError("Name at least one task id (UPID).")
    for upid in upids:
        parse_upid(upid)
    async with connect(app_ctx) as api:
        outcomes = await asyncio.gather(
            *(wait_task(api, u, timeout, progress=progress) for u in upids), return_exceptions=True
        )
        raws = await asyncio.gather(*(api.task_status(parse_upid(u).node, u) for u in upids))
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    for error in errors:
        if not isinstance(error, PmpcError):
            raise error
    tasks = [TaskInfo.from_api(dict(r, upid=r.get("upid") or u)) for u, r in zip(upids, raws, strict=True)]
    return WaitOutcome(tasks=tasks, errors=[e for e in errors if isinstance(e, PmpcError)])


async def task_log(
    app_ctx: AppContext, upid: str, *, emit: Callable[[str], None], follow: bool = False, timeout: float = 0
) -> TaskInfo:
    """Pass each line of a task's log to `emit`; with `follow`, keep going until the task stops.

    Returns the task's status at the end.
    """
    node = parse_upid(upid).node
    started = time.monotonic()
    seen = 0
    async with connect(app_ctx) as api:
        while True:
            status = await api.task_status(node, upid)
            lines = await api.task_log(node, upid, start=seen, limit=50000)
            for entry in sorted(lines, key=lambda e: to_int(e.get("n"))):
                emit(str(entry.get("t", "")))
            seen += len(lines)
            if not follow or status.get("status") == "stopped":
                if follow and status.get("status") == "stopped":
                    # The last lines may land between the status read and the log read.
                    for entry in await api.task_log(node, upid, start=seen, limit=50000):
                        emit(str(entry.get("t", "")))
                return TaskInfo.from_api(dict(status, upid=status.get("upid") or upid))
            if timeout and time.monotonic() - started > timeout:
                raise TaskTimeout(f"Task {upid} was still running after {timeout:g}s.", upid=upid)
            await asyncio.sleep(FOLLOW_POLL)
