"""`pmpc apply`: plan (or read a saved plan), show it, confirm, and execute it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from proxmox_mpc.context import AppContext
from proxmox_mpc.core.plan import Plan
from proxmox_mpc.errors import Conflict, UsageError
from proxmox_mpc.services.apply.executor import Replan, execute_plan
from proxmox_mpc.services.apply.report import ApplyReport, Confirm, RunOptions, ShowPlan

if TYPE_CHECKING:
    from typing_extensions import Unpack


async def apply(
    app_ctx: AppContext,
    *,
    plan_file: Path | None = None,
    targets: Sequence[str] = (),
    selector: str | None = None,
    dry_run: bool = False,
    confirm: Confirm,
    show: ShowPlan | None = None,
    allow_destroy: Sequence[str] = (),
    backup_first: bool = False,
    backup_storage: str | None = None,
    send_secrets: Sequence[str] = (),
    **run: Unpack[RunOptions],
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
        if allow_destroy or backup_first or backup_storage or send_secrets:
            raise UsageError(
                "A saved plan is applied as it was made: give --allow-destroy, --backup-first and "
                "--send-secrets to `pmpc plan`."
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
                send_secrets=send_secrets,
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
        check_stale=check_stale,
        replan=replan,
        **run,
    )
