"""`pmpc apply` and `pmpc destroy`: execute a plan under the workspace lock, journaling every action.

The plan alone says what to do (a saved plan needs no manifests): each change becomes a few requests
in a fixed order (create or clone, config, disks, template, pool, migration, power); changes run in
stages (clone sources first) and the changes of a stage concurrently. A failing guest stops at its
failed step; the others finish; guests that depend on it are skipped. Every step is journaled.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field, PrivateAttr

from proxmox_mpc.context import AppContext
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
from proxmox_mpc.core.ordering import dependents, order_changes
from proxmox_mpc.core.plan import (
    CLONE_FIELD,
    NODE_FIELD,
    POOL_FIELD,
    PSEUDO_FIELDS,
    STATE_FIELD,
    Change,
    FieldChange,
    Plan,
    make_plan,
)
from proxmox_mpc.core.secrets import SHOWN, is_secret_key
from proxmox_mpc.errors import (
    ApiError,
    ApiNotFound,
    Conflict,
    ExitCode,
    ManifestError,
    NotFound,
    PmpcError,
    TaskFailedError,
    UsageError,
)
from proxmox_mpc.kinds.plan import change_references
from proxmox_mpc.output.progress import Progress

if TYPE_CHECKING:
    from proxmox_mpc.api.client import ProxmoxClient
    from proxmox_mpc.services.manifests import ManifestSet
    from proxmox_mpc.state.store import Store

Confirm = Callable[[str, Sequence[str]], None]
ShowPlan = Callable[[Plan], None]
StepStatus = Literal["ok", "failed", "skipped"]
VMID_ATTEMPTS = 3


class StepResult(BaseModel):
    """One request of an action and how it went."""

    step: str
    status: StepStatus
    detail: str | None = None
    upid: str | None = None


class ActionResult(BaseModel):
    """What happened to one change of the plan."""

    address: str
    kind: str
    vmid: int | None = None
    node: str
    action: str
    ok: bool = False
    status: Literal["done", "failed", "skipped", "planned"] = "planned"
    error: str | None = None
    needs_reboot: bool = False
    steps: list[StepResult] = Field(default_factory=list)


class ApplyReport(BaseModel):
    """The outcome of `pmpc apply` / `pmpc destroy`."""

    kind: str = "apply"
    dry_run: bool = False
    run_id: int | None = None
    plan: Plan
    results: list[ActionResult] = Field(default_factory=list)
    note: str | None = None

    _error: PmpcError | None = PrivateAttr(default=None)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def error(self) -> PmpcError | None:
        """Return the error to exit with when some change failed (after printing the report)."""
        return self._error


def plan_digest(plan: Plan) -> str:
    """Return a short hash of a plan's changes (recorded with the apply run)."""
    body = json.dumps([c.model_dump(mode="json") for c in plan.changes], sort_keys=True)
    return hashlib.sha256(body.encode()).hexdigest()[:16]


# ----------------------------------------------------------------------------- execution


