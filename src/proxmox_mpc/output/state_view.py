"""Tables and text for the state store: remembered guests, history, drift, sync reports and status."""

from __future__ import annotations

from typing import Any, TextIO

from proxmox_mpc.output.printers import Column, cell
from proxmox_mpc.output.units import human_bytes, timestamp

STATE_GUEST_COLUMNS = (
    Column("VMID", "vmid"),
    Column("KIND", "kind"),
    Column("NAME", "name"),
    Column("NODE", "node"),
    Column("STATUS", "status"),
    Column("TAGS", "tags"),
    Column("TEMPLATE", "template"),
    Column("LAST-SEEN", "last_seen", format=timestamp),
    Column("POOL", "pool", wide=True),
    Column("MEMORY", "memory", format=human_bytes, wide=True),
    Column("DIGEST", "digest", wide=True),
    Column("FIRST-SEEN", "first_seen", format=timestamp, wide=True),
    Column("DELETED", "deleted_at", format=timestamp, wide=True),
)

# `state show --all`: deleted guests say so (STATUS `deleted`, and when) instead of their last power state.
STATE_ALL_COLUMNS = (
    *(c for c in STATE_GUEST_COLUMNS if c.field != "deleted_at"),
    Column("DELETED", "deleted_at", format=timestamp),
)


def mark_deleted(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return table rows where a guest gone from the cluster shows STATUS `deleted`, not its last state."""
    return [{**r, "status": "deleted"} if r.get("deleted_at") else r for r in records]


HISTORY_COLUMNS = (
    Column("WHEN", "changed_at", format=timestamp),
    Column("CHANGE", "change"),
    Column("FIELD", "field"),
    Column("OLD", "old"),
    Column("NEW", "new"),
    Column("SYNC", "sync_run_id", wide=True),
)

CHANGE_COLUMNS = (
    Column("GUEST", "address"),
    Column("NAME", "name"),
    Column("CHANGE", "change"),
    Column("FIELD", "field"),
    Column("OLD", "old"),
    Column("NEW", "new"),
)


def change_line(change: dict[str, Any]) -> str:
    """Return one plan-like line: `+ vm/105 (web-3)`, `~ vm/101 (web-1) config.memory: 2048 -> 4096`."""
    head = f"{change['address']} ({change['name']})"
    if change["change"] == "add":
        return f"+ {head}"
    if change["change"] == "delete":
        return f"- {head}"
    return f"~ {head} {change['field']}: {cell(change.get('old'))} -> {cell(change.get('new'))}"


def print_sync_report(out: TextIO, report: dict[str, Any]) -> None:
    """Print a sync report as change lines and a summary line."""
    for change in report["changes"]:
        out.write(change_line(change) + "\n")
    name = report.get("cluster_name")
    where = f"{name} ({report['cluster']})" if name else report["cluster"]
    counts = f"{report['added']} added, {report['changed']} changed, {report['deleted']} deleted"
    seen = f"{report['guests']} guests, {report['nodes']} nodes, {report['storages']} storages"
    if report.get("dry_run"):
        out.write(f"Dry run: syncing {where} would record {seen}; {counts}. Nothing was written.\n")
    else:
        out.write(
            f"Synced {where}: {seen}; {counts} ({report['requests']} requests in {report['seconds']:.2f}s).\n"
        )
    for path in report.get("imported") or []:
        out.write(f"imported {path}\n")
    for planned in report.get("would_import") or []:
        out.write(f"would import {planned['path']} ({planned['address']})\n")


def print_status(out: TextIO, status: dict[str, Any]) -> None:
    """Print `pmpc status` as `Key: value` lines."""
    rows: list[tuple[str, str]] = [
        ("Workspace", status.get("workspace") or "(none: per-user state)"),
        ("Context", status.get("context") or "-"),
        ("Cluster", status.get("cluster") or "-"),
        ("Database", status.get("database") or "-"),
    ]
    connection = status.get("connection") or "unknown"
    if status.get("pve_version"):
        connection += f" (Proxmox VE {status['pve_version']})"
    rows.append(("Connection", connection))
    counts = status.get("counts") or {}
    if counts:
        parts = []
        for kind in sorted(counts):
            inner = ", ".join(f"{n} {state}" for state, n in sorted(counts[kind].items()))
            parts.append(f"{kind}: {inner}")
        source = status.get("counts_source")
        rows.append(("Guests", "; ".join(parts) + (f" (from the {source})" if source else "")))
    else:
        rows.append(("Guests", "-"))
    last = status.get("last_sync")
    rows.append(
        ("Last sync", f"{timestamp(last)} ({status.get('last_sync_guests')} guests)" if last else "never")
    )
    drift = status.get("drift")
    rows.append(("Drift", "unknown" if drift is None else f"{drift} change(s) since the last sync"))
    width = max(len(k) for k, _ in rows) + 1
    for key, value in rows:
        out.write(f"{key + ':':<{width + 1}}{value}\n")
    for problem in status.get("problems") or []:
        out.write(f"{'Problem:':<{width + 1}}{problem}\n")
