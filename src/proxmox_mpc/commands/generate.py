"""`pmpc generate terraform | ansible | tests`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from proxmox_mpc.commands._options import DryRunOpt, output_option
from proxmox_mpc.commands._run import run
from proxmox_mpc.context import AppContext

if TYPE_CHECKING:
    from proxmox_mpc.services.generate import GenerateResult

app = typer.Typer(
    help="Generate Terraform, Ansible and tests from the manifests and the cluster.", no_args_is_help=True
)

OutOpt = Annotated[
    Path | None,
    typer.Option(
        "--out",
        metavar="DIR",
        help="Output directory (default: the workspace's terraform/, ansible/ or tests/).",
    ),
]
ForceOpt = Annotated[bool, typer.Option("--force", help="Overwrite files changed by hand.")]
FilesOutputOpt = Annotated[str, output_option(("table", "json", "yaml", "name", "jsonpath", "custom-columns"))]
OfflineOpt = Annotated[
    bool,
    typer.Option("--offline", help="Describe existing guests from the last sync instead of the cluster."),
]
ACTION_TEXT = {
    "create": "created",
    "update": "updated",
    "overwrite": "overwritten",
    "delete": "deleted",
    "unchanged": "unchanged",
    "keep": "kept (yours to edit)",
}


def _print(app_ctx: AppContext, result: GenerateResult, output: str) -> None:
    from proxmox_mpc.output.printers import check_format, get_printer

    check_format(output)
    for warning in result.warnings:
        app_ctx.warn(warning)
    if output in ("json", "yaml") or output.startswith(("custom-columns=", "jsonpath=")):
        get_printer(output).print_list(app_ctx.out, [f.model_dump(mode="json") for f in result.files])
        return
    suffix = " (dry run)" if result.dry_run else ""
    for item in result.files:
        if output == "name":
            app_ctx.out.write(f"{item.path}\n")
        else:
            app_ctx.out.write(f"{item.path} {ACTION_TEXT[item.action]}{suffix}\n")
    written = sum(1 for f in result.files if f.written)
    verb = "would write" if result.dry_run else "wrote"
    app_ctx.info(f"{result.generator}: {verb} {written} of {len(result.files)} file(s) in {result.out_dir}.")


def _generate(
    ctx: typer.Context,
    generator: str,
    output: str,
    *,
    out: Path | None,
    force: bool,
    dry_run: bool,
    offline: bool,
    provider_version: str | None = None,
    frameworks: list[str] | None = None,
) -> None:
    app_ctx: AppContext = ctx.obj
    from proxmox_mpc.output.printers import check_format
    from proxmox_mpc.services.generate import generate

    check_format(output)
    result = run(
        generate(
            app_ctx,
            generator,
            out=out,
            force=force,
            dry_run=dry_run,
            offline=offline,
            provider_version=provider_version,
            frameworks=frameworks,
        )
    )
    _print(app_ctx, result, output)


@app.command()
def terraform(
    ctx: typer.Context,
    out: OutOpt = None,
    provider_version: Annotated[
        str,
        typer.Option("--provider-version", metavar="VERSION", help="bpg/proxmox provider version to pin."),
    ] = "0.111.1",
    force: ForceOpt = False,
    dry_run: DryRunOpt = False,
    offline: OfflineOpt = False,
    output: FilesOutputOpt = "table",
) -> None:
    """Generate Terraform for the bpg/proxmox provider.

    Existing guests get an import block, so `terraform plan` adopts them.

    Example: pmpc generate terraform --out infra/terraform   |   pmpc generate terraform --dry-run
    """
    _generate(
        ctx,
        "terraform",
        output,
        out=out,
        force=force,
        dry_run=dry_run,
        offline=offline,
        provider_version=provider_version,
    )


@app.command()
def ansible(
    ctx: typer.Context,
    out: OutOpt = None,
    force: ForceOpt = False,
    dry_run: DryRunOpt = False,
    offline: OfflineOpt = False,
    output: FilesOutputOpt = "table",
) -> None:
    """Generate an Ansible inventory and playbooks.

    Example: pmpc generate ansible   |   pmpc generate ansible --out ops/ansible -o json
    """
    _generate(ctx, "ansible", output, out=out, force=force, dry_run=dry_run, offline=offline)


@app.command()
def tests(
    ctx: typer.Context,
    out: OutOpt = None,
    framework: Annotated[
        list[str] | None,
        typer.Option(
            "--framework",
            metavar="NAME",
            help="pytest, terratest or jest; repeat for several (default: all three).",
        ),
    ] = None,
    force: ForceOpt = False,
    dry_run: DryRunOpt = False,
    offline: OfflineOpt = False,
    output: FilesOutputOpt = "table",
) -> None:
    """Generate tests of the cluster: pytest, Terratest and Jest.

    Example: pmpc generate tests   |   pmpc generate tests --framework pytest --out ci/tests
    """
    _generate(
        ctx,
        "tests",
        output,
        out=out,
        force=force,
        dry_run=dry_run,
        offline=offline,
        frameworks=framework or None,
    )