class _Run:
    """One apply run: the client, the journal and what every action shares."""

    def __init__(
        self,
        api: ProxmoxClient,
        store: Store | None,
        run_id: int | None,
        *,
        timeout: float,
        progress: Progress | None,
        concurrency: int,
        cluster: str | None = None,
    ) -> None:
        from proxmox_mpc.services.guests import VmidAllocator

        self.api = api
        self.store = store
        self.run_id = run_id
        self.cluster = cluster
        self.batch = False  # more than one change: a failed backup is a partial failure (exit 3)
        self.timeout = timeout
        self.progress = progress
        self.limit = asyncio.Semaphore(max(1, concurrency))
        self.allocator = VmidAllocator(api)
        self.nodes: dict[int, str] = {}
        self.resources: list[dict[str, Any]] = []
        self.errors: dict[str, PmpcError] = {}

    def journal(self, result: ActionResult, step: StepResult) -> None:
        result.steps.append(step)
        self.note(result.address, step.step, step.status, step.detail, step.upid)

    def note(
        self, address: str, step: str, status: str, detail: str | None = None, upid: str | None = None
    ) -> None:
        """Write one journal row (not part of the printed report): a start, a task PVE accepted."""
        if self.store is not None and self.run_id is not None:
            self.store.journal_action(self.run_id, address, step, status, detail, upid)

    def created(self, change: Change, vmid: int) -> None:
        if self.store is not None and self.cluster is not None:
            name = change.address.split("/", 1)[1]
            self.store.record_created(self.cluster, change.type, vmid, name, self.run_id)

    def deleted(self, vmid: int) -> None:
        if self.store is not None and self.cluster is not None:
            self.store.forget_created(self.cluster, vmid)

    async def refresh(self) -> None:
        self.resources = [
            r for r in await self.api.cluster_resources("vm") if r.get("type") in ("qemu", "lxc")
        ]
        self.nodes = {int(r["vmid"]): str(r["node"]) for r in self.resources}

    async def send(
        self, result: ActionResult, step: str, request: PlannedRequest, deadline: float
    ) -> str | None:
        from proxmox_mpc.services.tasks import send

        def accepted(upid: str) -> None:
            # Journal the task before waiting for it: after a crash the journal still names it.
            self.note(result.address, step, "started", _journal_line(request), upid)

        try:
            upid = await send(
                self.api,
                request,
                target=result.address,
                deadline=deadline,
                timeout=self.timeout,
                wait=True,
                progress=self.progress,
                on_accepted=accepted,
            )
        except PmpcError as exc:
            failed_upid = getattr(exc, "upid", None)
            self.journal(
                result, StepResult(step=step, status="failed", detail=_error_text(exc), upid=failed_upid)
            )
            raise
        self.journal(result, StepResult(step=step, status="ok", detail=_journal_line(request), upid=upid))
        return upid


def _journal_line(request: PlannedRequest) -> str:
    """Return a request as the journal keeps it: secrets never, long values cut."""

    shown = {k: (SHOWN if is_secret_key(k) else str(v)[:80]) for k, v in request.params.items()}
    return PlannedRequest(method=request.method, path=request.path, params=shown).line()[:500]


def _error_text(exc: PmpcError) -> str:
    text = exc.message
    if isinstance(exc, TaskFailedError) and exc.log_tail:
        text += " | " + " / ".join(exc.log_tail[-3:])
    return text


async def _current_config(run: _Run, change: Change, node: str, vmid: int) -> dict[str, Any]:
    return await run.api.guest_config(node, change.type, vmid)


