"""`pmpc api get|post|put|delete PATH [KEY=VALUE ...]`: the raw API, like pvesh, printing PVE's `data`."""

from __future__ import annotations

from typing import Annotated

import typer

from proxmox_mpc.commands._options import DEFAULT_TIMEOUT, DryRunOpt, TimeoutOpt, WaitOpt, YesOpt
from proxmox_mpc.commands._run import confirmer, run
from proxmox_mpc.context import AppContext
from proxmox_mpc.errors import UsageError
from proxmox_mpc.services.raw_api import Method

app = typer.Typer(help="Call the Proxmox API directly (like pvesh): prints PVE's data.", no_args_is_help=True)

API_FORMATS = ("json", "yaml")
PathArg = Annotated[str, typer.Argument(help="API path, e.g. /nodes or /cluster/resources.", metavar="PATH")]
ParamsArg = Annotated[
    list[str] | None, typer.Argument(help="Parameters, e.g. type=vm (repeat a key for a list).", metavar="KEY=VALUE...")
]
ApiOutputOpt = Annotated[
    str, typer.Option("--output", "-o", help="Output format: json or yaml.", metavar="FORMAT")
]


def _check_output(output: str) -> None:
    if output not in API_FORMATS:
        raise UsageError(f"Unknown output format {output!r} for -o/--output: pmpc api prints json or yaml.")


def _print(app_ctx: AppContext, data: object, output: str) -> None:
    from proxmox_mpc.output.printers import print_one

    print_one(app_ctx.out, data, fmt=output, columns=())


@app.command()
def get(ctx: typer.Context, path: PathArg, params: ParamsArg = None, output: ApiOutputOpt = "json") -> None:
    """GET an API path and print its data.

    Example: pmpc api get /nodes   |   pmpc api get /cluster/resources type=vm -o yaml
    """
    app_ctx: AppContext = ctx.obj
    _check_output(output)
    from proxmox_mpc.services import raw_api

    request = raw_api.build_request("GET", path, params or [])
    _print(app_ctx, run(raw_api.send(app_ctx, request, wait=False, timeout=0)), output)


def _write(
    ctx: typer.Context,
    method: Method,
    path: str,
    params: list[str] | None,
    *,
    output: str,
    dry_run: bool,
    yes: bool,
    wait: bool,
    timeout: float,
) -> None:
    app_ctx: AppContext = ctx.obj
    _check_output(output)
    from proxmox_mpc.services import raw_api

    request = raw_api.build_request(method, path, params or [])
    if dry_run:
        _print(app_ctx, request, output)
        return
    # Prompt on a terminal whatever -o says: the answer is data on stdout, the question is on stderr.
    confirmer(app_ctx, yes)(f"send {method}", [f"{method} {request.path}"])
    _print(app_ctx, run(raw_api.send(app_ctx, request, wait=wait, timeout=timeout)), output)


def _write_command(method: Method, help_text: str) -> None:
    """Register `pmpc api <method>`: the three write verbs differ only in the method they send."""

    def command(
        ctx: typer.Context,
        path: PathArg,
        params: ParamsArg = None,
        output: ApiOutputOpt = "json",
        dry_run: DryRunOpt = False,
        yes: YesOpt = False,
        wait: WaitOpt = True,
        timeout: TimeoutOpt = DEFAULT_TIMEOUT,
    ) -> None:
        _write(ctx, method, path, params, output=output, dry_run=dry_run, yes=yes, wait=wait, timeout=timeout)

    app.command(method.lower(), help=help_text)(command)


_write_command(
    "POST",
    """POST to an API path (create, or run an action); a task is waited for unless --no-wait.

    Example: pmpc api post /nodes/pve1/qemu/101/status/start -y   |   pmpc api post /pools poolid=lab --dry-run
    """,
)
_write_command(
    "PUT",
    """PUT to an API path (update); a task is waited for unless --no-wait.

    Example: pmpc api put /nodes/pve1/qemu/101/config description=web -y
    """,
)
_write_command(
    "DELETE",
    """DELETE an API path; a task is waited for unless --no-wait.

    Example: pmpc api delete /pools/lab -y
    """,
)
