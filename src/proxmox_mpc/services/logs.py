"""`pmpc logs`: recent cluster tasks and pmpc's own operation journal, filtered, optionally followed."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from proxmox_mpc.context import AppContext
from proxmox_mpc.core.identity import is_api_guest_type
from proxmox_mpc.core.modeling import Model
from proxmox_mpc.core.models import UtcTime, to_int
from proxmox_mpc.errors import PmpcError, UsageError

Source = Literal["all", "cluster", "pmpc"]
STATUSES = ("ok", "error", "running", "skipped")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$", re.I)
FOLLOW_INTERVAL = 2.0
NODE_TASK_LIMIT = 500


class LogEntry(Model):
    """One line of `pmpc logs`: a cluster task or a journalled pmpc action."""

    source: Literal["cluster", "pmpc"]
    start_time: UtcTime
    node: str | None = None
    type: str
    target: str | None = None
    guest: str | None = None
    status: str
    user: str | None = None
    message: str | None = None
    upid: str | None = None
    end_time: UtcTime | None = None


@dataclass(frozen=True)
class LogFilter:
    """What `pmpc logs` narrows the entries to."""

    guest: str | None = None
    node: str | None = None
    type: str | None = None
    status: str | None = None
    since: datetime | None = None
    limit: int = 50
    source: Source = "all"


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """Turn `1h`, `30m`, `2d`, `1w` or an ISO date/time into an aware UTC datetime.

    Raises:
        UsageError: the text is neither.
    """
    now = now or datetime.now(timezone.utc)
    match = DURATION.match(text)
    if match:
        return now - timedelta(seconds=int(match.group(1)) * UNITS[match.group(2).lower()])
    try:
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"Bad --since {text!r}: give a duration (30m, 1h, 2d, 1w) or an ISO date/time.")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def check_filter(flt: LogFilter) -> None:
    """Reject bad filter values before any I/O."""
    if flt.status is not None and flt.status not in STATUSES:
        raise UsageError(f"Bad --status {flt.status!r}: use one of {', '.join(STATUSES)}.")


def task_status(task: dict[str, Any]) -> str:
    """Return ok, error or running for an entry of a PVE task list (warnings count as ok)."""
    status = str(task.get("status") or "")
    if not status or status == "running":
        return "running"
    if status == "OK" or status.startswith("WARNINGS"):
        return "ok"
    return "error"


def _aware(ts: Any) -> datetime:
    return datetime.fromtimestamp(to_int(ts), timezone.utc)


def task_entry(task: dict[str, Any], names: dict[str, str]) -> LogEntry:
    """Build a log entry from a PVE task (the guest id shown with its name when known)."""
    ident = str(task.get("id") or "")
    status = task_status(task)
    raw_status = str(task.get("status") or "")
    return LogEntry(
        source="cluster",
        start_time=_aware(task.get("starttime")),
        node=task.get("node"),
        type=str(task.get("type") or ""),
        target=ident or None,
        guest=names.get(ident) if ident.isdigit() else None,
        status=status,
        user=task.get("user"),
        message=raw_status if status == "error" else None,
        upid=task.get("upid"),
        end_time=_aware(task["endtime"]) if task.get("endtime") else None,
    )


def matches(entry: LogEntry, flt: LogFilter, vmid: str | None) -> bool:
    """Return True when an entry passes the filter (the guest already resolved to its VMID)."""
    if flt.node and entry.node != flt.node:
        return False
    if flt.type and flt.type.lower() not in entry.type.lower():
        return False
    if flt.status and entry.status != flt.status:
        return False
    if flt.since and entry.start_time < flt.since:
        return False
    if flt.guest:
        wanted = vmid or flt.guest
        if entry.target != wanted and entry.guest != flt.guest and not _addresses(entry.target, flt.guest):
            return False
    return True


def _addresses(target: str | None, guest: str) -> bool:
    """Return True when a journal address (`vm/web-1`) names the guest."""
    return bool(target) and str(target).partition("/")[2] == guest


def _resolve_guest(guest: str | None, resources: list[dict[str, Any]]) -> str | None:
    if guest is None:
        return None
    if guest.isdigit():
        return guest
    found = sorted(
        {
            str(to_int(r.get("vmid")))
            for r in resources
            if is_api_guest_type(r.get("type")) and r.get("name") == guest
        }
    )
    if len(found) > 1:
        raise UsageError(f"Guest name {guest!r} is ambiguous: VMIDs {', '.join(found)}; give the VMID.")
    return found[0] if found else None


async def cluster_entries(app_ctx: AppContext, flt: LogFilter) -> tuple[list[LogEntry], list[str]]:
    """Read the task lists of the online nodes; return the matching entries and warnings."""
    from proxmox_mpc.services.connection import connect
    from proxmox_mpc.services.health import recent_tasks

    warnings: list[str] = []
    async with connect(app_ctx) as api:
        resources = await api.cluster_resources()
        vmid = _resolve_guest(flt.guest, resources)
        names = {
            str(to_int(r.get("vmid"))): str(r.get("name"))
            for r in resources
            if is_api_guest_type(r.get("type")) and r.get("name")
        }
        nodes = sorted(
            str(r["node"]) for r in resources if r.get("type") == "node" and r.get("status") == "online"
        )
        offline = sorted(
            str(r["node"]) for r in resources if r.get("type") == "node" and r.get("status") != "online"
        )
        if flt.node:
            nodes = [n for n in nodes if n == flt.node]
            offline = [n for n in offline if n == flt.node]
        # source=all: PVE lists only finished tasks by default, and a log should show running ones too.
        params: dict[str, Any] = {"limit": max(flt.limit, NODE_TASK_LIMIT), "source": "all"}
        if vmid:
            params["vmid"] = int(vmid)
        if flt.type:
            params["typefilter"] = flt.type
        if flt.status == "error":
            params["errors"] = 1
        if flt.since:
            params["since"] = int(flt.since.timestamp())
        tasks, unreachable = await recent_tasks(api, nodes, **params)
    for node in [*offline, *unreachable]:
        warnings.append(f"node {node} is unreachable: its tasks are not shown.")
    entries = [task_entry(t, names) for t in tasks]
    return [e for e in entries if matches(e, flt, vmid)], warnings


def journal_entries(app_ctx: AppContext, flt: LogFilter) -> tuple[list[LogEntry], list[str]]:
    """Read pmpc's apply journal from the state store, when there is one."""
    from proxmox_mpc.services.diagnostics import read_journal

    rows, warning = read_journal(app_ctx, flt.since)
    entries = [
        LogEntry(
            source="pmpc",
            start_time=row["time"],
            type=str(row.get("type") or "apply"),
            target=row.get("target"),
            node=row.get("node"),
            status=str(row.get("status") or "ok"),
            message=row.get("message"),
            upid=row.get("upid"),
            user=row.get("user"),
            end_time=row.get("end_time"),
        )
        for row in rows
    ]
    return [e for e in entries if matches(e, flt, None)], [warning] if warning else []


