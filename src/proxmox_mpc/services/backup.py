"""Backup use cases: vzdump one guest and find the volume it wrote; batch backups, list and delete backups.

`run_backup(api, guest, options, timeout=...)` is the reusable piece (apply's backup-before-destroy uses
it): it sends the vzdump request for one guest on its node, waits for the task and returns the volume id
the backup was written to, as the task log names it (or, failing that, the storage's content listing).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from proxmox_mpc.context import AppContext
from proxmox_mpc.core.backups import BackupOptions, BackupVolume, check_volid, volid_from_log, vzdump_params
from proxmox_mpc.core.batch import BatchResult, PlannedRequest, TargetResult
from proxmox_mpc.core.identity import GuestKind, api_type, guest_kind
from proxmox_mpc.core.models import Guest, Storage, to_int
from proxmox_mpc.core.selectors import Selector
from proxmox_mpc.core.upid import parse_upid
from proxmox_mpc.errors import ApiError, Conflict, NotFound, PmpcError, UsageError
from proxmox_mpc.output.progress import Progress
from proxmox_mpc.services.connection import connect
from proxmox_mpc.services.guests.plan import Confirm
from proxmox_mpc.services.guests.resolve import (
    NOUN,
    check_node,
    check_target_choice,
    cluster_guests,
    label,
    resolve_targets,
)
from proxmox_mpc.services.tasks import send

if TYPE_CHECKING:
    from proxmox_mpc.api.client import ProxmoxClient


@dataclass(frozen=True)
class BackupRun:
    """A finished backup: the vzdump task and the volume it wrote."""

    upid: str
    volid: str


class BackupResult(TargetResult):
    """One target of `vm|ct backup`: the batch record plus the volume id of its backup."""

    volid: str | None = None

    def record(self, *, dry_run: bool = False) -> dict[str, Any]:
        """Return the batch record with `volid` added."""
        return {**super().record(dry_run=dry_run), "volid": self.volid}


def vzdump_request(guest: Guest, options: BackupOptions) -> PlannedRequest:
    """Return the request that backs up one guest on its own node."""
    return PlannedRequest(method="POST", path=f"/nodes/{guest.node}/vzdump", params=vzdump_params(guest.vmid, options))


async def backup_storages(api: ProxmoxClient, node: str) -> list[Storage]:
    """Return the active, enabled storages of a node that take backups, in PVE's order."""
    raw = await api.get(f"/nodes/{node}/storage", content="backup") or []
    found = [Storage.from_api(node, s) for s in raw]
    return [s for s in found if "backup" in s.content and s.active and s.enabled]


async def default_backup_storage(api: ProxmoxClient, node: str) -> str:
    """Return the first storage on the node whose content includes `backup`.

    Raises:
        NotFound: the node has no such storage.
    """
    storages = await backup_storages(api, node)
    if not storages:
        raise NotFound(f"Node {node} has no active storage for backups: name one with --backup-storage.")
    return storages[0].name


async def run_backup(
    api: ProxmoxClient,
    guest: Guest,
    options: BackupOptions,
    *,
    timeout: float,
    progress: Progress | None = None,
    target: str | None = None,
    on_accepted: Callable[[str], None] | None = None,
) -> BackupRun:
    """Back up one guest with vzdump on its node, wait for the task, and return it with the volume it wrote.

    `on_accepted(upid)` is called as soon as PVE starts the task (apply journals it before waiting).

    Raises:
        TaskFailedError: vzdump ended in error (a full storage, a guest it could not freeze...).
        TaskTimeout: still running after `timeout` seconds.
        Conflict: the guest stayed locked by another task.
        PmpcError: the task succeeded but no backup volume can be found.
    """
    label = target or guest.ref
    started = time.time()
    upid = await send(
        api,
        vzdump_request(guest, options),
        target=label,
        deadline=time.monotonic() + timeout,
        timeout=timeout,
        wait=True,
        progress=progress,
        on_accepted=on_accepted,
    )
    if not upid:  # pragma: no cover - vzdump always answers with a task
        raise PmpcError(f"{label}: vzdump started no task.")
    return BackupRun(upid=upid, volid=await _written_volume(api, guest, options.storage, upid, started))


