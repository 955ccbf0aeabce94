"""`pmpc firewall rules list | options get | aliases list | ipsets list | groups list`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from proxmox_mpc.commands import _complete
from proxmox_mpc.commands._options import DocumentOutputOpt, NoHeadersOpt, OutputOpt, SortByOpt
from proxmox_mpc.commands._run import run
from proxmox_mpc.context import AppContext
from proxmox_mpc.output.printers import check_format

app = typer.Typer(
    help="Inspect the firewall: rules, options, aliases, IP sets and security groups.", no_args_is_help=True
)
rules_app = typer.Typer(
    help="The ordered rules of the cluster, a node, a guest or a security group.", no_args_is_help=True
)
options_app = typer.Typer(help="The firewall options of the cluster, a node or a guest.", no_args_is_help=True)
aliases_app = typer.Typer(help="The cluster's aliases (names for IPs and networks).", no_args_is_help=True)
ipsets_app = typer.Typer(help="The cluster's IP sets and their entries.", no_args_is_help=True)
groups_app = typer.Typer(help="The cluster's security groups and their rules.", no_args_is_help=True)
for name, sub in (
    ("rules", rules_app),
    ("options", options_app),
    ("aliases", aliases_app),
    ("ipsets", ipsets_app),
    ("groups", groups_app),
):
    app.add_typer(sub, name=name)

GuestLevelOpt = Annotated[
    str | None,
    typer.Option(
        "--guest", help="A guest's firewall (VMID or name).", metavar="GUEST", autocompletion=_complete.guests
    ),
]
NodeLevelOpt = Annotated[
    str | None,
    typer.Option("--node", help="A node's firewall.", metavar="NODE", autocompletion=_complete.of("nodes")),
]
ClusterLevelOpt = Annotated[bool, typer.Option("--cluster", help="The cluster's firewall (the default).")]
GroupLevelOpt = Annotated[str | None, typer.Option("--group", help="A security group's rules.", metavar="GROUP")]


def _print(
    app_ctx: AppContext,
    items: list[Any],
    *,
    output: str,
    columns: Any,
    plural: str,
    sort_by: str | None,
    headers: bool,
    model: type[Any],
    name_of: Any,
) -> None:
    from proxmox_mpc.output.printers import print_list

    print_list(
        app_ctx.out,
        app_ctx.err,
        items,
        fmt=output,
        columns=columns,
        plural=plural,
        sort_by=sort_by,
        headers=headers,
        model=model,
        name_of=name_of,
    )


@rules_app.command("list")
def list_rules(
    ctx: typer.Context,
    guest: GuestLevelOpt = None,
    node: NodeLevelOpt = None,
    cluster: ClusterLevelOpt = False,
    group: GroupLevelOpt = None,
    output: OutputOpt = "table",
    sort_by: SortByOpt = None,
    no_headers: NoHeadersOpt = False,
) -> None:
    """List the rules of one level in the order PVE applies them (the cluster's by default).

    Example: pmpc firewall rules list --guest web-1   |   pmpc firewall rules list --node pve1 -o json
    """
    app_ctx: AppContext = ctx.obj
    check_format(output)
    from proxmox_mpc.output.columns import FIREWALL_RULE_COLUMNS
    from proxmox_mpc.services import firewall

    firewall.choose_level(guest=guest, node=node, cluster=cluster, group=group)
    found = run(firewall.list_rules(app_ctx, guest=guest, node=node, group=group))
    _print(
        app_ctx,
        found,
        output=output,
        columns=FIREWALL_RULE_COLUMNS,
        plural="firewall rules",
        sort_by=sort_by,
        headers=not no_headers,
        model=firewall.RuleRow,
        name_of=lambda r: f"firewall/{r['level']}/rules/{r['pos']}",
    )


@options_app.command("get")
def get_options(
    ctx: typer.Context,
    guest: GuestLevelOpt = None,
    node: NodeLevelOpt = None,
    cluster: ClusterLevelOpt = False,
    output: DocumentOutputOpt = "table",
) -> None:
    """Show the firewall options of one level (the cluster's by default).

    Example: pmpc firewall options get --guest 101 -o json
    """
    app_ctx: AppContext = ctx.obj
    check_format(output)
    from proxmox_mpc.output.printers import print_details, print_one
    from proxmox_mpc.services import firewall

    firewall.choose_level(guest=guest, node=node, cluster=cluster)
    found = run(firewall.get_options(app_ctx, guest=guest, node=node))
    if output in ("table", "wide"):
        print_details(app_ctx.out, {"level": found.level, "options": found.options or "-"})
    else:
        print_one(app_ctx.out, found, fmt=output, columns=())


def _register_object_list(sub_app: typer.Typer, what: str, plural: str, prefix: str, help_text: str) -> None:
    """Add `pmpc firewall <what> list`: the cluster's aliases, IP sets or security groups."""

    @sub_app.command("list", help=help_text)
    def list_objects(
        ctx: typer.Context, output: OutputOpt = "table", sort_by: SortByOpt = None, no_headers: NoHeadersOpt = False
    ) -> None:
        app_ctx: AppContext = ctx.obj
        check_format(output)
        from proxmox_mpc.output import columns
        from proxmox_mpc.services import firewall

        found = run(getattr(firewall, f"list_{what}")(app_ctx))
        table = getattr(columns, f"FIREWALL_{what.upper()}_COLUMNS")
        _print(
            app_ctx,
            found,
            output=output,
            columns=table,
            plural=plural,
            sort_by=sort_by,
            headers=not no_headers,
            model=firewall.LIST_MODELS[what],
            name_of=lambda r: f"{prefix}/{r['name'].lower() if prefix == 'alias' else r['name']}",
        )


_register_object_list(
    aliases_app,
    "aliases",
    "aliases",
    "alias",
    "List the cluster's aliases.\n\nExample: pmpc firewall aliases list -o yaml",
)
_register_object_list(
    ipsets_app,
    "ipsets",
    "IP sets",
    "ipset",
    "List the cluster's IP sets with their entries (`!` marks a nomatch entry in the table)."
    "\n\nExample: pmpc firewall ipsets list   |   pmpc firewall ipsets list -o json | jq '.[].entries'",
)
_register_object_list(
    groups_app,
    "groups",
    "security groups",
    "secgroup",
    "List the cluster's security groups (`pmpc firewall rules list --group NAME` shows one's rules)."
    "\n\nExample: pmpc firewall groups list -o json",
)
