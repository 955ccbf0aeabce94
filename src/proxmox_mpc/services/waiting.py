"""`pmpc vm|ct wait GUEST... --for CONDITION`: poll the cluster until every guest meets a condition."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from proxmox_mpc.context import AppContext
from proxmox_mpc.core.batch import BatchResult, TargetResult
from proxmox_mpc.core.identity import GuestKind
from proxmox_mpc.core.models import Guest
from proxmox_mpc.core.selectors import Selector
from proxmox_mpc.errors import ApiError, OperationTimeout, UsageError

if TYPE_CHECKING:
    from proxmox_mpc.api.client import ProxmoxClient

CONDITIONS = ("status=running", "status=stopped", "agent", "ip", "unlocked", "deleted")
POLL_MIN = 0.2
POLL_MAX = 2.0


def check_condition(kind: str, condition: str) -> str:
    """Return the condition if it is one `--for` knows for this kind.

    Raises:
        UsageError: an unknown condition, or `agent` for containers (they have no guest agent).
    """
    if condition not in CONDITIONS:
        raise UsageError(f"Unknown condition {condition!r} for --for: use one of {', '.join(CONDITIONS)}.")
    if condition == "agent" and kind == "ct":
        raise UsageError("--for agent: containers have no QEMU guest agent (wait for status=running or ip).")
    return condition


async def _met(api: ProxmoxClient, guest: Guest | None, condition: str) -> bool:
    from proxmox_mpc.services.guests.describe import guest_addresses
    from proxmox_mpc.services.guests.resolve import guest_path

    if condition == "deleted":
        return guest is None
    if guest is None:
        return False
    if condition.startswith("status="):
        return guest.status == condition.split("=", 1)[1]
    if condition == "unlocked":
        return not guest.lock
    if guest.status != "running":
        return False
    if condition == "agent":
        try:
            await api.get(f"{guest_path(guest)}/agent/info")
        except ApiError:
            return False  # PVE answers 500 "QEMU guest agent is not running" until it is
        return True
    return bool(await guest_addresses(api, guest))


def _already_gone(guests: Sequence[Guest], prefix: str, targets: Sequence[str]) -> list[str]:
    # A VMID that no longer exists has met `deleted`; a name cannot be told from a typo, so it must resolve.
    live = {g.vmid for g in guests}
    found = []
    for raw in targets:
        text = raw.strip().removeprefix(f"{prefix}/")
        if text.isdigit() and int(text) not in live:
            found.append(raw)
    return found


async def wait_for(
    app_ctx: AppContext,
    kind: GuestKind,
    targets: Sequence[str],
    selector: Selector | None,
    condition: str,
    *,
    timeout: float,
) -> BatchResult:
    """Wait until every target meets the condition; one result per target (timeouts fail with exit 8).

    Raises:
        NotFound: a target does not exist when the wait starts.
        UsageError: no target, or targets and a selector together, or an ambiguous name.
    """
    from proxmox_mpc.services.connection import connect
    from proxmox_mpc.services.guests.resolve import cluster_guests, resolve_targets

    check_condition(kind, condition)
    prefix = kind
    async with connect(app_ctx) as api:
        guests = await cluster_guests(api)
        gone = _already_gone(guests, prefix, targets) if condition == "deleted" and selector is None else []
        named = [t for t in targets if t not in gone]
        chosen = resolve_targets(guests, kind, named, selector) if named or not gone else []
        results = {
            g.vmid: TargetResult(
                target=f"{prefix}/{g.vmid}", kind=prefix, vmid=g.vmid, node=g.node, action="wait", changed=False
            )
            for g in chosen
        }
        pending = dict.fromkeys(results)
        for raw in gone:
            vmid = int(raw.removeprefix(f"{prefix}/"))
            results[vmid] = TargetResult(
                target=f"{prefix}/{vmid}", kind=prefix, vmid=vmid, action="wait", changed=False,
                message="deleted (already gone)",
            )  # fmt: skip
        started = time.monotonic()
        interval = POLL_MIN
        while pending:
            current = {g.vmid: g for g in await cluster_guests(api)}
            for vmid in list(pending):
                if await _met(api, current.get(vmid), condition):
                    del pending[vmid]
                    results[vmid].message = f"{condition} (after {time.monotonic() - started:.1f}s)"
            remaining = timeout - (time.monotonic() - started)
            if pending and remaining <= 0:
                for vmid in pending:
                    results[vmid].fail(OperationTimeout(f"still not {condition} after {timeout:g}s"))
                break
            if pending:
                await asyncio.sleep(min(interval, remaining))
                interval = min(interval * 1.5, POLL_MAX)
    return BatchResult(action="wait", results=list(results.values()))