async def _written_volume(api: ProxmoxClient, guest: Guest, storage: str, upid: str, started: float) -> str:
    node = parse_upid(upid).node
    lines = [str(e.get("t", "")) for e in await api.task_log(node, upid, start=0, limit=50000)]
    volid = volid_from_log(lines, storage)
    if volid:
        return volid
    # No archive line (a quiet or unusual vzdump): the newest backup of the guest made since we started.
    content = await api.get(f"/nodes/{node}/storage/{storage}/content", content="backup", vmid=guest.vmid) or []
    recent = [c for c in content if to_int(c.get("ctime")) >= int(started) - 1 and c.get("volid")]
    if not recent:
        raise PmpcError(
            f"{guest.ref}: vzdump finished ({upid}) but no new backup of it is on {storage}; "
            "check the task log with `pmpc task log`."
        )
    return str(max(recent, key=lambda c: to_int(c.get("ctime")))["volid"])


async def backup_guests(
    app_ctx: AppContext,
    kind: GuestKind,
    targets: Sequence[str],
    selector: Selector | None,
    options: BackupOptions,
    *,
    timeout: float = 300.0,
    wait: bool = True,
    dry_run: bool = False,
    confirm: Confirm,
    concurrency: int | None = None,
    progress: Progress | None = None,
) -> BatchResult:
    """Back up every target (concurrently, each on its node); return each target's result and volume.

    Without `wait` each target only starts its vzdump task (its UPID is the result; no volume yet).

    Raises:
        UsageError: bad options or targets.
        NotFound: a target or the storage is unknown.
        ConfirmationRequired, Aborted: the user did not confirm.
    """
    options.check()
    check_target_choice(kind, targets, selector)
    limit = asyncio.Semaphore(concurrency or app_ctx.settings.concurrency)
    batch = BatchResult(action="backup", dry_run=dry_run)
    async with connect(app_ctx) as api:
        guests = resolve_targets(await cluster_guests(api), kind, targets, selector)
        results = [
            BackupResult(
                target=g.ref,
                kind=g.kind,
                vmid=g.vmid,
                node=g.node,
                action="backup",
                message=f"backed up to {options.storage}",
                requests=[vzdump_request(g, options)],
            )
            for g in guests
        ]
        batch.results = list(results)
        await _check_storage(api, options.storage, {g.node for g in guests})
        if dry_run or not guests:
            return batch
        confirm(f"back up to {options.storage}", [label(g) for g in guests])

        async def run_one(guest: Guest, result: BackupResult) -> None:
            async with limit:
                try:
                    if not wait:
                        result.upid = await send(
                            api, result.requests[0], target=guest.ref, deadline=time.monotonic() + timeout,
                            timeout=timeout, wait=False,
                        )
                        return
                    done = await run_backup(api, guest, options, timeout=timeout, progress=progress)
                except PmpcError as exc:
                    result.fail(exc)
                    return
            result.upid = done.upid
            result.upids = [done.upid]
            result.volid = done.volid
            result.message = f"backed up to {done.volid}"

        await asyncio.gather(*(run_one(g, r) for g, r in zip(guests, results, strict=True)))
    return batch


async def _check_storage(api: ProxmoxClient, storage: str, nodes: set[str]) -> None:
    """Refuse a storage that some target's node cannot back up to, before anything is sent."""
    for node in sorted(nodes):
        names = [s.name for s in await backup_storages(api, node)]
        if storage not in names:
            raise NotFound(
                f"Storage {storage!r} does not take backups on node {node} "
                f"(backup storages there: {', '.join(names) or 'none'})."
            )


# --------------------------------------------------------------------------- list and delete


async def _all_backup_storages(api: ProxmoxClient) -> list[Storage]:
    """Return one (node, storage) per backup storage: a shared storage once, seen from its first online node."""
    nodes = sorted(str(n.get("node")) for n in await api.nodes() if n.get("status") == "online")
    per_node = await asyncio.gather(*(backup_storages(api, n) for n in nodes))
    chosen: list[Storage] = []
    shared_seen: set[str] = set()
    for storages in per_node:
        for storage in storages:
            if storage.shared:
                if storage.name in shared_seen:
                    continue
                shared_seen.add(storage.name)
            chosen.append(storage)
    return chosen