async def _apply_config(
    run: _Run,
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
    update = config_update(change.type, fields, current)
    for step, request in config_requests(change.kind, node, vmid, update, current.get("digest")):
        await run.send(result, step, request, deadline)


async def _apply_tail(
    run: _Run,
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
    run: _Run, result: ActionResult, change: Change, node: str, vmid: int, want: str | None, deadline: float
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


async def _delete(run: _Run, result: ActionResult, change: Change, vmid: int, deadline: float) -> None:
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


async def _backup(run: _Run, result: ActionResult, change: Change, node: str, vmid: int, deadline: float) -> None:
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
            type=change.type,  # type: ignore[arg-type]
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
        error = PmpcError(
            f"{change.address}: the backup before the delete failed, so nothing was deleted: {exc.message}"
        )
        # One guest: the backup's own code; a batch goes on with the others and exits 3 (partial).
        error.exit_code = ExitCode.PARTIAL_FAILURE if run.batch else exc.exit_code
        run.journal(
            result,
            StepResult(step="backup", status="failed", detail=_error_text(exc), upid=getattr(exc, "upid", None)),
        )
        raise error from exc
    run.journal(result, StepResult(step="backup", status="ok", detail=done.volid, upid=done.upid))


def _resolve_source(run: _Run, change: Change, source: str) -> tuple[str, int]:
    for res in run.resources:
        if res.get("type") != change.type:
            continue
        if (source.isdigit() and int(res["vmid"]) == int(source)) or str(res.get("name")) == source:
            return str(res["node"]), int(res["vmid"])
    raise NotFound(f"{change.address}: the clone source {source!r} does not exist.")


async def _create(run: _Run, result: ActionResult, change: Change, deadline: float) -> None:
    fields = {f.name: f for f in change.fields}
    clone = fields.get(CLONE_FIELD)
    attempts = 1 if change.vmid is not None else VMID_ATTEMPTS
    vmid = change.vmid if change.vmid is not None else await run.allocator.allocate()
    for attempt in range(attempts):
        result.vmid = vmid
        try:
            if clone is not None and clone.new:
                await _clone(run, result, change, vmid, clone.new, deadline)
            else:
                await run.send(result, "create", change_create_request(change, vmid), deadline)
            break
        except PmpcError as exc:
            text = exc.message + " " + (exc.exitstatus if isinstance(exc, TaskFailedError) else "")
            if "already exists" not in text or attempt == attempts - 1:
                raise
            result.steps = [s for s in result.steps if s.status != "failed"]
            vmid = await run.allocator.allocate()
    run.created(change, vmid)
    await run.refresh()
    await _apply_tail(run, result, change, change.node, vmid, deadline, created=True)


async def _clone(
    run: _Run, result: ActionResult, change: Change, vmid: int, spec: str, deadline: float
) -> None:
    props = nz.split_props(spec)[1]
    await run.refresh()
    src_node, src_vmid = _resolve_source(run, change, props.get("from", ""))
    params = change_clone_params(change, vmid, props, src_node)
    await run.send(result, "clone", clone_request(change.kind, src_node, src_vmid, params), deadline)
    current = await _current_config(run, change, change.node, vmid)
    wanted = after_clone_fields(change, current)
    await _apply_config(run, result, change, change.node, vmid, wanted, None, deadline)


async def _update(run: _Run, result: ActionResult, change: Change, deadline: float) -> None:
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


async def run_change(run: _Run, change: Change) -> ActionResult:
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


async def _resource(run: _Run, result: ActionResult, change: Change, deadline: float) -> None:
    """Carry out a change of a non-guest kind (a pool, ...) through its kind's requests."""
    from proxmox_mpc.services.resources import apply_resource_change, record_outcome

    async def send(step: str, request: PlannedRequest) -> None:
        await run.send(result, step, request, deadline)

    await apply_resource_change(change, send)
    record_outcome(run.store, run.cluster, change, run.run_id)


def _refuse_uncreatable(change: Change) -> None:
    """Never start a replace whose create is known to be refused (the delete would lose the guest)."""
    from proxmox_mpc.core.preflight import create_blockers, replace_sentence

    blockers = create_blockers(change)
    if blockers:
        raise ManifestError(replace_sentence(change, blockers[0]) + ".")


async def check_fresh(api: ProxmoxClient, plan: Plan) -> None:
    """Refuse a saved plan whose guests changed since it was made (exit 7).

    Raises:
        Conflict: a guest's config digest differs, a guest to update is gone, or a guest to create exists.
    """
    resources = [r for r in await api.cluster_resources("vm") if r.get("type") in ("qemu", "lxc")]
    by_vmid = {int(r["vmid"]): r for r in resources}
    names = {(str(r.get("type")), str(r.get("name"))) for r in resources}
    from proxmox_mpc.services.resources import stale_resources

    stale: list[str] = await stale_resources(api, plan.changes)
    for change in plan.changes:
        if not change.guest:
            continue  # stale_resources judged it
        if change.action == "create":
            name = change.address.split("/", 1)[1]
            if (change.vmid is not None and change.vmid in by_vmid) or (change.type, name) in names:
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


def _failure(results: Sequence[ActionResult], errors: dict[str, PmpcError]) -> PmpcError | None:
    failed = [r for r in results if r.status == "failed"]
    if not failed:
        return None
    first = failed[0]
    exc = errors.get(first.address)
    done = sum(1 for r in results if r.ok)
    skipped = sum(1 for r in results if r.status == "skipped")
    message = (
        f"Apply failed: {first.address}: {first.error} ({done} of {len(results)} changes done, "
        f"{len(failed)} failed, {skipped} skipped; the journal records each step)."
    )
    error = PmpcError(message, details={"failed": [r.address for r in failed]})
    error.kind = "apply_failed"
    if isinstance(exc, PmpcError):
        error.exit_code = exc.exit_code
    return error


Replan = Callable[[], Awaitable[Plan]]


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


async def execute_plan(
    app_ctx: AppContext,
    plan: Plan,
    *,
    confirm: Confirm | None,
    action: str = "apply",
    lock_timeout: float = 0.0,
    timeout: float = 300.0,
    concurrency: int | None = None,
    progress: Progress | None = None,
    check_stale: bool = False,
    replan: Replan | None = None,
) -> ApplyReport:
    """Confirm, take the workspace lock, plan again (or re-check a saved plan), and run the changes in order.

    Everything that decides what to do happens while the lock is held and after the confirmation, so two
    overlapping applies (or one that waited at its prompt) never do the same thing twice.

    Raises:
        ConfirmationRequired / Aborted: through `confirm` (None: a saved plan, which was the confirmation).
        Conflict: the workspace lock is held, or the plan is stale (exit 7).
        ManifestError: a create (or a replace's create) would be refused (nothing was sent).

    A failed change does not raise: the report carries it (`report.error`), to raise after printing.
    """
    from proxmox_mpc.services.connection import connect
    from proxmox_mpc.services.preflight import workspace_label
    from proxmox_mpc.services.state import cluster_key, open_app_store, workspace_lock_name

    report = ApplyReport(kind=action, plan=plan)
    errors: dict[str, PmpcError] = {}
    if plan.empty:
        return report
    if confirm is not None:
        confirm(action, [_describe(c) for c in plan.changes])
    async with connect(app_ctx) as api:
        store = open_app_store(app_ctx)
        try:
            holder = f"pmpc {action}"
            with store.workspace_lock(workspace_lock_name(app_ctx), holder, lock_timeout):
                if check_stale:
                    await check_fresh(api, plan)
                    await check_saved_creatable(api, plan)
                elif replan is not None:
                    plan = settle_plan(plan, await replan())
                    report.plan = plan
                if plan.empty:
                    report.note = "No changes: someone else already made them."
                    return report
                cluster = cluster_key(app_ctx)
                run_id = store.start_apply_run(
                    cluster, workspace_label(app_ctx), plan_digest(plan), operation=action
                )
                report.run_id = run_id
                run = _Run(
                    api,
                    store,
                    run_id,
                    timeout=timeout,
                    progress=progress,
                    concurrency=concurrency or app_ctx.settings.concurrency,
                    cluster=cluster,
                )
                run.batch = len(plan.changes) > 1
                try:
                    await run.refresh()
                    stages = order_changes(plan.changes, change_references(plan.changes))
                    report.results = await _run_stages(run, plan, stages)
                    errors = run.errors
                finally:
                    status = "ok" if all(r.ok for r in report.results) and report.results else "failed"
                    if any(r.ok for r in report.results) and status == "failed":
                        status = "partial"
                    store.finish_apply_run(run_id, status)
        finally:
            if progress is not None:
                progress.close()
            store.close()
    report._error = _failure(report.results, errors)
    return report


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


async def _run_stages(run: _Run, plan: Plan, stages: list[list[Change]]) -> list[ActionResult]:
    results: dict[str, ActionResult] = {}
    failed: set[str] = set()
    for stage in stages:
        skip = dependents(plan.changes, failed, change_references(plan.changes))
        todo = []
        for change in stage:
            if change.address in skip:
                result = ActionResult(
                    address=change.address,
                    kind=change.kind,
                    vmid=change.vmid,
                    node=change.node,
                    action=change.action,
                    status="skipped",
                    error="skipped: a guest it depends on failed",
                )
                run.journal(result, StepResult(step=change.action, status="skipped", detail=result.error))
                results[change.address] = result
            else:
                todo.append(change)
        for result in await asyncio.gather(*(run_change(run, c) for c in todo)):
            results[result.address] = result
            if result.status == "failed":
                failed.add(result.address)
    return [results[c.address] for c in plan.changes if c.address in results]


def _describe(change: Change) -> str:
    names = ", ".join(f.name for f in change.fields[:6]) + (" ..." if len(change.fields) > 6 else "")
    return f"{change.action} {change.address}" + (
        f" ({names})" if names and change.action != "delete" else ""
    )


async def apply(
    app_ctx: AppContext,
    *,
    plan_file: Path | None = None,
    targets: Sequence[str] = (),
    selector: str | None = None,
    dry_run: bool = False,
    confirm: Confirm,
    show: ShowPlan | None = None,
    lock_timeout: float = 0.0,
    timeout: float = 300.0,
    concurrency: int | None = None,
    progress: Progress | None = None,
    allow_destroy: Sequence[str] = (),
    backup_first: bool = False,
    backup_storage: str | None = None,
) -> ApplyReport:
    """Plan (or read a saved plan), show it, confirm, and execute it; on --dry-run only plan.

    A saved plan applies without a prompt: it was the confirmation (as terraform's is).

    Raises:
        ManifestError: a manifest is invalid, a create would be refused, a protected guest would be
            destroyed (nothing was sent).
        Conflict: a saved plan is stale, or made for another context; the workspace lock is held.

    A failed change is in `report.error` (the others finished; the journal has every step).
    """
    from proxmox_mpc.services.plan import compute_plan, parse_allow_destroy, read_plan

    parse_allow_destroy(allow_destroy)
    replan: Replan | None = None
    if plan_file is not None:
        if targets or selector:
            raise UsageError("A saved plan is applied whole: drop the manifest arguments and -l.")
        if allow_destroy or backup_first or backup_storage:
            raise UsageError(
                "A saved plan is applied as it was made: give --allow-destroy and --backup-first to `pmpc plan`."
            )
        plan = read_plan(plan_file)
        context = app_ctx.settings.context
        if plan.context and context and plan.context != context:
            raise Conflict(f"The plan was made for context {plan.context!r}, not {context!r}.")
        check_stale = True
    else:

        async def replan() -> Plan:
            result = await compute_plan(
                app_ctx,
                targets=targets,
                selector=selector,
                allow_destroy=allow_destroy,
                backup_first=backup_first,
                backup_storage=backup_storage,
            )
            return result.plan

        plan = await replan()
        check_stale = False
    if show is not None:
        show(plan)
    if dry_run:
        return ApplyReport(kind="apply", dry_run=True, plan=plan)
    return await execute_plan(
        app_ctx,
        plan,
        confirm=None if plan_file is not None else confirm,
        lock_timeout=lock_timeout,
        timeout=timeout,
        concurrency=concurrency,
        progress=progress,
        check_stale=check_stale,
        replan=replan,
    )


def _chosen_manifests(app_ctx: AppContext, targets: Sequence[str]) -> ManifestSet:
    """Return the manifests `destroy` names: files and directories, names or addresses, else the workspace's.

    Raises:
        NotFound: a name matches no manifest.
    """
    from proxmox_mpc.services.manifests import ManifestSet, load_all, workspace_set

    files = [t for t in targets if Path(t).exists()]
    names = [t for t in targets if not Path(t).exists()]
    chosen = load_all([Path(t) for t in files]) if files else ManifestSet()
    if not names and files:
        return chosen
    everything = workspace_set(app_ctx)
    if not names:
        return everything
    for name in names:
        guests = [i for i in everything.guests if name in (i.manifest.name, i.manifest.address)]
        others = [i for i in everything.resources if name in (i.manifest.name, i.manifest.address)]
        if not guests and not others:
            raise NotFound(f"No manifest for {name!r} in this workspace.")
        chosen.guests += guests
        chosen.resources += others
    return chosen


async def destroy_plan(
    app_ctx: AppContext,
    *,
    targets: Sequence[str] = (),
    selector: str | None = None,
    allow_destroy: Sequence[str] = (),
    backup_first: bool = False,
    backup_storage: str | None = None,
) -> Plan:
    """Return the plan that deletes the managed guests and resources chosen (reads only; protection checked).

    Raises:
        NotFound: a name matches no manifest.
        ManifestError: a manifest is invalid, or a chosen guest is protected.
        UsageError: a bad --allow-destroy address or selector.
    """
    from proxmox_mpc.core.diff import match_guests
    from proxmox_mpc.services.connection import connect
    from proxmox_mpc.services.observe import COMPARE, observe
    from proxmox_mpc.services.plan import annotate_destroys, parse_allow_destroy, parse_selector_text, select
    from proxmox_mpc.services.preflight import workspace_label
    from proxmox_mpc.services.resources import destroy_changes
    from proxmox_mpc.services.validate import require_valid

    allowed = parse_allow_destroy(allow_destroy)
    chosen = parse_selector_text(selector)
    found = _chosen_manifests(app_ctx, targets)
    # A selector picks guests by what they are: the other kinds are destroyed only without one.
    resources = [] if chosen else found.resources
    async with connect(app_ctx) as api:
        observation = await observe(api, COMPARE)
    observed, facts = observation.guests, observation.facts
    # Validate first: a bad manifest stops destroy before anything is sent.
    require_valid(found.guests, facts, found.resources)
    kept, guests = select(found.guests, observed, chosen)
    pairs, _ = match_guests([i.manifest for i in kept], guests)
    changes = destroy_changes(resources, facts.resources)
    for manifest, guest in pairs:
        if guest is None:
            continue
        changes.append(
            Change(
                address=manifest.address,
                kind=guest.kind,
                vmid=guest.vmid,  # type: ignore[arg-type]
                node=guest.node,
                action="delete",
                fields=[FieldChange(name=STATE_FIELD, old=guest.status, new="absent")],
                digest=guest.digest,
            )
        )
    plan = make_plan(changes, context=app_ctx.settings.context, workspace=workspace_label(app_ctx))
    annotate_destroys(
        app_ctx,
        plan,
        [*kept, *resources],
        allowed,
        facts=facts,
        backup_first=backup_first,
        backup_storage=backup_storage,
    )
    return plan


async def destroy(
    app_ctx: AppContext,
    *,
    targets: Sequence[str] = (),
    selector: str | None = None,
    dry_run: bool = False,
    confirm: Confirm,
    show: ShowPlan | None = None,
    lock_timeout: float = 0.0,
    timeout: float = 300.0,
    concurrency: int | None = None,
    progress: Progress | None = None,
    allow_destroy: Sequence[str] = (),
    backup_first: bool = False,
    backup_storage: str | None = None,
) -> ApplyReport:
    """Delete the managed guests (all, or those the manifests, names and -l select); protection is honoured.

    Raises:
        NotFound: a name matches no manifest.
        ManifestError: a manifest is invalid, or a chosen guest is protected.
    """

    async def replan() -> Plan:
        return await destroy_plan(
            app_ctx,
            targets=targets,
            selector=selector,
            allow_destroy=allow_destroy,
            backup_first=backup_first,
            backup_storage=backup_storage,
        )

    plan = await replan()
    if show is not None:
        show(plan)
    if dry_run:
        return ApplyReport(kind="destroy", dry_run=True, plan=plan)
    return await execute_plan(
        app_ctx,
        plan,
        confirm=confirm,
        action="destroy",
        lock_timeout=lock_timeout,
        timeout=timeout,
        concurrency=concurrency,
        progress=progress,
        replan=replan,
    )


__all__ = ["ActionResult", "ApplyReport", "apply", "destroy", "execute_plan"]
