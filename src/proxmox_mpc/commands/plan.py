"""`pmpc validate`, `plan`, `apply` and `destroy`: the declarative workflow."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from proxmox_mpc.commands._options import (
    DEFAULT_TIMEOUT,
    ConcurrencyOpt,
    DetailedExitcodeOpt,
    DocumentOutputOpt,
    DryRunOpt,
    LockTimeoutOpt,
    ResultOutputOpt,
    SelectorOpt,
    TimeoutOpt,
    YesOpt,
    output_option,
    selector_text,
)
from proxmox_mpc.commands._params import Param, takes
from proxmox_mpc.commands._run import confirmer, run
from proxmox_mpc.context import AppContext
from proxmox_mpc.errors import ChangesPresent, UsageError
from proxmox_mpc.output.printers import check_format, print_one

if TYPE_CHECKING:
    from proxmox_mpc.core.plan import Plan
    from proxmox_mpc.services.apply import ApplyReport

ManifestArgs = Annotated[
    list[str] | None,
    typer.Argument(
        help="Manifest files or directories (default: the workspace's resources/).", metavar="MANIFEST"
    ),
]
ManifestOpt = Annotated[
    list[str] | None,
    typer.Option("--manifest", "-f", help="Only these manifest files or directories (repeatable).", metavar="FILE"),
]
OfflineOpt = Annotated[
    bool, typer.Option("--offline", help="Compare with the last sync instead of the live cluster.")
]
PLAN_FORMATS = ("table", "json", "yaml", "jsonpath", "markdown")
PlanOutputOpt = Annotated[str, output_option(PLAN_FORMATS)]
AllowDestroyOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--allow-destroy",
        help="Allow deleting or replacing this guest although pmpc did not create it (vm/101 or vm/web-1; "
        "repeatable).",
        metavar="ADDRESS",
    ),
]
SendSecretsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--send-secrets",
        help="Send this resource's secrets again from their environment variables (storage/nas; repeatable): "
        "PVE never returns a secret, so a changed one is not a difference plan can see.",
        metavar="ADDRESS",
    ),
]
BackupFirstOpt = Annotated[
    bool,
    typer.Option("--backup-first", help="Take a vzdump backup of each guest before it is deleted or replaced."),
]
BackupStorageOpt = Annotated[
    str | None,
    typer.Option(
        "--backup-storage",
        help="Storage for --backup-first (default: the node's first storage that holds backups).",
        metavar="STORAGE",
    ),
]


def _check_backup(backup_first: bool, backup_storage: str | None) -> None:
    if backup_storage is not None and not backup_first:
        raise UsageError("--backup-storage goes with --backup-first.")


def _print_plan(app_ctx: AppContext, plan: Plan, output: str, plan_file: Path | None = None) -> None:
    from proxmox_mpc.output.colour import paint_plan, wants_colour
    from proxmox_mpc.output.plan_view import render_plan

    if output == "table" and wants_colour(app_ctx.out, no_color=app_ctx.no_color):
        import io

        text = io.StringIO()
        render_plan(plan, text)
        app_ctx.out.write(paint_plan(text.getvalue()))
    elif output == "table":
        render_plan(plan, app_ctx.out)
    elif output == "markdown":
        from proxmox_mpc.output.markdown import render_plan_markdown

        app_ctx.out.write(render_plan_markdown(plan, plan_file=str(plan_file) if plan_file else None))
    else:
        print_one(app_ctx.out, plan.to_document(), fmt=output, columns=())


def validate(
    ctx: typer.Context,
    manifests: ManifestArgs = None,
    offline: Annotated[
        bool, typer.Option("--offline", help="Check the files only; do not ask the cluster.")
    ] = False,
    output: ResultOutputOpt = "table",
) -> None:
    """Check manifests: schema and duplicates offline, then nodes, storages, bridges, pools and clone sources.

    Errors are FILE:LINE:COLUMN: field: message, one a line (exit 1).
    Example: pmpc validate   |   pmpc validate resources/vms/web-1.yaml --offline
    """
    app_ctx: AppContext = ctx.obj
    check_format(output)
    from proxmox_mpc.services.validate import validate_manifests

    report = run(validate_manifests(app_ctx, manifests or [], offline=offline))
    if output in ("table", "wide"):
        where = "files and cluster" if report.cluster_checked else "files only, no cluster checks"
        app_ctx.out.write(f"{report.manifests} manifest(s) in {report.files} file(s) are valid ({where}).\n")
    else:
        print_one(
            app_ctx.out, report, fmt=output, columns=(), name_of=lambda r: f"manifests/{r['manifests']}"
        )


def plan(
    ctx: typer.Context,
    manifests: ManifestArgs = None,
    files: ManifestOpt = None,
    selector: SelectorOpt = None,
    offline: OfflineOpt = False,
    out: Annotated[
        Path | None, typer.Option("--out", help="Save the plan (JSON) for `pmpc apply FILE`.")
    ] = None,
    detailed_exitcode: DetailedExitcodeOpt = False,
    dry_run: DryRunOpt = False,
    allow_destroy: AllowDestroyOpt = None,
    backup_first: BackupFirstOpt = False,
    backup_storage: BackupStorageOpt = None,
    send_secrets: SendSecretsOpt = None,
    output: PlanOutputOpt = "table",
) -> None:
    """Show what apply would change: + create, ~ update, - delete, -/+ replace, power changes.

    -o markdown renders it for a pull-request comment (under GitHub's comment size limit).
    Example: pmpc plan   |   pmpc plan --dry-run --detailed-exitcode -o json   |   pmpc plan --out plan.json -o markdown
    |   pmpc plan -f resources/vms/web-1.yaml
    """
    app_ctx: AppContext = ctx.obj
    _check_backup(backup_first, backup_storage)
    if dry_run and out is not None:
        raise UsageError("--dry-run writes nothing anywhere: drop --out, or --dry-run.")
    from proxmox_mpc.services.plan import compute_plan, write_plan

    result = run(
        compute_plan(
            app_ctx,
            targets=[*(manifests or []), *(files or [])],
            selector=selector_text(selector),
            offline=offline,
            allow_destroy=allow_destroy or [],
            backup_first=backup_first,
            backup_storage=backup_storage,
            send_secrets=send_secrets or [],
        )
    )
    if out is not None:
        write_plan(result.plan, out)
        app_ctx.info(f"Saved the plan to {out}: apply it with `pmpc apply {out}`.")
    _print_plan(app_ctx, result.plan, output, out)
    if detailed_exitcode and not result.plan.empty:
        raise ChangesPresent("The plan has changes.")


def _print_report(app_ctx: AppContext, report: ApplyReport, output: str) -> None:
    if output != "table":
        print_one(app_ctx.out, report, fmt=output, columns=())
        return
    if report.dry_run:
        app_ctx.out.write("Dry run: nothing was changed.\n")
        return
    if report.note:
        app_ctx.out.write(report.note + "\n")
    if report.plan.empty:
        return
    from proxmox_mpc.kinds.registry import resource_kind

    for result in report.results:
        ref = f"{result.kind}/{result.vmid}" if result.vmid is not None else result.address
        # A pool (any kind but the guests) has no VMID to show beside its address.
        label = result.address if resource_kind(result.kind) else f"{result.address} ({ref})"
        if result.ok:
            note = " (some changes apply at the next reboot)" if result.needs_reboot else ""
            app_ctx.out.write(f"{label}: {result.action} done{note}\n")
        else:
            app_ctx.err.write(f"{label}: {result.action} {result.status}: {result.error}\n")
    done = sum(1 for r in report.results if r.ok)
    if report.kind == "destroy":
        what = "guest(s)" if not any(resource_kind(r.kind) for r in report.results) else "resource(s)"
        app_ctx.out.write(f"Destroy complete: {done} of {len(report.results)} {what} destroyed.\n")
    else:
        app_ctx.out.write(f"Apply complete: {done} of {len(report.results)} change(s) done.\n")


def _show(app_ctx: AppContext, output: str):  # type: ignore[no-untyped-def]
    def show(plan: Plan) -> None:
        if output == "table":
            _print_plan(app_ctx, plan, "table")

    return show


def _progress(app_ctx: AppContext):  # type: ignore[no-untyped-def]
    from proxmox_mpc.output.progress import make_progress

    return make_progress(app_ctx.err, color=app_ctx.color)


# The flags apply and destroy share, after what each acts on, in their --help order.
CHANGE_PARAMS = (
    Param("selector", SelectorOpt, None),
    Param("dry_run", DryRunOpt, False),
    Param("yes", YesOpt, False),
    Param("lock_timeout", LockTimeoutOpt, 0.0),
    Param("timeout", TimeoutOpt, DEFAULT_TIMEOUT),
    Param("concurrency", ConcurrencyOpt, None),
    Param("allow_destroy", AllowDestroyOpt, None),
    Param("backup_first", BackupFirstOpt, False),
    Param("backup_storage", BackupStorageOpt, None),
    Param("output", DocumentOutputOpt, "table"),
)


def _change(app_ctx: AppContext, service: Callable[..., Any], *, selector: list[str] | None, yes: bool, output: str,
            allow_destroy: list[str] | None, **values: Any) -> None:  # fmt: skip
    """Run apply or destroy (`service`) with the shared flags, print its report, raise its error."""
    report = run(
        service(
            app_ctx,
            selector=selector_text(selector),
            confirm=confirmer(app_ctx, yes, output),
            show=_show(app_ctx, output),
            progress=_progress(app_ctx),
            allow_destroy=allow_destroy or [],
            **values,
        )
    )
    _print_report(app_ctx, report, output)
    if report.error is not None:
        raise report.error


@takes(*CHANGE_PARAMS, Param("send_secrets", SendSecretsOpt, None))
def apply(
    ctx: typer.Context,
    planfile: Annotated[Path | None, typer.Argument(help="A plan saved by `pmpc plan --out FILE`.")] = None,
    manifests: ManifestOpt = None,
    **values: Any,
) -> None:
    """Make the cluster match the manifests (or execute a saved plan): shows the plan, confirms, applies.

    A saved plan applies without a prompt (it was the confirmation); a plan made here is confirmed first.
    Example: pmpc apply   |   pmpc apply plan.json   |   pmpc apply -l tag=web --dry-run
    """
    _check_backup(values["backup_first"], values["backup_storage"])
    from proxmox_mpc.services.apply import apply as apply_service

    values["send_secrets"] = values["send_secrets"] or []
    _change(ctx.obj, apply_service, plan_file=planfile, targets=manifests or [], **values)


@takes(*CHANGE_PARAMS)
def destroy(
    ctx: typer.Context,
    targets: Annotated[
        list[str] | None,
        typer.Argument(help="Manifest files, or names of managed guests.", metavar="MANIFEST-OR-NAME"),
    ] = None,
    **values: Any,
) -> None:
    """Delete managed guests (those with a manifest): all of them, or the ones named or selected.

    Guests pmpc did not create need --allow-destroy (or lifecycle.allow_destroy); protection: 1 and
    lifecycle.prevent_destroy are refused. Guests without a manifest are never touched.
    Example: pmpc destroy web-1 --dry-run   |   pmpc destroy -l tag=test -y --backup-first
    """
    _check_backup(values["backup_first"], values["backup_storage"])
    from proxmox_mpc.services.apply import destroy as destroy_service

    _change(ctx.obj, destroy_service, targets=targets or [], **values)


def register(app: typer.Typer) -> None:
    """Add validate, plan, apply and destroy to the root app."""
    app.command("validate")(validate)
    app.command("plan")(plan)
    app.command("apply")(apply)
    app.command("destroy")(destroy)
