"""`pmpc backup list | delete`: the vzdump backups on every backup storage of the cluster."""

from __future__ import annotations

from typing import Annotated

import typer

from proxmox_mpc.commands import _complete
from proxmox_mpc.commands._options import (
    DEFAULT_TIMEOUT,
    DryRunOpt,
    NoHeadersOpt,
    OutputOpt,
    ResultOutputOpt,
    SortByOpt,
    TimeoutOpt,
    WaitOpt,
    YesOpt,
)
from proxmox_mpc.commands._run import confirmer, run
from proxmox_mpc.context import AppContext
from proxmox_mpc.output.printers import check_format

app = typer.Typer(help="List and delete backups (vzdump archives).", no_args_is_help=True)
GuestFilterOpt = Annotated[
    str | None,
    typer.Option(
        "--guest", help="Only backups of this guest (VMID or name).", metavar="GUEST", autocompletion=_complete.guests
    ),
]
StorageFilterOpt = Annotated[
    str | None,
    typer.Option("--storage", help="Only this storage.", metavar="STORAGE", autocompletion=_complete.of("storages")),
]
VolidsArg = Annotated[
    list[str] | None,
    typer.Argument(help="Backup volume ids, as `pmpc backup list` shows them.", metavar="VOLID...", show_default=False),
]


@app.command("list")
def list_(
    ctx: typer.Context,
    guest: GuestFilterOpt = None,
    storage: StorageFilterOpt = None,
    output: OutputOpt = "table",
    sort_by: SortByOpt = None,
    no_headers: NoHeadersOpt = False,
) -> None:
    """List the backups on every backup storage of the cluster, newest first.

    Example: pmpc backup list --guest web-1   |   pmpc backup list --storage pbs -o json
    """
    app_ctx: AppContext = ctx.obj
    check_format(output)
    from proxmox_mpc.output.columns import BACKUP_COLUMNS
    from proxmox_mpc.output.printers import print_list
    from proxmox_mpc.services import backup

    found = run(backup.list_backups(app_ctx, guest=guest, storage=storage))
    print_list(
        app_ctx.out,
        app_ctx.err,
        found,
        fmt=output,
        columns=BACKUP_COLUMNS,
        plural="backups",
        sort_by=sort_by,
        headers=not no_headers,
        name_of=lambda r: f"backup/{r['volid']}",
    )


@app.command()
def delete(
    ctx: typer.Context,
    volids: VolidsArg = None,
    timeout: TimeoutOpt = DEFAULT_TIMEOUT,
    wait: WaitOpt = True,
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    output: ResultOutputOpt = "table",
) -> None:
    """Delete backups by volume id (a protected backup is refused by Proxmox).

    Example: pmpc backup delete local:backup/vzdump-qemu-101-2026_12_06-03_54_36.vma.zst
    """
    app_ctx: AppContext = ctx.obj
    check_format(output)
    from proxmox_mpc.output.batch import print_batch
    from proxmox_mpc.output.progress import make_progress
    from proxmox_mpc.services import backup

    with make_progress(app_ctx.err, color=app_ctx.color) as progress:
        result = run(
            backup.delete_backups(
                app_ctx,
                list(volids or []),
                timeout=timeout,
                wait=wait,
                dry_run=dry_run,
                confirm=confirmer(app_ctx, yes, output),
                progress=progress,
            )
        )
    print_batch(app_ctx.out, app_ctx.err, result, fmt=output, plural="backups", waited=wait)
    failure = result.failure()
    if failure is not None:
        raise failure
