"""`pmpc vm|ct wait GUEST... --for CONDITION`: block until guests are running, stopped, reachable, gone."""

from __future__ import annotations

from typing import Annotated, Literal

import typer

from proxmox_mpc.commands._options import DEFAULT_TIMEOUT, ResultOutputOpt, SelectorOpt, TimeoutOpt
from proxmox_mpc.commands._run import run

# guest.py imports this module while it builds its groups, after these names exist.
from proxmox_mpc.commands.guest import PLURAL, TargetsArg, _finish, _selector
from proxmox_mpc.context import AppContext
from proxmox_mpc.core.models import KIND_PREFIX
from proxmox_mpc.output.printers import check_format


def _conditions(incomplete: str) -> list[str]:
    from proxmox_mpc.services.waiting import CONDITIONS

    return [c for c in CONDITIONS if c.startswith(incomplete)]


ForOpt = Annotated[
    str,
    typer.Option(
        "--for",
        help="status=running, status=stopped, agent (the QEMU guest agent answers), ip (an address is "
        "known), unlocked or deleted.",
        metavar="CONDITION",
        autocompletion=_conditions,
    ),
]


def register(app: typer.Typer, kind: Literal["qemu", "lxc"]) -> None:
    """Add `wait` to the `vm` or `ct` group."""
    prefix = KIND_PREFIX[kind]

    @app.command("wait")
    def wait(
        ctx: typer.Context,
        condition: ForOpt,
        targets: TargetsArg = None,
        selector: SelectorOpt = None,
        timeout: TimeoutOpt = DEFAULT_TIMEOUT,
        output: ResultOutputOpt = "table",
    ) -> None:
        app_ctx: AppContext = ctx.obj
        check_format(output)
        from proxmox_mpc.services import waiting

        waiting.check_condition(kind, condition)
        sel = _selector(selector)
        _finish(app_ctx, run(waiting.wait_for(app_ctx, kind, list(targets or []), sel, condition, timeout=timeout)),
                kind, output)  # fmt: skip

    wait.__doc__ = (
        f"Wait until {PLURAL[kind]} meet a condition (exit 8 when --timeout runs out first).\n\n"
        f"Example: pmpc {prefix} wait web-1 --for status=running --timeout 120   |   "
        f"pmpc {prefix} wait -l tag=web --for {'agent' if kind == 'qemu' else 'ip'}"
    )