async def _scan(
    api: ProxmoxClient, *, vmid: int | None = None, storage: str | None = None
) -> list[BackupVolume]:
    """Return every backup the online nodes' backup storages hold, each volume once (with a node that has it)."""
    storages = await _all_backup_storages(api)
    if storage:
        storages = [s for s in storages if s.name == storage]
        if not storages:
            raise NotFound(f"No backup storage named {storage!r} on an online node.")
    filters: dict[str, Any] = {"content": "backup"}
    if vmid is not None:
        filters["vmid"] = vmid
    answers = await asyncio.gather(
        *(api.get(f"/nodes/{s.node}/storage/{s.name}/content", **filters) for s in storages)
    )
    found: dict[str, BackupVolume] = {}
    for where, rows in zip(storages, answers, strict=True):
        for raw in rows or []:
            if raw.get("content", "backup") == "backup" and raw.get("volid") not in found:
                volume = BackupVolume.from_api(where.node, where.name, raw)
                found[volume.volid] = volume
    backups = [b for b in found.values() if vmid is None or b.vmid == vmid]
    return sorted(backups, key=lambda b: (-(b.backup_time.timestamp() if b.backup_time else 0), b.volid))


async def list_backups(
    app_ctx: AppContext, *, guest: str | None = None, storage: str | None = None
) -> list[BackupVolume]:
    """Return the backups on every backup storage of the cluster (or one), optionally of one guest, newest first.

    Raises:
        NotFound: the guest or storage is unknown.
    """
    async with connect(app_ctx) as api:
        vmid = await _guest_vmid(api, guest) if guest else None
        return await _scan(api, vmid=vmid, storage=storage)


async def locate_backup(api: ProxmoxClient, volid: str) -> BackupVolume:
    """Return the backup with this volume id and a node that holds it.

    Raises:
        UsageError: the text is not a volume id.
        NotFound: no online node's storage holds it.
    """
    volid = check_volid(volid)
    storage = volid.partition(":")[0]
    for backup in await _scan(api, storage=storage):
        if backup.volid == volid:
            return backup
    raise NotFound(f"No backup {volid} on an online node (see `pmpc backup list --storage {storage}`).")


async def _guest_vmid(api: ProxmoxClient, text: str) -> int:
    """Return the VMID a guest argument names: a VMID (which may be gone), `vm/101`, or a guest's name."""
    raw = text.strip().partition("/")[2] if text.strip().startswith(("vm/", "ct/")) else text.strip()
    if raw.isdigit():
        return int(raw)
    matches = [g for g in await cluster_guests(api) if g.name == raw]
    if len(matches) == 1:
        return matches[0].vmid
    if matches:
        refs = ", ".join(g.ref for g in sorted(matches, key=lambda g: g.vmid))
        raise NotFound(f"The name {raw!r} matches {len(matches)} guests ({refs}): use the VMID.")
    raise NotFound(f"No guest named {raw!r} in this cluster (a deleted guest's backups: use its VMID).")


async def delete_backups(
    app_ctx: AppContext,
    volids: Sequence[str],
    *,
    timeout: float = 300.0,
    wait: bool = True,
    dry_run: bool = False,
    confirm: Confirm,
    progress: Progress | None = None,
) -> BatchResult:
    """Delete backup volumes (each from a node that sees its storage); return each one's result.

    Raises:
        UsageError: a text is not a volume id.
        ConfirmationRequired, Aborted: the user did not confirm.
    """
    if not volids:
        raise UsageError("Name at least one backup volume id (STORAGE:backup/FILE).")
    wanted = list(dict.fromkeys(check_volid(v) for v in volids))
    batch = BatchResult(action="delete", dry_run=dry_run)
    async with connect(app_ctx) as api:
        results: list[TargetResult] = []
        for volid in wanted:
            result = TargetResult(target=volid, kind="backup", action="delete")
            try:
                found = await locate_backup(api, volid)
            except NotFound as exc:
                result.fail(exc)
            else:
                result.node = found.node
                result.message = "deleted"
                # The volume id goes in unencoded (`local:backup/...`), as PVE's own clients send it.
                path = f"/nodes/{found.node}/storage/{found.storage}/content/{volid}"
                result.requests = [PlannedRequest(method="DELETE", path=path)]
            results.append(result)
        batch.results = results
        todo = [r for r in results if r.ok]
        if dry_run or not todo:
            return batch
        confirm("delete the backups", [r.target for r in todo])
        deadline = time.monotonic() + timeout
        for result in todo:
            try:
                upid = await send(
                    api, result.requests[0], target=result.target, deadline=deadline, timeout=timeout,
                    wait=wait, progress=progress,
                )
            except ApiError as exc:
                result.fail(exc)
                continue
            result.upid = upid
    return batch


