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
    if status.get("tls"):
        rows.append(("TLS", status["tls"]))
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
    labels = [k for k, _ in rows] + (["Interrupted"] if status.get("interrupted") else [])
    width = max(len(k) for k in labels) + 1
    for key, value in rows:
        out.write(f"{key + ':':<{width + 1}}{value}\n")
    for run in status.get("interrupted") or []:
        out.write(f"{'Interrupted:':<{width + 1}}{interrupted_line(run)}\n")
    for problem in status.get("problems") or []:
        out.write(f"{'Problem:':<{width + 1}}{problem}\n")


def interrupted_line(run: dict[str, Any]) -> str:
    """Return one line about an interrupted run: which, when, what was in flight, what it left half done."""
    text = f"{run.get('operation') or 'apply'} run {run['id']} (started {timestamp(run['started_at'])}"
    if run.get("pid"):
        text += f", pid {run['pid']} on {run.get('host')}"
    text += ") stopped before it finished"
    if run.get("in_flight"):
        tasks = ", ".join(f"{t['address']} {t['step']} {t['upid']}" for t in run["in_flight"])
        text += f"; in flight: {tasks}"
    if run.get("replaced_not_created"):
        text += f"; deleted by a replace, not created again: {', '.join(run['replaced_not_created'])}"
    return text + " (see `pmpc state show --journal`)"


def print_journal(out: TextIO, runs: list[dict[str, Any]]) -> None:
    """Print apply runs, newest first, each with its steps and what an interruption left open."""
    if not runs:
        out.write("No apply or destroy runs in the journal.\n")
        return
    for run in runs:
        who = f", pid {run['pid']} on {run['host']}" if run.get("pid") else ""
        ended = f", ended {timestamp(run['finished_at'])}" if run.get("finished_at") else ""
        out.write(
            f"Journal {run['id']}: {run.get('operation') or 'apply'} {run['status']} "
            f"(started {timestamp(run['started_at'])}{ended}{who})\n"
        )
        for entry in run["entries"]:
            upid = f" {entry['upid']}" if entry.get("upid") else ""
            detail = f" {entry['detail']}" if entry.get("detail") else ""
            out.write(
                f"  {timestamp(entry['at'])}  {entry['address']}  {entry['action']} {entry['status']}{detail}{upid}\n"
            )
        for task in run.get("in_flight") or []:
            out.write(f"  in flight when it stopped: {task['address']} {task['step']} {task['upid']}\n")
        for address in run.get("replaced_not_created") or []:
            backup = (run.get("backups") or {}).get(address)
            saved = f"; its backup is {backup}" if backup else "; there is no backup of it"
            out.write(
                f"  {address} was deleted by its replace and not created again{saved}: "
                "`pmpc plan` shows it as a create\n"
            )
        out.write("\n")
