"""`pmpc config view | get-contexts | current-context | set-context | use-context | ...`: the contexts file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer

from proxmox_mpc.commands import _complete
from proxmox_mpc.commands._options import DryRunOpt, NoHeadersOpt, OutputOpt, ResultOutputOpt, YesOpt
from proxmox_mpc.commands._run import run
from proxmox_mpc.context import AppContext
from proxmox_mpc.errors import UsageError
from proxmox_mpc.output.printers import Column, check_format, print_list, print_one

if TYPE_CHECKING:
    from proxmox_mpc.services.config_ops import SetContextResult

app = typer.Typer(help="View and edit contexts (clusters and credentials).", no_args_is_help=True)

CONTEXT_COLUMNS = (
    Column("CURRENT", "current", format=lambda v: "*" if v else ""),
    Column("NAME", "name"),
    Column("HOST", "host"),
    Column("PORT", "port"),
    Column("AUTH", "auth"),
    Column("USER", "user", wide=True),
    Column("TOKEN-ID", "token_id", wide=True),
    Column("VERIFY-TLS", "verify_tls"),
    Column("PINNED", "pinned"),
    Column("READ-ONLY", "read_only"),
    Column("CA-FILE", "ca_file", wide=True),
)
NameArg = Annotated[
    str, typer.Argument(help="Context name.", metavar="NAME", autocompletion=_complete.of("contexts"))
]
FileOpt = Annotated[
    Path | None,
    typer.Option(dir_okay=False, exists=True, readable=True, help="Read it from this file (first line)."),
]


def _stdin(label: str) -> TextIO:
    """Return stdin; on a terminal, read one line without echoing it (a secret stays off the screen)."""
    if sys.stdin.isatty():
        import getpass
        import io

        return io.StringIO(getpass.getpass(f"{label} (not shown): ") + "\n")
    return sys.stdin


def _context_name(record: dict[str, Any]) -> str:
    return f"context/{record['name']}"


@app.command()
def view(
    ctx: typer.Context,
    effective: Annotated[
        bool,
        typer.Option(
            "--effective", help="Show the settings this command line resolves to (every source merged)."
        ),
    ] = False,
    output: Annotated[str, typer.Option("--output", "-o", help="yaml or json.", metavar="FORMAT")] = "yaml",
) -> None:
    """Show the contexts file, or with --effective the merged settings; secrets are redacted.

    Example: pmpc config view   |   PMPC_PORT=8443 pmpc config view --effective -o json
    """
    app_ctx: AppContext = ctx.obj
    if output not in ("yaml", "json"):
        raise UsageError(f"config view prints yaml or json, not {output!r}.")
    from proxmox_mpc.services import config_ops

    data = config_ops.view_effective_settings(app_ctx) if effective else config_ops.view_contexts_file()
    print_one(app_ctx.out, data, fmt=output, columns=())


@app.command("get-contexts")
def get_contexts(ctx: typer.Context, output: OutputOpt = "table", no_headers: NoHeadersOpt = False) -> None:
    """List the contexts; the current one is marked with *.

    Example: pmpc config get-contexts   |   pmpc config get-contexts -o name
    """
    app_ctx: AppContext = ctx.obj
    check_format(output)
    from proxmox_mpc.services import config_ops

    print_list(
        app_ctx.out,
        app_ctx.err,
        config_ops.list_contexts(),
        fmt=output,
        columns=CONTEXT_COLUMNS,
        plural="contexts",
        headers=not no_headers,
        name_of=_context_name,
    )


@app.command("set-context")
def set_context(
    ctx: typer.Context,
    name: NameArg,
    host: Annotated[str | None, typer.Option(help="Host name or address, or https://host:port.")] = None,
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="API port (default 8006).")] = None,
    user: Annotated[str | None, typer.Option(help="User for password login, e.g. root@pam.")] = None,
    password_file: FileOpt = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin.")
    ] = False,
    token_id: Annotated[str | None, typer.Option(help="API token id: user@realm!name.")] = None,
    token_secret_file: FileOpt = None,
    token_secret_stdin: Annotated[
        bool, typer.Option("--token-secret-stdin", help="Read the token secret from stdin.")
    ] = False,
    verify_tls: Annotated[
        bool | None, typer.Option("--verify-tls/--no-verify-tls", help="Verify the server certificate.")
    ] = None,
    ca_file: Annotated[
        Path | None, typer.Option(dir_okay=False, exists=True, help="CA bundle that signed the certificate.")
    ] = None,
    fingerprint: Annotated[str | None, typer.Option(help="Pin this SHA-256 certificate fingerprint.")] = None,
    trust: Annotated[
        bool, typer.Option("--trust", help="Connect, show the certificate's SHA-256 fingerprint and pin it.")
    ] = False,
    timeout: Annotated[float | None, typer.Option(min=0.1, help="Timeout of one HTTP request (s).")] = None,
    concurrency: Annotated[int | None, typer.Option(min=1, max=256, help="Targets run at once.")] = None,
    database_url: Annotated[str | None, typer.Option(help="State database URL.")] = None,
    unset: Annotated[
        list[str] | None, typer.Option("--unset", help="Remove a field from the context (repeatable).")
    ] = None,
    read_only: Annotated[
        bool | None,
        typer.Option(
            "--read-only/--read-write", help="Refuse every write to the cluster through this context (exit 5)."
        ),
    ] = None,
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
    output: ResultOutputOpt = "table",
) -> None:
    """Create or update a context; secrets come from a file or stdin, never from the command line.

    Example: pmpc config set-context prod --host pve.example.com --token-id 'pmpc@pve!cli'
    --token-secret-file ~/.pve-token --trust
    """
    app_ctx: AppContext = ctx.obj
    check_format(output)
    if password_stdin and token_secret_stdin:
        raise UsageError("Only one secret can come from stdin: use a file for the other.")
    if trust and fingerprint:
        raise UsageError("Give either --fingerprint or --trust, not both.")
    from proxmox_mpc.services import config_ops

    values = {
        "host": host,
        "port": port,
        "user": user,
        "password": config_ops.read_secret(
            file=password_file, stream=_stdin("Password") if password_stdin else None, what="password"
        ),
        "token_id": token_id,
        "token_secret": config_ops.read_secret(
            file=token_secret_file,
            stream=_stdin("Token secret") if token_secret_stdin else None,
            what="token secret",
        ),
        "verify_tls": verify_tls,
        "ca_file": str(ca_file.expanduser().resolve()) if ca_file else None,
        "fingerprint": fingerprint,
        "timeout": timeout,
        "concurrency": concurrency,
        "database_url": database_url,
        "read_only": read_only,
    }
    result = run(config_ops.set_context(name, values, unset=tuple(unset or ()), trust=trust, dry_run=dry_run))
    app_ctx.reload()
    _print_set_context(app_ctx, name, result, output, dry_run=dry_run)


def _print_set_context(
    app_ctx: AppContext, name: str, result: SetContextResult, output: str, *, dry_run: bool
) -> None:
    if output not in ("table", "wide"):
        print_one(app_ctx.out, result, fmt=output, columns=(), name_of=_context_name)
        return
    suffix = " (dry run)" if dry_run else ""
    if result.fingerprint:
        app_ctx.out.write(f"fingerprint (SHA-256) of the server certificate: {result.fingerprint}\n")
    verb = "created" if result.created else "updated"
    app_ctx.out.write(f"context/{name} {verb}{', pinned' if result.pinned else ''}{suffix}\n")
    if result.created and result.current and not dry_run:
        app_ctx.info(f"Context {name!r} is the current context ({result.path}).")


@app.command("use-context")
def use_context(ctx: typer.Context, name: NameArg, dry_run: DryRunOpt = False, yes: YesOpt = False) -> None:
    """Make a context the current one (never prompts: -y is accepted and changes nothing).

    Example: pmpc config use-context prod
    """
    app_ctx: AppContext = ctx.obj
    from proxmox_mpc.services import config_ops

    config_ops.use_context(name, dry_run=dry_run)
    app_ctx.reload()
    app_ctx.out.write(f"context/{name} is now current{' (dry run)' if dry_run else ''}\n")


@app.command("current-context")
def current_context(ctx: typer.Context) -> None:
    """Print the name of the current context (exit 6 when none is set).

    Example: pmpc config current-context
    """
    app_ctx: AppContext = ctx.obj
    from proxmox_mpc.services import config_ops

    app_ctx.out.write(config_ops.current_context() + "\n")


@app.command("delete-context")
def delete_context(ctx: typer.Context, name: NameArg, dry_run: DryRunOpt = False, yes: YesOpt = False) -> None:
    """Delete a context from the contexts file (never prompts: -y is accepted and changes nothing).

    Example: pmpc config delete-context old-lab
    """
    app_ctx: AppContext = ctx.obj
    from proxmox_mpc.services import config_ops

    was_current = config_ops.delete_context(name, dry_run=dry_run)
    app_ctx.reload()
    app_ctx.out.write(f"context/{name} deleted{' (dry run)' if dry_run else ''}\n")
    if was_current:
        app_ctx.warn(f"{name!r} was the current context: pick another with `pmpc config use-context NAME`.")


@app.command("rename-context")
def rename_context(
    ctx: typer.Context,
    old: Annotated[str, typer.Argument(
            help="Current name of the context.", metavar="OLD", autocompletion=_complete.of("contexts")
        )],
    new: Annotated[str, typer.Argument(help="New name.", metavar="NEW")],
    dry_run: DryRunOpt = False,
    yes: YesOpt = False,
) -> None:
    """Rename a context; it stays current if it was (never prompts: -y is accepted and changes nothing).

    Example: pmpc config rename-context lab lab-old
    """
    app_ctx: AppContext = ctx.obj
    from proxmox_mpc.services import config_ops

    config_ops.rename_context(old, new, dry_run=dry_run)
    app_ctx.reload()
    app_ctx.out.write(f"context/{old} renamed to context/{new}{' (dry run)' if dry_run else ''}\n")