# --------------------------------------------------------------------------- restore


@dataclass(frozen=True)
class RestoreOptions:
    """Where and how to restore a backup."""

    vmid: int
    node: str | None = None
    storage: str | None = None
    force: bool = False
    unique: bool = False


def restore_request(kind: GuestKind, volid: str, node: str, options: RestoreOptions) -> PlannedRequest:
    """Return PVE's restore request: a create with `archive` (VM) or `ostemplate` and `restore=1` (container)."""
    params: dict[str, Any] = {"vmid": options.vmid}
    if kind == "vm":
        params["archive"] = volid
    else:
        params["ostemplate"] = volid
        params["restore"] = 1
    if options.storage:
        params["storage"] = options.storage
    if options.force:
        params["force"] = 1
    if options.unique:
        params["unique"] = 1
    return PlannedRequest(method="POST", path=f"/nodes/{node}/{api_type(kind)}", params=params)


async def plan_restore(
    api: ProxmoxClient, kind: GuestKind, volid: str, options: RestoreOptions
) -> tuple[TargetResult, Guest | None]:
    """Plan a restore: its result (with the request) and the guest it would overwrite, if any.

    Raises:
        UsageError: the backup is of the other kind, or --node names another node than the guest's.
        NotFound: the backup or the node is unknown.
        Conflict: a guest with that VMID exists and --force was not given.
    """
    backup = await locate_backup(api, volid)
    other = guest_kind(backup.type) if backup.type is not None else kind
    if other != kind:
        raise UsageError(f"{backup.volid} is a backup of a {NOUN[other]}: use `pmpc {other} restore`.")
    existing = next((g for g in await cluster_guests(api) if g.vmid == options.vmid), None)
    if existing is not None:
        if existing.kind != kind:
            raise Conflict(f"VMID {options.vmid} is taken by {existing.ref} ({existing.name}): pick another --vmid.")
        if not options.force:
            raise Conflict(
                f"{existing.ref} ({existing.name}) exists on {existing.node}: add --force to overwrite it "
                "with the backup, or restore to a free --vmid."
            )
        if options.node and options.node != existing.node:
            raise UsageError(
                f"{existing.ref} lives on {existing.node}: it can only be overwritten there (drop --node)."
            )
    node = options.node or (existing.node if existing else backup.node)
    await check_node(api, node)
    request = restore_request(kind, backup.volid, node, options)
    result = TargetResult(
        target=f"{kind}/{options.vmid}",
        kind=kind,
        vmid=options.vmid,
        node=node,
        action="restore",
        message=f"restored from {backup.volid}",
        requests=[request],
    )
    return result, existing


async def run_restore(
    api: ProxmoxClient,
    result: TargetResult,
    *,
    timeout: float,
    wait: bool = True,
    progress: Progress | None = None,
) -> None:
    """Send a planned restore and (unless not `wait`) wait for its task; a failure is kept in the result."""
    try:
        result.upid = await send(
            api,
            result.requests[0],
            target=result.target,
            deadline=time.monotonic() + timeout,
            timeout=timeout,
            wait=wait,
            progress=progress,
        )
    except PmpcError as exc:
        result.fail(exc)


async def restore_backup(
    app_ctx: AppContext,
    kind: GuestKind,
    volid: str,
    options: RestoreOptions,
    *,
    timeout: float = 300.0,
    wait: bool = True,
    dry_run: bool = False,
    confirm: Confirm,
    progress: Progress | None = None,
) -> BatchResult:
    """Restore a backup to a VMID; overwriting an existing guest needs `force` and names it in the confirmation.

    Raises:
        UsageError, NotFound, Conflict: see plan_restore.
        ConfirmationRequired, Aborted: the user did not confirm.
    """
    batch = BatchResult(action="restore", dry_run=dry_run)
    async with connect(app_ctx) as api:
        result, existing = await plan_restore(api, kind, volid, options)
        batch.results = [result]
        if dry_run:
            return batch
        if existing is not None:
            confirm("overwrite", [f"{existing.ref} ({existing.name}) on {existing.node} with {volid}"])
        else:
            confirm("restore", [f"{volid} to {result.target} on {result.node}"])
        await run_restore(api, result, timeout=timeout, wait=wait, progress=progress)
    return batch
