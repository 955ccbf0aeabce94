"""`pmpc state show | history | drift | upgrade | unlock`: what the state store remembers."""

from __future__ import annotations

from typing import Annotated

import typer

from proxmox_mpc.commands import _complete
from proxmox_mpc.commands._options import (
    DetailedExitcodeOpt,
    DryRunOpt,
    LimitOpt,
    NoHeadersOpt,
    OutputOpt,
    ResultOutputOpt,
    SortByOpt,
    YesOpt,
    output_option,
)
from proxmox_mpc.commands._run import confirmer, run
from proxmox_mpc.context import AppContext
from proxmox_mpc.errors import ChangesPresent, UsageError
from proxmox_mpc.output.printers import LIST_FORMATS, check_format, print_details, print_list, print_one, to_data

app = typer.Typer(help="Inspect and maintain the state store.", no_args_is_help=True)
GuestArg = Annotated[
    str, typer.Argument(help="VMID or name.", metavar="GUEST", autocompletion=_complete.of("guests"))
]


@app.command()
def show(
    ctx: typer.Context,
    guest: Annotated[
        str | None, typer.Argument(
            help="VMID or name (default: every guest).", metavar="[GUEST]", autocompletion=_complete.of("guests")
        )
    ] = None,
    all_: Annotated[bool, typer.Option("--all", "-a", help="Include guests marked deleted.")] = False,
    journal: Annotated[
        bool, typer.Option("--journal", help="Show the apply journal: runs, their steps, what a crash left open.")
    ] = False,
    limit: LimitOpt = None,
    output: OutputOpt = "table",
    sort_by: SortByOpt = None,
    no_headers: NoHeadersOpt = False,
) -> None:
    """Show the guests the state store remembers, one guest with its stored config, or the apply journal.

    Example: pmpc state show   |   pmpc state show web-1 -o yaml   |   pmpc state show --journal
    """
    app_ctx: AppContext = ctx.obj
    check_format(output)
    from proxmox_mpc.output.state_view import STATE_ALL_COLUMNS, STATE_GUEST_COLUMNS, mark_deleted
    from proxmox_mpc.services import state

    if journal:
        _show_journal(app_ctx, guest, limit, output)
        return

    if guest is None:
        from proxmox_mpc.state.store import GuestRecord

        guests = state.show_state(app_ctx, include_deleted=all_)
        tabular = output in ("table", "wide")
        print_list(
            app_ctx.out,
            app_ctx.err,
            mark_deleted(to_data(guests)) if all_ and tabular else guests,
            fmt=output,
            columns=STATE_ALL_COLUMNS if all_ else STATE_GUEST_COLUMNS,
            plural="guests in the state store",
            sort_by=sort_by,
            headers=not no_headers,
            model=GuestRecord,
        )
        if not guests:
            app_ctx.info("Run `pmpc sync` to record the cluster.")
        return
    record = state.show_guest(app_ctx, guest)
    if output in ("table", "wide"):
        print_details(app_ctx.out, to_data(record))
    else:
        print_one(app_ctx.out, record, fmt=output, columns=STATE_GUEST_COLUMNS, headers=not no_headers)


def _show_journal(app_ctx: AppContext, guest: str | None, limit: int | None, output: str) -> None:
    from proxmox_mpc.output.state_view import print_journal
    from proxmox_mpc.services import state

    if guest is not None:
        raise UsageError("--journal shows every run: drop the GUEST argument.")
    runs = state.journal_runs(app_ctx, limit=limit or 10)
    if output in ("table", "wide"):
        print_journal(app_ctx.out, to_data(runs))
        return
    print_list(
        app_ctx.out, app_ctx.err, runs, fmt=output, columns=(), plural="apply runs",
        name_of=lambda r: f"journal/{r['id']}",
    )


@app.command()
def history(
    ctx: typer.Context,
    guest: GuestArg,
    limit: LimitOpt = None,
    output: OutputOpt = "table",
    no_headers: NoHeadersOpt = False,
) -> None:
    """Show how a guest (or a resource: pool/prod) changed from sync to sync: field, old, new, when.

    Example: pmpc state history web-1   |   pmpc state history 101 -o json --limit 20   |   pmpc state history pool/prod
    """
    app_ctx: AppContext = ctx.obj
    check_format(output)
    from proxmox_mpc.output.state_view import HISTORY_COLUMNS
    from proxmox_mpc.services import state

    rows = state.guest_history(app_ctx, guest, limit=limit)
    print_list(
        app_ctx.out,
        app_ctx.err,
        rows,
        fmt=output,
        columns=HISTORY_COLUMNS,
        plural="changes",
        headers=not no_headers,
        name_of=lambda r: r.get("address") or f"{r['kind']}/{r['vmid']}",
    )


