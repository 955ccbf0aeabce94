"""`pmpc destroy`: delete the managed guests chosen, through the same executor as apply (protection honoured)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from proxmox_mpc.context import AppContext
from proxmox_mpc.core.plan import STATE_FIELD, Change, FieldChange, Plan, make_plan
from proxmox_mpc.errors import NotFound
from proxmox_mpc.services.apply.executor import execute_plan
from proxmox_mpc.services.apply.report import ApplyReport, Confirm, RunOptions, ShowPlan

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from proxmox_mpc.services.manifests import ManifestSet


def _chosen_manifests(app_ctx: AppContext, targets: Sequence[str]) -> ManifestSet:
    """Return the manifests `destroy` names: files and directories, names or addresses, else the workspace's.

    Raises:
        NotFound: a name matches no manifest.
    """
    from proxmox_mpc.services.manifests import ManifestSet, load_all
    from proxmox_mpc.services.workspace_manifests import workspace_set

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
    from proxmox_mpc.services.observe import observe
    from proxmox_mpc.services.plan import annotate_destroys, parse_allow_destroy, parse_selector_text, select
    from proxmox_mpc.services.preflight import workspace_label
    from proxmox_mpc.services.resources import compare_needs, destroy_changes, refuse_in_use
    from proxmox_mpc.services.validate import require_valid

    allowed = parse_allow_destroy(allow_destroy)
    chosen = parse_selector_text(selector)
    found = _chosen_manifests(app_ctx, targets)
    # A selector picks guests by what they are: the other kinds are destroyed only without one.
    resources = [] if chosen else found.resources
    async with connect(app_ctx) as api:
        observation = await observe(api, compare_needs(found.resources))
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
    refuse_in_use(plan.changes, observed)
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
    allow_destroy: Sequence[str] = (),
    backup_first: bool = False,
    backup_storage: str | None = None,
    dry_run: bool = False,
    confirm: Confirm,
    show: ShowPlan | None = None,
    **run: Unpack[RunOptions],
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
        replan=replan,
        **run,
    )