def _key(entry: LogEntry) -> tuple[str, str, str, str]:
    return (
        entry.source,
        entry.upid or "",
        entry.start_time.isoformat(),
        f"{entry.type}|{entry.target}|{entry.status}",
    )


async def collect(app_ctx: AppContext, flt: LogFilter) -> tuple[list[LogEntry], list[str]]:
    """Return the newest matching entries (oldest first, at most `limit`) and warnings about what was missed.

    Raises:
        PmpcError: neither the cluster nor the state store could be read.
    """
    entries: list[LogEntry] = []
    warnings: list[str] = []
    if flt.source in ("all", "cluster"):
        try:
            found, notes = await cluster_entries(app_ctx, flt)
            entries += found
            warnings += notes
        except PmpcError as exc:
            if flt.source == "cluster" or isinstance(exc, UsageError):
                raise
            warnings.append(f"cluster tasks are not shown: {exc.message}")
    if flt.source in ("all", "pmpc"):
        found, notes = journal_entries(app_ctx, flt)
        entries += found
        warnings += notes
    entries.sort(key=lambda e: (e.start_time, e.upid or ""))
    return entries[-flt.limit :], warnings


async def follow(
    app_ctx: AppContext, flt: LogFilter, interval: float = FOLLOW_INTERVAL
) -> AsyncIterator[tuple[list[LogEntry], list[str]]]:
    """Yield the current entries, then every new (or newly finished) entry as it appears, until cancelled."""
    seen: set[tuple[str, str, str, str]] = set()
    first = True
    while True:
        entries, warnings = await collect(app_ctx, flt)
        fresh = [e for e in entries if _key(e) not in seen]
        seen.update(_key(e) for e in entries)
        if fresh or first:
            yield fresh, warnings
        first = False
        await asyncio.sleep(interval)
