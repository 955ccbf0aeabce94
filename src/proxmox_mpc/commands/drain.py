"""`pmpc node drain NODE` (alias `node evacuate`): move every guest off a node, shown as a table first."""

from __future__ import annotations

from typing import Annotated

import typer

from proxmox_mpc.commands import _complete
from proxmox_mpc.commands._options import DEFAULT_TIMEOUT, DryRunOpt, TimeoutOpt, WaitOpt, YesOpt, output_option
from proxmox_mpc.commands._run import confirmer, run
from proxmox_mpc.context import AppContext
from proxmox_mpc.output.printers import check_format

DrainNodeArg = Annotated[
    str,
    typer.Argument(help="The node to empty (never guessed).", metavar="NODE", autocompletion=_complete.of("nodes")),
]
ToOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--to",
        help="Move guests only to this node (repeatable; default: every other online node).",
        metavar="NODE",
        autocompletion=_complete.of("nodes"),
    ),
]
IncludeStoppedOpt = Annotated[
    bool, typer.Option("--include-stopped", help="Move stopped guests and templates too (default: running ones).")
]
MaxParallelOpt = Annotated[
    int, typer.Option("--max-parallel", min=1, max=64, help="Migrations run at once.", metavar="N")
]
WithLocalDisksOpt = Annotated[
    bool, typer.Option("--with-local-disks", help="Copy guests' disks on non-shared storage (else they stay).")
]


# The placement table (wide too), then a batch result per guest: no custom columns.
DrainOutputOpt = Annotated[str, output_option(("table", "wide", "json", "yaml", "name", "jsonpath"))]


def drain(
    ctx: typer.Context,
    node: DrainNodeArg,
    to: ToOpt = None,
    include_stopped: IncludeStoppedOpt = False,
    max_parallel: MaxParallelOpt = 2,
    with_local_disks: WithLocalDisksOpt = False,
    timeout: TimeoutOpt = DEFAULT_TIMEOUT,
    wait: WaitOpt = True,
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    output: DrainOutputOpt = "table",
) -> None:
    """Move every guest off a node: a placement by free memory and CPU, shown as a table, then migrations.

    HA-managed guests move through HA; guests with disks on non-shared storage stay unless
    --with-local-disks; stopped guests and templates stay unless --include-stopped. Offline nodes are
    never chosen. Each guest's outcome is reported; guests that stay are listed on stderr.

    Example: pmpc node drain pve2 --dry-run   |   pmpc node drain pve2 --to pve1 --to pve3 -y
    """
    app_ctx: AppContext = ctx.obj
    check_format(output)
    from proxmox_mpc.output.batch import print_batch
    from proxmox_mpc.output.columns import DRAIN_COLUMNS
    from proxmox_mpc.output.printers import print_list
    from proxmox_mpc.output.progress import make_progress
    from proxmox_mpc.services import drain as drains

    options = drains.DrainOptions(
        to=list(to or []),
        include_stopped=include_stopped,
        with_local_disks=with_local_disks,
        max_parallel=max_parallel,
        timeout=timeout,
        wait=wait,
    )
    drains.check_drain_options(node, options)
    # The table comes before the question; without one to ask (no terminal, no --yes) pmpc refuses and prints nothing.
    tabular = output in ("table", "wide") and (dry_run or yes or app_ctx.interactive)

    def show(batch: object) -> None:
        from proxmox_mpc.core.batch import BatchResult

        assert isinstance(batch, BatchResult)
        if tabular:
            rows = [r.model_dump(mode="json") for r in batch.results]
            print_list(app_ctx.out, app_ctx.err, rows, fmt=output, columns=DRAIN_COLUMNS, plural=f"guests on {node}")
            app_ctx.out.flush()

    with make_progress(app_ctx.err, color=app_ctx.color) as progress:
        result = run(
            drains.drain_node(
                app_ctx,
                node,
                options,
                dry_run=dry_run,
                confirm=confirmer(app_ctx, yes, output),
                progress=progress,
                on_plan=show,
            )
        )
    if result.results:
        print_batch(app_ctx.out, app_ctx.err, result, fmt=output, plural="guests", waited=wait)
    staying = drains.staying_guests(result)
    if staying and not dry_run:
        app_ctx.err.write(f"{len(staying)} guest(s) stay on {node}: {', '.join(staying)}.\n")
    failure = result.failure()
    if failure is not None:
        raise failure


def register(app: typer.Typer) -> None:
    """Add `drain` and its alias `evacuate` to the node group."""
    app.command("drain")(drain)
    app.command("evacuate", help="Alias of `pmpc node drain`: move every guest off a node.")(drain)
