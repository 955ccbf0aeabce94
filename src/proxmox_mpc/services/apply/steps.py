"""One change of a plan, executed: create or clone, config, disks, template, pool, migration, power, delete.

Each step reads what it needs right before it (the config and its digest, the power state) and sends
the requests core/guest_requests.py builds; a failing step stops its change, never the others.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from proxmox_mpc.core import normalize as nz
from proxmox_mpc.core.batch import PlannedRequest
from proxmox_mpc.core.guest_requests import (
    after_clone_fields,
    change_clone_params,
    change_create_request,
    clone_request,
    config_requests,
    config_update,
    delete_request,
    migrate_request,
    pool_request,
    power_request,
    template_request,
)
from proxmox_mpc.core.identity import guest_kind, is_api_guest_type
from proxmox_mpc.core.plan import CLONE_FIELD, NODE_FIELD, POOL_FIELD, PSEUDO_FIELDS, STATE_FIELD, Change, FieldChange
from proxmox_mpc.errors import ApiError, Conflict, ExitCode, ManifestError, NotFound, PmpcError, TargetsFailed
from proxmox_mpc.services.apply.journal import ApplyRun, error_text, task_upid
from proxmox_mpc.services.apply.report import ActionResult, StepResult
from proxmox_mpc.services.vmids import with_fresh_vmid


async def _current_config(run: ApplyRun, change: Change, node: str, vmid: int) -> dict[str, Any]:
    return await run.api.guest_config(node, change.type, vmid)


async def _apply_config(
    run: ApplyRun,
    result: ActionResult,
    change: Change,
    node: str,
    vmid: int,
    fields: Sequence[FieldChange],
    digest: str | None,
    deadline: float,
) -> None:
    if not any(f.name not in PSEUDO_FIELDS and f.name != "template" for f in fields):
        return
    current = await _current_config(run, change, node, vmid)
    if digest and current.get("digest") and current["digest"] != digest:
        raise Conflict(
            f"{change.address}: its config changed since the plan was made (digest mismatch); "
            "run `pmpc plan` again."
        )
    update = config_update(change.kind, fields, current)
    for step, request in config_requests(change.kind, node, vmid, update, current.get("digest")):
        await run.send(result, step, request, deadline)


async def _apply_tail(
    run: ApplyRun,
    result: ActionResult,
    change: Change,
    node: str,
    vmid: int,
    deadline: float,
    *,
    created: bool,
    skip_power: bool = False,
) -> str:
    """Template, pool, migration and power of a guest; return the node it ends on."""
    fields = {f.name: f for f in change.fields}
    template = fields.get("template")
    if template is not None and template.new == "1":
        await run.send(result, "template", template_request(change.kind, node, vmid), deadline)
    pool = fields.get(POOL_FIELD)
    pool_move = pool_request(vmid, pool.old, pool.new) if pool is not None and not created else None
    if pool_move is not None:
        await run.send(result, "pool", pool_move, deadline)
    move = fields.get(NODE_FIELD)
    if move is not None and move.new and move.new != node:
        running = any(int(r["vmid"]) == vmid and r.get("status") == "running" for r in run.resources)
        request = migrate_request(change.kind, node, vmid, move.new, online=running, with_local_disks=True)
        await run.send(result, "migrate", request, deadline)
        node = move.new
    state = fields.get(STATE_FIELD)
    if state is not None and not skip_power and not (created and state.new == "stopped"):
        await _power(run, result, change, node, vmid, state.new, deadline)
    return node


async def _power(
    run: ApplyRun, result: ActionResult, change: Change, node: str, vmid: int, want: str | None, deadline: float
) -> None:
    if want not in ("running", "stopped"):
        return
    step = "start" if want == "running" else "stop"

    async def reached() -> bool:
        now = (await run.api.guest_status(node, change.type, vmid)).get("status")
        return (now == "stopped") == (want == "stopped")

    # Someone else may have done it meanwhile: that is no failure, and nothing to send.
    if await reached():
        run.journal(result, StepResult(step=step, status="ok", detail=f"already {want}"))
        return
    if want == "running":
        request = power_request(change.kind, node, vmid, "start")
    else:
        seconds = max(1, int(max(1.0, deadline - time.monotonic())))
        request = power_request(change.kind, node, vmid, "shutdown", timeout=seconds, forceStop=1)
    try:
        await run.send(result, step, request, deadline)
    except ApiError:
        # PVE refuses a shutdown of a guest that stopped in between (a shutdown still running from an
        # interrupted apply, a teammate's): when the guest is where we want it, that is no failure.
        if not await reached():
            raise
        result.steps = [s for s in result.steps if not (s.step == step and s.status == "failed")]
        run.journal(result, StepResult(step=step, status="ok", detail=f"already {want}"))


async def _delete(run: ApplyRun, result: ActionResult, change: Change, vmid: int, deadline: float) -> None:
    node = run.nodes.get(vmid)
    if node is None:
        run.journal(result, StepResult(step="delete", status="ok", detail="already gone"))
        return
    current = await _current_config(run, change, node, vmid)
    if nz.bool_text(current.get("protection", 0)) == "1":
        error = Conflict(
            f"{change.address} ({change.kind}/{vmid}) is protected (protection: 1): remove the "
            "protection first; nothing was deleted."
        )
        run.journal(result, StepResult(step="delete", status="failed", detail=error.message))
        raise error
    if change.backup:
        await _backup(run, result, change, node, vmid, deadline)
    status = await run.api.guest_status(node, change.type, vmid)
    if status.get("status") == "running":
        await run.send(result, "stop", power_request(change.kind, node, vmid, "stop"), deadline)
    await run.send(result, "delete", delete_request(change.kind, node, vmid, purge=True), deadline)
    run.nodes.pop(vmid, None)
    run.deleted(vmid)


async def _backup(run: ApplyRun, result: ActionResult, change: Change, node: str, vmid: int, deadline: float) -> None:
    """Take a vzdump of a guest about to be deleted and journal its volume; a failure stops the delete.

    Raises:
        PmpcError: the backup failed (with the vzdump's own exit code): nothing was deleted.
    """
    from proxmox_mpc.core.backups import BackupOptions
    from proxmox_mpc.core.models import Guest
    from proxmox_mpc.services.backup import default_backup_storage, run_backup

    assert change.backup is not None

    def accepted(upid: str) -> None:
        run.note(result.address, "backup", "started", f"vzdump {vmid} to {storage}", upid)

    try:
        storage = change.backup if change.backup != "auto" else await default_backup_storage(run.api, node)
        guest = Guest(
            kind=change.kind,
            vmid=vmid,
            name=change.address.split("/", 1)[1],
            node=node,
            status="unknown",
        )
        done = await run_backup(
            run.api,
            guest,
            BackupOptions(storage=storage),
            timeout=max(1.0, deadline - time.monotonic()),
            progress=run.progress,
            target=result.address,
            on_accepted=accepted,
        )
    except PmpcError as exc:
        run.journal(
            result, StepResult(step="backup", status="failed", detail=error_text(exc), upid=task_upid(exc))
        )
        # One guest: the backup's own code; a batch goes on with the others and exits 3 (partial).
        raise TargetsFailed(
            f"{change.address}: the backup before the delete failed, so nothing was deleted: {exc.message}",
            exit_code=ExitCode.PARTIAL_FAILURE if run.batch else exc.exit_code,
            kind=PmpcError.kind,
        ) from exc
    run.journal(result, StepResult(step="backup", status="ok", detail=done.volid, upid=done.upid))


def _resolve_source(run: ApplyRun, change: Change, source: str) -> tuple[str, int]:
    for res in run.resources:
        if not is_api_guest_type(res.get("type")) or guest_kind(str(res.get("type"))) != change.kind:
            continue
        if (source.isdigit() and int(res["vmid"]) == int(source)) or str(res.get("name")) == source:
            return str(res["node"]), int(res["vmid"])
    raise NotFound(f"{change.address}: the clone source {source!r} does not exist.")


async def _create(run: ApplyRun, result: ActionResult, change: Change, deadline: float) -> None:
    clone = change.field(CLONE_FIELD)

    async def attempt(vmid: int) -> None:
        result.vmid = vmid
        if clone is not None and clone.new:
            await _clone(run, result, change, vmid, clone.new, deadline)
        else:
            await run.send(result, "create", change_create_request(change, vmid), deadline)

    def collided(_taken: int) -> None:
        # The journal keeps the refused attempt; the report shows the one that worked.
        result.steps = [s for s in result.steps if s.status != "failed"]

    chosen = change.vmid is not None
    first = change.vmid if change.vmid is not None else await run.allocator.allocate()
    vmid, _ = await with_fresh_vmid(run.allocator, first, attempt, chosen=chosen, on_collision=collided)
    run.created(change, vmid)
    await run.refresh()
    await _apply_tail(run, result, change, change.node, vmid, deadline, created=True)


async def _clone(
    run: ApplyRun, result: ActionResult, change: Change, vmid: int, spec: str, deadline: float
) -> None:
    props = nz.split_props(spec)[1]
    await run.refresh()
    src_node, src_vmid = _resolve_source(run, change, props.get("from", ""))
    params = change_clone_params(change, vmid, props, src_node)
    await run.send(result, "clone", clone_request(change.kind, src_node, src_vmid, params), deadline)
    current = await _current_config(run, change, change.node, vmid)
    wanted = after_clone_fields(change, current)
    await _apply_config(run, result, change, change.node, vmid, wanted, None, deadline)


async def _update(run: ApplyRun, result: ActionResult, change: Change, deadline: float) -> None:
    assert change.vmid is not None
    node = run.nodes.get(change.vmid)
    if node is None:
        raise NotFound(
            f"{change.address}: guest {change.kind}/{change.vmid} no longer exists; run `pmpc plan` again."
        )
    state = change.field(STATE_FIELD)
    stop_first = state is not None and state.new == "stopped"
    if stop_first:
        # A guest that is to stop stops first: its config changes then apply at once, not at the next start.
        await _power(run, result, change, node, change.vmid, "stopped", deadline)
    await _apply_config(run, result, change, node, change.vmid, change.fields, change.digest, deadline)
    await _apply_tail(run, result, change, node, change.vmid, deadline, created=False, skip_power=stop_first)


async def run_change(run: ApplyRun, change: Change) -> ActionResult:
    """Execute one change; never raises (the result carries the error)."""
    result = ActionResult(
        address=change.address,
        kind=change.kind,
        vmid=change.vmid,
        node=change.node,
        action=change.action,
        needs_reboot=change.needs_reboot and change.action == "update",
    )
    deadline = time.monotonic() + run.timeout
    async with run.limit:
        try:
            run.note(change.address, change.action, "started", change.ref)
            if not change.guest:
                await _resource(run, result, change, deadline)
            elif change.action == "delete":
                assert change.vmid is not None
                await _delete(run, result, change, change.vmid, deadline)
            elif change.action == "replace":
                assert change.vmid is not None
                _refuse_uncreatable(change)
                await _delete(run, result, change, change.vmid, deadline)
                await _create(run, result, change, deadline)
            elif change.action == "create":
                await _create(run, result, change, deadline)
            else:
                await _update(run, result, change, deadline)
        except PmpcError as exc:
            result.status, result.error = "failed", exc.message
            run.errors[change.address] = exc
            if not result.steps or result.steps[-1].status != "failed":
                run.journal(result, StepResult(step=change.action, status="failed", detail=exc.message))
            return result
    result.status, result.ok = "done", True
    return result


async def _resource(run: ApplyRun, result: ActionResult, change: Change, deadline: float) -> None:
    """Carry out a change of a non-guest kind (a pool, ...) through its kind's requests."""
    from proxmox_mpc.services.resources import apply_resource_change, record_outcome

    async def send(step: str, request: PlannedRequest) -> None:
        await run.send(result, step, request, deadline)

    await apply_resource_change(change, send, run.api)
    record_outcome(run.store, run.cluster, change, run.run_id)


def _refuse_uncreatable(change: Change) -> None:
    """Never start a replace whose create is known to be refused (the delete would lose the guest)."""
    from proxmox_mpc.core.preflight import create_blockers, replace_sentence

    blockers = create_blockers(change)
    if blockers:
        raise ManifestError(replace_sentence(change, blockers[0]) + ".")
