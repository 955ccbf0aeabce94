"""Execute a plan: confirm, take the workspace lock, settle the plan, run its changes in order, concurrently.

Changes run in stages (clone sources first) and the changes of a stage concurrently. A failing guest
stops at its failed step; the others finish; guests that depend on it are skipped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from proxmox_mpc.context import AppContext
from proxmox_mpc.core.ordering import dependents, order_changes
from proxmox_mpc.core.plan import Change, Plan
from proxmox_mpc.errors import PmpcError
from proxmox_mpc.kinds.plan import change_references
from proxmox_mpc.output.progress import Progress
from proxmox_mpc.services.apply.journal import ApplyRun
from proxmox_mpc.services.apply.recheck import check_fresh, check_saved_creatable, settle_plan
from proxmox_mpc.services.apply.report import (
    ActionResult,
    ApplyReport,
    Confirm,
    StepResult,
    failure,
    plan_digest,
    run_status,
)
from proxmox_mpc.services.apply.steps import run_change

Replan = Callable[[], Awaitable[Plan]]


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
    from proxmox_mpc.services.database import cluster_key, open_app_store, workspace_lock_name
    from proxmox_mpc.services.preflight import workspace_label
    from proxmox_mpc.services.resources import require_environment

    report = ApplyReport(kind=action, plan=plan)
    errors: dict[str, PmpcError] = {}
    if plan.empty:
        return report
    require_environment(plan.changes)  # a secret's variable missing: say so before anything is sent
    if confirm is not None:
        confirm(action, [describe_change(c) for c in plan.changes])
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
                run = ApplyRun(
                    api,
                    store,
                    run_id,
                    timeout=timeout,
                    progress=progress,
                    concurrency=concurrency or app_ctx.settings.concurrency,
                    cluster=cluster,
                    batch=len(plan.changes) > 1,
                )
                try:
                    await run.refresh()
                    stages = order_changes(plan.changes, change_references(plan.changes))
                    report.results = await _run_stages(run, plan, stages)
                    errors = run.errors
                finally:
                    store.finish_apply_run(run_id, run_status(report.results))
        finally:
            if progress is not None:
                progress.close()
            store.close()
    report._error = failure(report.results, errors)
    return report


async def _run_stages(run: ApplyRun, plan: Plan, stages: list[list[Change]]) -> list[ActionResult]:
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


def describe_change(change: Change) -> str:
    """Return how the confirmation lists a change: `update vm/web-1 (memory, cores)`."""
    names = ", ".join(f.name for f in change.fields[:6]) + (" ..." if len(change.fields) > 6 else "")
    return f"{change.action} {change.address}" + (
        f" ({names})" if names and change.action != "delete" else ""
    )
