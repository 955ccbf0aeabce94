"""`pmpc init [DIR]`: make a workspace."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from proxmox_mpc.commands._options import DryRunOpt, ResultOutputOpt, YesOpt
from proxmox_mpc.context import AppContext
from proxmox_mpc.output.printers import check_format, print_one


def init(
    ctx: typer.Context,
    directory: Annotated[Path | None, typer.Argument(help="Directory (default: the current one).")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Workspace name, the key of its lock.")] = None,
    context: Annotated[
        str | None, typer.Option("--context-name", help="Context to record in pmpc.yaml.")
    ] = None,
    dry_run: DryRunOpt = False,
    output: ResultOutputOpt = "table",
    yes: YesOpt = False,
) -> None:
    """Make a workspace: pmpc.yaml, resources/, generated directories, .gitignore (safe to run twice).

    It never prompts: -y/--yes is accepted for scripts that pass it to every command.

    Example: pmpc init infra   |   pmpc init --name prod-cluster
    """
    app_ctx: AppContext = ctx.obj
    check_format(output)
    from proxmox_mpc.services.workspace import init_workspace

    result = init_workspace(app_ctx, directory, name=name, context=context, dry_run=dry_run)
    if output in ("table", "wide"):
        suffix = " (dry run)" if dry_run else ""
        verb = "would create" if dry_run else "created"
        for item in result.created:
            app_ctx.out.write(f"{verb} {item}\n")
        state = "initialised" if result.created else "already initialised"
        app_ctx.out.write(f"workspace/{result.name} {state} at {result.path}{suffix}\n")
    else:
        print_one(app_ctx.out, result, fmt=output, columns=(), name_of=lambda r: f"workspace/{r['name']}")


def register(app: typer.Typer) -> None:
    """Add `init` to the root app."""
    app.command("init")(init)