DriftOutputOpt = Annotated[str, output_option((*LIST_FORMATS, "markdown"))]


@app.command()
def drift(
    ctx: typer.Context,
    detailed_exitcode: DetailedExitcodeOpt = False,
    output: DriftOutputOpt = "table",
    no_headers: NoHeadersOpt = False,
) -> None:
    """Show what changed on the cluster since the last sync (reads the cluster, writes nothing).

    Example: pmpc state drift   |   pmpc state drift --detailed-exitcode -o json   |   pmpc state drift -o markdown
    """
    app_ctx: AppContext = ctx.obj
    from proxmox_mpc.output.state_view import CHANGE_COLUMNS, change_line, timestamp
    from proxmox_mpc.services import state

    report = run(state.drift(app_ctx))
    changes = to_data(report.changes)
    if report.last_sync is None:
        app_ctx.warn("this cluster was never synced: every guest shows as added (run `pmpc sync`).")
    if output == "table":
        for change in changes:
            app_ctx.out.write(change_line(change) + "\n")
        since = f" since the last sync ({timestamp(to_data(report.last_sync))})" if report.last_sync else ""
        app_ctx.err.write(f"{len(changes)} change(s){since}.\n" if changes else f"No drift{since}.\n")
    elif output == "markdown":
        from proxmox_mpc.output.markdown import render_drift_markdown

        when = timestamp(to_data(report.last_sync)) if report.last_sync else None
        app_ctx.out.write(render_drift_markdown(changes, last_sync=when))
    else:
        print_list(
            app_ctx.out,
            app_ctx.err,
            changes,
            fmt=output,
            columns=CHANGE_COLUMNS,
            plural="changes",
            headers=not no_headers,
            name_of=lambda r: r["address"],
        )
    if detailed_exitcode and changes:
        raise ChangesPresent(f"{len(changes)} change(s) since the last sync.")


@app.command()
def upgrade(ctx: typer.Context, output: ResultOutputOpt = "table") -> None:
    """Migrate the state database to the newest schema (pmpc also does this when it opens it).

    Example: pmpc state upgrade
    """
    app_ctx: AppContext = ctx.obj
    check_format(output)
    from proxmox_mpc.services import state

    result = state.upgrade(app_ctx)
    if output in ("table", "wide"):
        if result.changed:
            app_ctx.out.write(
                f"{result.database}: upgraded from {result.before or 'empty'} to {result.after}.\n"
            )
        else:
            app_ctx.out.write(f"{result.database}: already at the newest schema ({result.after}).\n")
    else:
        print_one(app_ctx.out, result, fmt=output, columns=(), name_of=lambda r: f"revision/{r['after']}")


@app.command()
def unlock(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Option("--name", help="Lock name (default: this workspace's).")] = None,
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    output: ResultOutputOpt = "table",
) -> None:
    """Release the workspace lock a crashed pmpc left behind (asks first).

    Example: pmpc state unlock   |   pmpc state unlock --dry-run   |   pmpc state unlock -y
    """
    app_ctx: AppContext = ctx.obj
    check_format(output)
    from proxmox_mpc.services import state

    result = state.unlock(app_ctx, confirm=confirmer(app_ctx, yes, output), dry_run=dry_run, name=name)
    if output not in ("table", "wide"):
        print_one(app_ctx.out, result, fmt=output, columns=(), name_of=lambda r: f"lock/{r['name']}")
        return
    holder = result.holder or {}
    who = f"{holder.get('holder')} (pid {holder.get('pid')} on {holder.get('host')})" if holder else ""
    if not result.held:
        app_ctx.out.write(f"lock/{result.name} is not held.\n")
    elif result.dry_run:
        app_ctx.out.write(f"lock/{result.name} held by {who} would be released (dry run).\n")
    else:
        app_ctx.out.write(f"lock/{result.name} released (was held by {who}).\n")
