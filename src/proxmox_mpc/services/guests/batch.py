"""Running a guest verb on a batch: plan every target (reads only), confirm, then send concurrently.

A dry run stops after planning. The targets run concurrently, retrying transient lock errors and
waiting for tasks within each target's timeout; a target's error stays in its result.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from proxmox_mpc.context import AppContext
from proxmox_mpc.core.batch import BatchResult, PlannedRequest, TargetResult
from proxmox_mpc.core.identity import GuestKind
from proxmox_mpc.core.models import Guest
from proxmox_mpc.core.secrets import for_output
from proxmox_mpc.core.selectors import Selector
from proxmox_mpc.errors import OperationTimeout, PmpcError, TaskFailedError
from proxmox_mpc.output.progress import Progress
from proxmox_mpc.services.completion import record_snapshots
from proxmox_mpc.services.connection import connect
from proxmox_mpc.services.guests.plan import ACTIONS, Confirm, Plan, Planner, VerbOptions
from proxmox_mpc.services.guests.resolve import (
    check_node,
    check_target_choice,
    cluster_guests,
    label,
    resolve_targets,
)
from proxmox_mpc.services.guests.verbs import plan_action
from proxmox_mpc.services.tasks import send

if TYPE_CHECKING:
    from proxmox_mpc.api.client import ProxmoxClient


def _result(guest: Guest, action: str) -> TargetResult:
    return TargetResult(target=guest.ref, kind=guest.kind, vmid=guest.vmid, node=guest.node, action=action)


def redact_params(params: dict[str, Any]) -> dict[str, Any]:
    """Return request parameters fit for printing: passwords and keys replaced."""
    return for_output(params)


def shown(requests: Sequence[PlannedRequest]) -> list[PlannedRequest]:
    """Return requests fit for printing (a dry run's, a result's): secrets replaced."""
    return [PlannedRequest(method=r.method, path=r.path, params=redact_params(r.params)) for r in requests]


async def execute(
    api: ProxmoxClient,
    plan: Plan,
    result: TargetResult,
    opts: VerbOptions,
    progress: Progress | None,
) -> None:
    """Send a target's requests in order, each task waited for but the last under --no-wait."""
    deadline = time.monotonic() + opts.timeout
    last = len(plan.requests) - 1
    for index, request in enumerate(plan.requests):
        # A later request needs the earlier task finished, so only the last one honours --no-wait.
        upid = await send(
            api,
            request,
            target=result.target,
            deadline=deadline,
            timeout=opts.timeout,
            wait=opts.wait or index < last,
            progress=progress,
            wait_grace=plan.wait_grace,
        )
        if upid:
            result.upids.append(upid)
            result.upid = upid


def _translate(exc: PmpcError, action: str, guest: Guest, opts: VerbOptions) -> PmpcError:
    """Give PVE's own timeouts the exit code and wording of pmpc's (exit 8)."""
    if (
        isinstance(exc, TaskFailedError)
        and action in ("shutdown", "reboot")
        and "timeout" in exc.exitstatus.lower()
    ):
        return OperationTimeout(
            f"{guest.ref} did not shut down within {opts.timeout:g}s ({exc.exitstatus})"
            + ("." if opts.force_stop else "; add --force-stop to stop it after the timeout."),
            details={"upid": exc.upid, "exit_status": exc.exitstatus},
        )
    return exc


async def run_guest_action(
    app_ctx: AppContext,
    kind: GuestKind,
    action: str,
    targets: Sequence[str],
    selector: Selector | None,
    *,
    options: VerbOptions | None = None,
    dry_run: bool = False,
    confirm: Confirm,
    concurrency: int | None = None,
    progress: Progress | None = None,
    planner: Planner | None = None,
) -> BatchResult:
    """Run one verb on every target (concurrently); return each target's result.

    `planner` plans each target in place of the verb's own (a verb defined outside this module).

    Planning reads only; a dry run stops there. Errors of a target are kept in its result, never raised,
    except those that concern the whole command (bad targets, confirmation refused).

    Raises:
        UsageError, NotFound: the targets cannot be resolved.
        ConfirmationRequired, Aborted: the user did not confirm.
    """
    check_target_choice(kind, targets, selector)  # before any connection: a usage error is 64, not 1
    opts = options or VerbOptions()
    limit = asyncio.Semaphore(concurrency or app_ctx.settings.concurrency)
    batch = BatchResult(action=action, dry_run=dry_run)
    async with connect(app_ctx) as api:
        if action == "migrate" and opts.target_node:
            await check_node(api, opts.target_node)
        guests = resolve_targets(await cluster_guests(api), kind, targets, selector)
        results = [_result(g, action) for g in guests]
        batch.results = results

        async def plan_one(guest: Guest, result: TargetResult) -> Plan | None:
            async with limit:
                try:
                    if planner is not None:
                        plan = await planner(api, guest, opts)
                    else:
                        plan = await plan_action(api, action, guest, opts)
                except PmpcError as exc:
                    result.fail(exc)
                    return None
            result.requests = shown(plan.requests)
            if plan.noop:
                result.changed = False
                result.message = plan.noop
            else:
                result.message = plan.message
            return plan

        plans = await asyncio.gather(*(plan_one(g, r) for g, r in zip(guests, results, strict=True)))
        todo = [
            (p, r) for p, r in zip(plans, results, strict=True) if p is not None and p.requests and not p.noop
        ]
        if dry_run or not todo:
            return _note_snapshots(app_ctx, batch, guests, opts)
        confirm(ACTIONS[action][1], [p.label or label(p.guest) for p, _ in todo])

        async def run_one(plan: Plan, result: TargetResult) -> None:
            async with limit:
                try:
                    await execute(api, plan, result, opts, progress)
                except PmpcError as exc:
                    result.fail(_translate(exc, action, plan.guest, opts))

        await asyncio.gather(*(run_one(p, r) for p, r in todo))
    return _note_snapshots(app_ctx, batch, guests, opts)


def _note_snapshots(app_ctx: AppContext, batch: BatchResult, guests: list[Guest], opts: VerbOptions) -> BatchResult:
    """Keep completion's snapshot names in step with a snapshot created or deleted (or found so)."""
    if not batch.dry_run and batch.action in ("snapshot-create", "snapshot-delete"):
        done = [(g.kind, g.vmid, g.name) for g, r in zip(guests, batch.results, strict=True) if r.ok]
        change = {"add" if batch.action == "snapshot-create" else "drop": opts.snapshot}
        record_snapshots(app_ctx, done, **change)
    return batch

