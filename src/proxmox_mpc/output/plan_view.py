"""Draw a Plan the way terraform does: one block per guest, `+ ~ - -/+` marks, then the Plan: line."""

from __future__ import annotations

from typing import TextIO

from proxmox_mpc.core.plan import SYMBOLS, Change, FieldChange, Plan

HEADLINES = {
    "create": "will be created",
    "update": "will be updated in place",
    "replace": "must be replaced (destroyed, then created again)",
    "delete": "will be destroyed",
    "power": "will change power state",
}


def _value(text: str | None) -> str:
    if text is None:
        return "(none)"
    shown = text.replace("\n", "\\n")
    return shown if len(shown) <= 120 else shown[:117] + "..."


def _field_line(change: Change, item: FieldChange) -> str:
    reboot = "  (needs reboot)" if item.needs_reboot else ""
    if item.forces_replacement:
        reboot += "  # forces replacement"
    if change.action in ("create", "replace"):
        if change.action == "replace" and item.old is not None and item.old != item.new:
            return f"      ~ {item.name}: {_value(item.old)} -> {_value(item.new)}{reboot}"
        return f"      + {item.name}: {_value(item.new)}{reboot}"
    if change.action == "delete":
        return f"      - {item.name}: {_value(item.old)}"
    if item.old is None:
        return f"      + {item.name}: {_value(item.new)}{reboot}"
    if item.new is None:
        return f"      - {item.name}: {_value(item.old)}{reboot}"
    return f"      ~ {item.name}: {_value(item.old)} -> {_value(item.new)}{reboot}"


def describe_target(change: Change) -> str:
    """Return `vm/web-1 (101 on pve1)` for a change's headline (`pool/prod` for a kind on no node)."""
    if not change.node:
        return change.address
    where = f"{change.vmid} on {change.node}" if change.vmid is not None else f"new, on {change.node}"
    return f"{change.address} ({where})"


def plan_line(plan: Plan) -> str:
    """Return `Plan: 1 to add, 2 to change, 0 to destroy.` (a replacement adds and destroys)."""
    s = plan.summary
    return (
        f"Plan: {s.add + s.replace} to add, {s.change + s.power} to change, "
        f"{s.destroy + s.replace} to destroy."
    )


def render_plan(plan: Plan, out: TextIO, *, show_unmanaged: bool = True) -> None:
    """Write the human plan on `out`."""
    if plan.changes:
        out.write("pmpc will perform the following actions:\n\n")
    for change in plan.changes:
        headline = HEADLINES[change.action]
        if change.needs_reboot and change.action == "update":
            headline += "; some changes apply at the next reboot"
        out.write(f"  # {describe_target(change)} {headline}\n")
        mark = f" (was replaced; see journal {change.replaced_in_run})" if change.replaced_in_run else ""
        out.write(f"  {SYMBOLS[change.action]} {change.address}{mark}\n")
        if change.backup:
            where = "the node's backup storage" if change.backup == "auto" else change.backup
            out.write(f"      # backup first: vzdump to {where}, then delete\n")
        for item in change.fields:
            out.write(_field_line(change, item) + "\n")
        out.write("\n")
    if plan.pending_reboot:
        out.write("Pending reboot (set, and counted as applied; in effect from the next start):\n")
        for pending in plan.pending_reboot:
            out.write(f"  {pending.address} ({pending.vmid}): {', '.join(pending.fields)} (pending reboot)\n")
        out.write("\n")
    if show_unmanaged and plan.unmanaged:
        out.write("Unmanaged guests (no manifest; never changed by plan or apply):\n")
        for ref in plan.unmanaged:
            out.write(f"  {ref}\n")
        out.write("\n")
    if not plan.changes:
        out.write("No changes: the cluster matches the manifests.\n")
    out.write(plan_line(plan) + "\n")
