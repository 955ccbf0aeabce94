"""`pmpc pool list | get`, `pmpc backup-job list | get`, `pmpc ha list | get`: one factory for every kind, no copies."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from proxmox_mpc.commands import _complete
from proxmox_mpc.commands._options import NoHeadersOpt, OutputOpt, SortByOpt
from proxmox_mpc.commands._run import run
from proxmox_mpc.context import AppContext
from proxmox_mpc.output.printers import check_format


def resource_ids(ctx: Any, incomplete: str) -> list[str]:
    """Complete the ids of the kind whose group is on the line: `pmpc pool get <TAB>` offers pools."""
    group = ctx.parent.info_name if ctx.parent is not None else ""
    return [n for n in _complete.names(ctx, f"{group}s") if n.startswith(incomplete)]


IdArg = Annotated[str, typer.Argument(help="Its id.", metavar="ID", autocompletion=resource_ids)]


def _columns(prefix: str) -> tuple[object, ...]:
    from proxmox_mpc.kinds.registry import resource_kind
    from proxmox_mpc.output.printers import Column

    kind = resource_kind(prefix)
    assert kind is not None
    return tuple(Column(name.upper().replace("_", "-"), name) for name in kind.columns)


def make_resource_app(prefix: str, what: str, plural: str, group: str | None = None) -> typer.Typer:
    """Return the `list` and `get` verbs of one kind (by its address prefix), kubectl style.

    `group` is the command's name where it differs from the prefix (`backup-job` lists `backupjob/...`).
    """
    app = typer.Typer(help=f"Inspect {plural}.", no_args_is_help=True)
    command = group or prefix

    @app.command("list", help=f"List the {plural}.\n\nExample: pmpc {command} list   |   pmpc {command} list -o json")
    def list_(
        ctx: typer.Context, output: OutputOpt = "table", sort_by: SortByOpt = None, no_headers: NoHeadersOpt = False
    ) -> None:
        app_ctx: AppContext = ctx.obj
        check_format(output)
        from proxmox_mpc.output.printers import print_list
        from proxmox_mpc.services.resources import list_resources

        rows = run(list_resources(app_ctx, prefix))
        print_list(
            app_ctx.out,
            app_ctx.err,
            rows,
            fmt=output,
            columns=_columns(prefix),  # type: ignore[arg-type]
            plural=plural,
            sort_by=sort_by,
            headers=not no_headers,
            name_of=lambda r: f"{prefix}/{r['id']}",
        )

    add_get(app, prefix, what, command)
    return app


def add_get(app: typer.Typer, prefix: str, what: str, command: str | None = None) -> None:
    """Add `get ID` to a group: one resource of a kind (by its address prefix), as the API shows it now."""
    command = command or prefix

    @app.command(help=f"Show one {what}.\n\nExample: pmpc {command} get ID   |   pmpc {command} get ID -o yaml")
    def get(ctx: typer.Context, ident: IdArg, output: OutputOpt = "table", no_headers: NoHeadersOpt = False) -> None:
        app_ctx: AppContext = ctx.obj
        check_format(output)
        from proxmox_mpc.output.printers import print_one
        from proxmox_mpc.services.resources import get_resource

        row = run(get_resource(app_ctx, prefix, ident))
        print_one(
            app_ctx.out,
            row,
            fmt=output,
            columns=_columns(prefix),  # type: ignore[arg-type]
            headers=not no_headers,
            name_of=lambda r: f"{prefix}/{r['id']}",
        )


pool_app = make_resource_app("pool", "pool", "pools")
backup_job_app = make_resource_app("backupjob", "backup job", "backup jobs", group="backup-job")
ha_app = make_resource_app("ha", "HA resource", "HA resources")
user_app = make_resource_app("user", "user", "users")
group_app = make_resource_app("group", "user group", "user groups")
role_app = make_resource_app("role", "custom role", "custom roles")
acl_app = make_resource_app("acl", "ACL entry", "ACL entries")
