"""`pmpc completion bash|zsh|fish`: print the shell's completion script (names come from the state store)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

from proxmox_mpc.context import AppContext

PROG_NAME = "pmpc"
COMPLETE_VAR = "_PMPC_COMPLETE"


class Shell(str, Enum):
    bash = "bash"
    zsh = "zsh"
    fish = "fish"


def completion_script(shell: str) -> str:
    """Return the completion script of a shell: it calls `pmpc` back with _PMPC_COMPLETE set on <TAB>."""
    from typer.completion import get_completion_script

    return get_completion_script(prog_name=PROG_NAME, complete_var=COMPLETE_VAR, shell=shell) + "\n"


def completion(
    ctx: typer.Context,
    shell: Annotated[Shell, typer.Argument(help="bash, zsh or fish.", metavar="SHELL")],
) -> None:
    """Print a shell completion script: commands, flags, flag values and live names from the state store.

    Example: source <(pmpc completion bash)   |   pmpc completion fish > ~/.config/fish/completions/pmpc.fish
    """
    app_ctx: AppContext = ctx.obj
    app_ctx.out.write(completion_script(shell.value))


def register(app: typer.Typer) -> None:
    """Add `completion` to the root app."""
    app.command("completion")(completion)
