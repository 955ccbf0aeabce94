"""`pmpc sync` and `pmpc status`: record the cluster in the state store, and report where things stand."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from proxmox_mpc.commands._options import DryRunOpt, LockTimeoutOpt, ResultOutputOpt, YesOpt
from proxmox_mpc.commands._run import run
from proxmox_mpc.context import AppContext
from proxmox_mpc.errors import UnsafePathError, UsageError
from proxmox_mpc.output.printers import check_format, print_one, to_data


def sync(
    ctx: typer.Context,
    dry_run: DryRunOpt = False,
    lock_timeout: LockTimeoutOpt = 0.0,
    import_: Annotated[
        bool, typer.Option("--import", help="Also write a manifest for every guest into the workspace.")
    ] = False,
    output: ResultOutputOpt = "table",
    yes: YesOpt = False,
) -> None:
    """Read the whole cluster and record it in the state store (one transaction); never prompts (-y: no-op).

    Example: pmpc sync   |   pmpc sync --dry-run -o json   |   pmpc sync --import --dry-run
    """
    app_ctx: AppContext = ctx.obj
    check_format(output)
    if import_ and app_ctx.workspace is None:
        raise UsageError("--import needs a workspace (no pmpc.yaml here or above): run `pmpc init` first.")
    from proxmox_mpc.output.state_view import print_sync_report
    from proxmox_mpc.services import sync as sync_service

    def waiting(holder: Any) -> None:
        who = holder.describe() if holder is not None else "another pmpc session"
        app_ctx.info(f"pmpc: waiting up to {lock_timeout:g}s for the workspace lock held by {who} ...")

    report = run(
        sync_service.sync_cluster(
            app_ctx,
            dry_run=dry_run,
            lock_timeout=lock_timeout,
            import_manifests=import_,
            on_lock_wait=waiting,
        )
    )
    if output in ("table", "wide"):
        print_sync_report(app_ctx.out, to_data(report))
    else:
        print_one(app_ctx.out, report, fmt=output, columns=(), name_of=lambda r: f"cluster/{r['cluster']}")
    for line in report.not_imported:
        app_ctx.warn(f"not imported: {line}")
    if report.refused:
        raise UnsafePathError(" ".join(report.refused))


def status(ctx: typer.Context, output: ResultOutputOpt = "table") -> None:
    """Show the workspace, context, connection, guest counts, last sync and drift (what can be reached).

    Example: pmpc status   |   pmpc status -o json
    """
    app_ctx: AppContext = ctx.obj
    check_format(output)
    from proxmox_mpc.output.state_view import print_status
    from proxmox_mpc.services import state

    report = run(state.collect_status(app_ctx))
    if output in ("table", "wide"):
        print_status(app_ctx.out, to_data(report))
    else:
        print_one(app_ctx.out, report, fmt=output, columns=(), name_of=lambda r: f"cluster/{r['cluster']}")


def register(app: typer.Typer) -> None:
    """Add `sync` and `status` to the root app."""
    app.command("sync")(sync)
    app.command("status")(status)
