"""`pmpc storage list | content | get`: the storages each node sees, what one holds, and its definition."""

from __future__ import annotations

from typing import Annotated

import typer

from proxmox_mpc.commands import _complete
from proxmox_mpc.commands._options import NoHeadersOpt, OutputOpt, SortByOpt
from proxmox_mpc.commands._run import run
from proxmox_mpc.commands.resource import add_get
from proxmox_mpc.context import AppContext
from proxmox_mpc.output.printers import check_format

app = typer.Typer(help="Inspect storages and what they hold.", no_args_is_help=True)
StorageArg = Annotated[
    str,
    typer.Argument(help="Storage name, e.g. local.", metavar="STORAGE", autocompletion=_complete.of("storages")),
]
NodeOpt = Annotated[
    str | None,
    typer.Option(
        "--node", help="Only this node (default: every online node).", autocompletion=_complete.of("nodes")
    ),
]
ContentOpt = Annotated[
    str | None,
    typer.Option("--content", help="Only this content type: iso, vztmpl, images, rootdir, backup..."),
]


@app.command("list")
def list_(
    ctx: typer.Context,
    node: NodeOpt = None,
    output: OutputOpt = "table",
    sort_by: SortByOpt = None,
    no_headers: NoHeadersOpt = False,
) -> None:
    """List the storages of every online node, with their usage.

    Example: pmpc storage list   |   pmpc storage list --node pve1 -o json
    """
    app_ctx: AppContext = ctx.obj
    check_format(output)
    from proxmox_mpc.output.columns import STORAGE_COLUMNS
    from proxmox_mpc.output.printers import print_list
    from proxmox_mpc.services import storage

    found = run(storage.list_storages(app_ctx, node=node))
    print_list(
        app_ctx.out,
        app_ctx.err,
        found,
        fmt=output,
        columns=STORAGE_COLUMNS,
        plural="storages",
        sort_by=sort_by,
        model=storage.Storage,
        headers=not no_headers,
        name_of=lambda r: f"storage/{r['node']}/{r['name']}",
    )


@app.command()
def content(
    ctx: typer.Context,
    name: StorageArg,
    node: NodeOpt = None,
    content_type: ContentOpt = None,
    output: OutputOpt = "table",
    sort_by: SortByOpt = None,
    no_headers: NoHeadersOpt = False,
) -> None:
    """List what a storage holds: ISOs, container templates, disk images, backups.

    Example: pmpc storage content local --content vztmpl   |   pmpc storage content local-lvm -o json
    """
    app_ctx: AppContext = ctx.obj
    check_format(output)
    from proxmox_mpc.output.columns import VOLUME_COLUMNS
    from proxmox_mpc.output.printers import print_list
    from proxmox_mpc.services import storage

    found = run(storage.storage_content(app_ctx, name, node=node, content=content_type))
    print_list(
        app_ctx.out,
        app_ctx.err,
        found,
        fmt=output,
        columns=VOLUME_COLUMNS,
        plural="volumes",
        sort_by=sort_by,
        model=storage.Volume,
        headers=not no_headers,
        name_of=lambda r: str(r["volid"]),
    )


# The cluster-wide definition (storage.cfg), as a Storage manifest describes it.
add_get(app, "storage", "storage definition (type, content, nodes and the type's options, from /storage)")
