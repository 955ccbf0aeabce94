"""`pmpc node list | get | describe | status`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from proxmox_mpc.commands import _complete
from proxmox_mpc.commands._options import (
    DocumentOutputOpt,
    NoHeadersOpt,
    OutputOpt,
    SortByOpt,
    StatusFilterOpt,
    output_option,
)
from proxmox_mpc.commands._run import run
from proxmox_mpc.commands._watch import WatchOpt, watch
from proxmox_mpc.context import AppContext
from proxmox_mpc.core.models import Node
from proxmox_mpc.output.columns import NODE_COLUMNS, STORAGE_COLUMNS
from proxmox_mpc.output.printers import check_format, print_details, print_list, print_one, to_data
from proxmox_mpc.output.units import humanize

app = typer.Typer(help="Inspect cluster nodes.", no_args_is_help=True)
NodeArg = Annotated[
    str, typer.Argument(help="Node name (never guessed).", metavar="NODE", autocompletion=_complete.of("nodes"))
]


@app.command("list")
def list_(
    ctx: typer.Context,
    status: StatusFilterOpt = None,
    output: OutputOpt = "table",
    sort_by: SortByOpt = None,
    no_headers: NoHeadersOpt = False,
    watch_: WatchOpt = False,
) -> None:
    """List the nodes of the cluster.

    Example: pmpc node list -o wide   |   pmpc node list -o json | jq '.[].name'   |   pmpc node list -w
    """
    app_ctx: AppContext = ctx.obj
    check_format(output)
    from proxmox_mpc.services import nodes

    if watch_:
        from proxmox_mpc.output.printers import sort_records

        def fetch() -> list[dict[str, Any]]:
            listed = [n for n in run(nodes.list_nodes(app_ctx)) if not status or n.status == status]
            return sort_records(to_data(listed), sort_by)

        watch(app_ctx, fetch, fmt=output, columns=NODE_COLUMNS, plural="nodes", headers=not no_headers)
        return
    found = run(nodes.list_nodes(app_ctx))
    if status:
        found = [n for n in found if n.status == status]
    print_list(app_ctx.out, app_ctx.err, found, fmt=output, columns=NODE_COLUMNS, plural="nodes",
               sort_by=sort_by, headers=not no_headers, model=Node)


@app.command()
def get(
    ctx: typer.Context,
    node: NodeArg,
    output: OutputOpt = "table",
    no_headers: NoHeadersOpt = False,
    watch_: WatchOpt = False,
) -> None:
    """Show one node.

    Example: pmpc node get pve1 -o yaml   |   pmpc node get pve1 -w -o json
    """
    app_ctx: AppContext = ctx.obj
    check_format(output)
    from proxmox_mpc.services import nodes

    if watch_:
        fetch = lambda: [to_data(run(nodes.get_node(app_ctx, node)))]  # noqa: E731
        watch(app_ctx, fetch, fmt=output, columns=NODE_COLUMNS, plural="nodes", headers=not no_headers)
        return

    print_one(app_ctx.out, run(nodes.get_node(app_ctx, node)), fmt=output, columns=NODE_COLUMNS,
              headers=not no_headers)


DescribeOutputOpt = Annotated[str, output_option(("table", "wide", "json", "yaml", "jsonpath"))]


@app.command()
def describe(ctx: typer.Context, node: NodeArg, output: DescribeOutputOpt = "table") -> None:
    """Describe a node: versions, CPU, memory and disk use, storages and guest counts.

    Example: pmpc node describe pve1
    """
    app_ctx: AppContext = ctx.obj
    check_format(output)
    from proxmox_mpc.services import nodes

    described = run(nodes.describe_node(app_ctx, node))
    if output in ("table", "wide"):
        data = to_data(described)
        storages = data.pop("storages")
        print_details(app_ctx.out, humanize(data))
        app_ctx.out.write("Storages:\n")
        print_list(app_ctx.out, app_ctx.err, storages, fmt=output, columns=STORAGE_COLUMNS, plural="storages")
    else:
        print_one(app_ctx.out, described, fmt=output, columns=NODE_COLUMNS)


@app.command()
def status(ctx: typer.Context, node: NodeArg, output: DocumentOutputOpt = "table") -> None:
    """Show a node's own status report (as GET /nodes/NODE/status returns it).

    Example: pmpc node status pve1 -o json
    """
    app_ctx: AppContext = ctx.obj
    check_format(output)
    from proxmox_mpc.services import nodes

    report = run(nodes.node_status(app_ctx, node))
    if output in ("table", "wide"):
        print_details(app_ctx.out, report, titled=False)
    else:
        print_one(app_ctx.out, report, fmt=output, columns=())


def _register_drain() -> None:
    from proxmox_mpc.commands import drain

    drain.register(app)


_register_drain()
