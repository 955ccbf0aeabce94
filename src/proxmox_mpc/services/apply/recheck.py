"""Checks apply makes again under the workspace lock, before sending anything: does the plan still hold?"""

from __future__ import annotations

from typing import TYPE_CHECKING

from proxmox_mpc.core.identity import guest_kind, is_api_guest_type
from proxmox_mpc.core.plan import Change, Plan
from proxmox_mpc.errors import ApiNotFound, Conflict, ManifestError

if TYPE_CHECKING:
    from proxmox_mpc.api.client import ProxmoxClient


def same_change(a: Change, b: Change) -> bool:
    """Return True when two plans agree on one change (what it does, to which guest, from which config)."""
    return a.model_dump(exclude={"replaced_in_run"}) == b.model_dump(exclude={"replaced_in_run"})


def settle_plan(confirmed: Plan, fresh: Plan) -> Plan:
    """Return what to execute once the lock is held: the fresh plan when the confirmed one covers it.

    A change someone else already made drops out (an overlapping apply created the VM: nothing to do);
    a change that differs from, or is missing in, the confirmed plan was never confirmed.

    Raises:
        Conflict: the fresh plan has a change the confirmed one does not (exit 7).
    """
    unconfirmed = [c for c in fresh.changes if not any(same_change(c, d) for d in confirmed.changes)]
    if unconfirmed:
        names = ", ".join(c.address for c in unconfirmed)
        raise Conflict(
            f"The cluster changed while this apply waited (for its confirmation or the workspace lock): "
            f"{names} would now change differently from the plan you confirmed. Nothing was changed; "
            "run `pmpc plan` again.",
            details={"stale": [c.address for c in unconfirmed]},
        )
    return fresh


async def check_fresh(api: ProxmoxClient, plan: Plan) -> None:
    """Refuse a saved plan whose guests changed since it was made (exit 7).

    Raises:
        Conflict: a guest's config digest differs, a guest to update is gone, or a guest to create exists.
    """
    from proxmox_mpc.services.resources import stale_resources

    resources = [r for r in await api.cluster_resources("vm") if is_api_guest_type(r.get("type"))]
    by_vmid = {int(r["vmid"]): r for r in resources}
    names = {(guest_kind(str(r["type"])), str(r.get("name"))) for r in resources}
    stale: list[str] = await stale_resources(api, plan.changes)
    for change in plan.changes:
        if not change.guest:
            continue  # stale_resources judged it
        if change.action == "create":
            name = change.address.split("/", 1)[1]
            if (change.vmid is not None and change.vmid in by_vmid) or (change.kind, name) in names:
                stale.append(f"{change.address} exists now")
            continue
        if change.vmid is None:
            continue
        res = by_vmid.get(change.vmid)
        if res is None:
            stale.append(f"{change.address} ({change.kind}/{change.vmid}) is gone")
            continue
        if change.digest:
            try:
                current = await api.guest_config(str(res["node"]), change.type, change.vmid)
            except ApiNotFound:
                stale.append(f"{change.address} is gone")
                continue
            if current.get("digest") != change.digest:
                stale.append(f"{change.address} ({change.kind}/{change.vmid}) changed")
    if stale:
        raise Conflict(
            "The saved plan is stale: " + "; ".join(stale) + ". Run `pmpc plan` again.",
            details={"stale": stale},
        )


async def check_saved_creatable(api: ProxmoxClient, plan: Plan) -> None:
    """Refuse a saved plan whose creates (or replaces' creates) the cluster would refuse (exit 1).

    Raises:
        ManifestError: one line per blocked change.
    """
    from proxmox_mpc.core.preflight import create_blockers, replace_sentence
    from proxmox_mpc.services.observe import COMPARE, observe
    from proxmox_mpc.services.preflight import create_facts, read_templates

    if not any(c.action in ("create", "replace") for c in plan.changes):
        return
    observation = await observe(api, COMPARE)
    templates = await read_templates(api, plan.changes)
    facts = create_facts(observation.facts, observation.guests, templates)
    lines = []
    for change in plan.changes:
        blockers = create_blockers(change, facts)
        if blockers:
            lines.append(replace_sentence(change, blockers[0]) + ".")
    if lines:
        raise ManifestError("\n".join(lines))
