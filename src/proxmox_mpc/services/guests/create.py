"""`vm|ct create` and `clone`: new guests, each with a VMID of its own (see services/vmids.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from proxmox_mpc.context import AppContext
from proxmox_mpc.core.batch import BatchResult, PlannedRequest, TargetResult
from proxmox_mpc.core.guest_requests import clean_params, clone_request, create_request, template_request
from proxmox_mpc.core.identity import GuestKind
from proxmox_mpc.core.models import Guest
from proxmox_mpc.errors import PmpcError
from proxmox_mpc.output.progress import Progress
from proxmox_mpc.services.connection import connect
from proxmox_mpc.services.guests.batch import execute, shown
from proxmox_mpc.services.guests.plan import Confirm, Plan, VerbOptions
from proxmox_mpc.services.guests.resolve import check_node, resolve_one
from proxmox_mpc.services.vmids import VmidAllocator, with_fresh_vmid

if TYPE_CHECKING:
    from proxmox_mpc.api.client import ProxmoxClient

Build = Callable[[int], list[PlannedRequest]]


async def _create_with_vmid(
    api: ProxmoxClient,
    allocator: VmidAllocator,
    result: TargetResult,
    build: Build,
    chosen: bool,
    opts: VerbOptions,
    progress: Progress | None,
) -> None:
    """Send the create/clone requests, allocating a fresh VMID again when the first collides."""

    async def attempt(vmid: int) -> None:
        result.vmid = vmid
        result.target = f"{result.kind}/{vmid}"
        await execute(api, Plan(guest=_placeholder(result), requests=build(vmid)), result, opts, progress)

    assert result.vmid is not None
    await with_fresh_vmid(allocator, result.vmid, attempt, chosen=chosen)


def _placeholder(result: TargetResult) -> Guest:
    return Guest(
        kind=result.kind,  # type: ignore[arg-type]
        vmid=result.vmid or 0,
        name="",
        node=result.node or "",
        status="unknown",
    )


async def create_guest(
    app_ctx: AppContext,
    kind: GuestKind,
    *,
    node: str,
    params: dict[str, Any],
    vmid: int | None = None,
    make_template: bool = False,
    options: VerbOptions | None = None,
    dry_run: bool = False,
    confirm: Confirm,
    progress: Progress | None = None,
) -> BatchResult:
    """Create one VM or container on a node, its VMID from /cluster/nextid unless given.

    Raises:
        NotFound: the node does not exist.
        Conflict: the VMID given is taken.
    """
    opts = options or VerbOptions()
    batch = BatchResult(action="create", dry_run=dry_run)
    prefix = kind
    async with connect(app_ctx) as api:
        await check_node(api, node)
        allocator = VmidAllocator(api)
        chosen = await allocator.reserve(vmid) if vmid is not None else await allocator.allocate()

        def build(new_vmid: int) -> list[PlannedRequest]:
            requests = [create_request(prefix, node, clean_params({"vmid": new_vmid, **params}))]
            if make_template:
                requests.append(template_request(prefix, node, new_vmid))
            return requests

        name = str(params.get("name") or params.get("hostname") or "")
        result = TargetResult(
            target=f"{prefix}/{chosen}",
            kind=prefix,
            vmid=chosen,
            node=node,
            action="create",
            message="created" + (" as a template" if make_template else ""),
            requests=shown(build(chosen)),
        )
        batch.results = [result]
        if dry_run:
            return batch
        confirm("create", [f"{prefix}/{chosen} ({name}) on {node}"])
        try:
            await _create_with_vmid(api, allocator, result, build, vmid is not None, opts, progress)
        except PmpcError as exc:
            result.fail(exc)
    return batch


async def _clone_ids(allocator: VmidAllocator, count: int, vmid: int | None) -> list[int]:
    """Return a VMID per clone: `vmid`, `vmid`+1, ... checked free when given, else from /cluster/nextid."""
    if vmid is not None:
        return [await allocator.reserve(vmid + index) for index in range(count)]
    return [await allocator.allocate() for _ in range(count)]


async def clone_guests(
    app_ctx: AppContext,
    kind: GuestKind,
    source: str,
    *,
    names: Sequence[str],
    params: dict[str, Any],
    vmid: int | None = None,
    options: VerbOptions | None = None,
    dry_run: bool = False,
    confirm: Confirm,
    concurrency: int | None = None,
    progress: Progress | None = None,
) -> BatchResult:
    """Clone a guest once per name, concurrently, each clone with its own VMID.

    Raises:
        NotFound: the source or the target node does not exist.
        Conflict: a VMID given is taken.
    """
    opts = options or VerbOptions()
    prefix = kind
    name_key = "hostname" if prefix == "ct" else "name"
    limit = asyncio.Semaphore(concurrency or app_ctx.settings.concurrency)
    batch = BatchResult(action="clone", dry_run=dry_run)
    async with connect(app_ctx) as api:
        src = await resolve_one(api, kind, source)
        target_node = params.get("target")
        if target_node:
            await check_node(api, str(target_node))
        allocator = VmidAllocator(api)
        ids = await _clone_ids(allocator, len(names), vmid)

        def builder(name: str) -> Build:
            def build(new_vmid: int) -> list[PlannedRequest]:
                body = clean_params({"newid": new_vmid, **params, name_key: name})
                return [clone_request(prefix, src.node, src.vmid, body)]

            return build

        results = [
            TargetResult(
                target=f"{prefix}/{new}",
                kind=prefix,
                vmid=new,
                node=str(target_node or src.node),
                action="clone",
                message=f"cloned from {src.ref}",
                requests=shown(builder(n)(new)),
            )
            for n, new in zip(names, ids, strict=True)
        ]
        batch.results = results
        if dry_run:
            return batch
        confirm(
            f"clone {src.ref} ({src.name}) into",
            [f"{r.target} ({n})" for r, n in zip(results, names, strict=True)],
        )

        async def run_one(name: str, result: TargetResult) -> None:
            async with limit:
                try:
                    await _create_with_vmid(api, allocator, result, builder(name), vmid is not None, opts, progress)
                except PmpcError as exc:
                    result.fail(exc)

        await asyncio.gather(*(run_one(n, r) for n, r in zip(names, results, strict=True)))
    return batch
