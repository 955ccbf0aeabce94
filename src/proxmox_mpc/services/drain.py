"""Node drain use case: place every guest of a node on the others, show it, confirm, migrate as a batch.

Guests managed by HA move through HA (`/cluster/ha/resources/{sid}/migrate`, then pmpc waits until
the guest runs on its new node); the others with PVE's own migrate (online for running VMs, restart
mode for running containers).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from proxmox_mpc.context import AppContext
from proxmox_mpc.core.batch import BatchResult, PlannedRequest, TargetResult
from proxmox_mpc.core.models import Guest, Node, Storage
from proxmox_mpc.core.placement import DEFAULT_HEADROOM, GuestLoad, Move, NodeCapacity, local_volumes, place
from proxmox_mpc.errors import NotFound, OperationTimeout, PmpcError, UsageError
from proxmox_mpc.output.progress import Progress
from proxmox_mpc.services.connection import connect
from proxmox_mpc.services.guests.plan import Confirm, VerbOptions
from proxmox_mpc.services.guests.resolve import cluster_guests
from proxmox_mpc.services.guests.verbs import plan_migrate
from proxmox_mpc.services.tasks import send

if TYPE_CHECKING:
    from proxmox_mpc.api.client import ProxmoxClient

HA_POLL = 1.0


class DrainResult(TargetResult):
    """One guest of a drain: the batch record plus where it goes (`to`), how (`via`) or why it stays."""

    to: str | None = None
    via: str | None = None
    reason: str = ""
    name: str = ""
    status: str = ""
    memory: int = 0

    def record(self, *, dry_run: bool = False) -> dict[str, Any]:
        """Return the batch record with `to`, `via` and `reason` added."""
        return {**super().record(dry_run=dry_run), "to": self.to, "via": self.via, "reason": self.reason}


@dataclass
class DrainOptions:
    """The flags of `node drain`."""

    to: list[str] = field(default_factory=list)
    include_stopped: bool = False
    with_local_disks: bool = False
    max_parallel: int = 2
    timeout: float = 300.0
    wait: bool = True
    headroom: float = DEFAULT_HEADROOM


def check_drain_options(node: str, options: DrainOptions) -> None:
    """Reject flag combinations before anything is read.

    Raises:
        UsageError: --to names the drained node, or --max-parallel is below 1.
    """
    if node in options.to:
        raise UsageError(f"--to {node}: that is the node being drained; name the nodes to move its guests to.")
    if options.max_parallel < 1:
        raise UsageError("--max-parallel must be at least 1.")


async def _guest_load(api: ProxmoxClient, guest: Guest, shared: set[str]) -> GuestLoad:
    config = await api.guest_config(guest.node, guest.type, guest.vmid)
    return GuestLoad(
        ref=guest.ref,
        vmid=guest.vmid,
        kind=guest.kind,
        name=guest.name,
        running=guest.status == "running",
        memory=guest.memory,
        cpus=guest.cpus or 1.0,
        cpu_usage=guest.cpu_usage,
        template=guest.template,
        ha_managed=bool(guest.ha_state),
        local_disks=local_volumes(guest.kind, config, shared),
    )


def _ha_request(guest: Guest, target: str) -> PlannedRequest:
    sid = f"{guest.kind}:{guest.vmid}"  # PVE names an HA resource vm:101 / ct:201
    return PlannedRequest(method="POST", path=f"/cluster/ha/resources/{sid}/migrate", params={"node": target})


async def _result(api: ProxmoxClient, guest: Guest, move: Move, source: str, opts: DrainOptions) -> DrainResult:
    result = DrainResult(
        target=guest.ref,
        kind=guest.kind,
        vmid=guest.vmid,
        node=source,
        action="migrate",
        to=move.target,
        reason=move.reason,
        name=guest.name,
        status=guest.status,
        memory=guest.memory,
    )
    if move.target is None:
        result.changed = False
        result.message = f"stays on {source}: {move.reason}"
        return result
    result.message = f"migrated to {move.target}" + (" (through HA)" if move.via_ha else "")
    if move.via_ha:
        result.via = "ha"
        result.requests = [_ha_request(guest, move.target)]
    else:
        result.via = "migrate"
        verb = VerbOptions(target_node=move.target, with_local_disks=move.with_local_disks, timeout=opts.timeout)
        result.requests = (await plan_migrate(api, guest, verb)).requests
    return result


async def drain_node(
    app_ctx: AppContext,
    node: str,
    options: DrainOptions,
    *,
    dry_run: bool = False,
    confirm: Confirm,
    progress: Progress | None = None,
    on_plan: Callable[[BatchResult], None] | None = None,
) -> BatchResult:
    """Plan the drain of a node (one result per guest: where it goes, or why it stays) and, unless dry run, run it.

    `on_plan` sees the placement before the confirmation (to show it).

    Raises:
        UsageError: bad flags.
        NotFound: the node or a --to node does not exist.
        PmpcError: the node is offline (its guests cannot be migrated from it).
        ConfirmationRequired, Aborted: the user did not confirm.
    """
    check_drain_options(node, options)
    batch = BatchResult(action="migrate", dry_run=dry_run)
    async with connect(app_ctx) as api:
        nodes = [Node.from_api(n) for n in await api.nodes()]
        known = {n.name: n for n in nodes}
        for name in [node, *options.to]:
            if name not in known:
                listed = ", ".join(sorted(known)) or "none"
                raise NotFound(f"No node named {name!r} in this cluster (nodes: {listed}).")
        if known[node].status != "online":
            raise PmpcError(
                f"{node} is {known[node].status}: its guests cannot be migrated from it "
                "(HA recovers the HA-managed ones once it is fenced)."
            )
        storages = [Storage.from_api(node, s) for s in await api.storages(node)]
        shared = {s.name for s in storages if s.shared}
        guests = sorted((g for g in await cluster_guests(api) if g.node == node), key=lambda g: g.vmid)
        loads = await asyncio.gather(*(_guest_load(api, g, shared) for g in guests))
        capacity = [
            NodeCapacity(n.name, n.status == "online", n.memory_total, n.memory_used, n.cpus, n.cpu_usage)
            for n in nodes
        ]
        moves = place(
            loads,
            capacity,
            source=node,
            targets=options.to or None,
            include_stopped=options.include_stopped,
            with_local_disks=options.with_local_disks,
            headroom=options.headroom,
        )
        by_vmid = {g.vmid: g for g in guests}
        results = [await _result(api, by_vmid[m.guest.vmid], m, node, options) for m in moves]
        batch.results = list(results)
        if on_plan is not None:
            on_plan(batch)
        todo = [r for r in results if r.to is not None]
        if dry_run or not todo:
            return batch
        confirm(
            f"drain {node}: migrate",
            [f"{r.target} ({r.name}) to {r.to}" + (" through HA" if r.via == "ha" else "") for r in todo],
        )
        limit = asyncio.Semaphore(options.max_parallel)

        async def run_one(result: DrainResult) -> None:
            async with limit:
                try:
                    await _move(api, by_vmid[result.vmid or 0], result, options, progress)
                except PmpcError as exc:
                    result.fail(exc)

        await asyncio.gather(*(run_one(r) for r in todo))
    return batch


async def _move(
    api: ProxmoxClient, guest: Guest, result: DrainResult, opts: DrainOptions, progress: Progress | None
) -> None:
    deadline = time.monotonic() + opts.timeout
    for request in result.requests:
        upid = await send(
            api, request, target=result.target, deadline=deadline, timeout=opts.timeout, wait=opts.wait,
            progress=progress,
        )
        if upid:
            result.upids.append(upid)
            result.upid = upid
    if result.via == "ha" and opts.wait:
        await _wait_for_ha(api, guest, str(result.to), deadline, opts.timeout)


async def _wait_for_ha(api: ProxmoxClient, guest: Guest, target: str, deadline: float, timeout: float) -> None:
    """HA migrates on its own schedule: wait until the guest shows on the target node."""
    while True:
        here = next((g for g in await cluster_guests(api) if g.vmid == guest.vmid), None)
        if here is not None and here.node == target:
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise OperationTimeout(
                f"{guest.ref}: HA was asked to migrate it to {target}, but it was still on "
                f"{here.node if here else 'no node'} after {timeout:g}s."
            )
        await asyncio.sleep(min(HA_POLL, remaining))


def staying_guests(batch: BatchResult) -> list[str]:
    """Return the guests a drain left on the node (skipped, or their migration failed)."""
    return [r.target for r in batch.results if not (r.ok and r.changed)]
