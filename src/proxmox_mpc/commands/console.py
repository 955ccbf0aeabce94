"""`pmpc console`: open the interactive console."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer

from proxmox_mpc.context import AppContext
from proxmox_mpc.errors import UsageError

# The root callback (cli) puts the console opener here: commands sit below the console layer.
OPENER_KEY = "pmpc.open_console"


def console(ctx: typer.Context) -> None:
    """Open the interactive console: history, completion, slash commands and every pmpc command.

    Example: pmpc console   (then: /status, vm list -o json, /plan, /exit)
    """
    app_ctx: AppContext = ctx.obj
    if app_ctx.in_console:
        raise UsageError("You are already in the console.")
    if not app_ctx.interactive:
        raise UsageError("The console needs a terminal: run pmpc commands directly in scripts.")
    opener: Callable[[Any], None] | None = ctx.meta.get(OPENER_KEY)
    if opener is None:
        raise UsageError("The console is not available here: run `pmpc console` from a shell.")
    opener(app_ctx)


def register(app: typer.Typer) -> None:
    """Add `console` to the root app."""
    app.command("console")(console)
