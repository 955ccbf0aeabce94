"""`pmpc vm|ct wait GUEST... --for CONDITION`: block until guests are running, stopped, reachable, gone."""

from __future__ import annotations

from typing import Annotated

import typer

from proxmox_mpc.commands._run import run
from proxmox_mpc.commands.guest.verbs import OUTPUT, SELECTOR, TARGETS, TIMEOUT, Param, Verb, finish, selector_of
from proxmox_mpc.context import AppContext
from proxmox_mpc.core.identity import GuestKind
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


def wait(app_ctx: AppContext, kind: GuestKind, *, condition: str, targets: list[str] | None,
         selector: list[str] | None, timeout: float, output: str) -> None:  # fmt: skip
    check_format(output)
    from proxmox_mpc.services import waiting

    waiting.check_condition(kind, condition)
    sel = selector_of(selector)
    batch = run(waiting.wait_for(app_ctx, kind, list(targets or []), sel, condition, timeout=timeout))
    finish(app_ctx, batch, kind, output)


VERBS = (
    Verb(
        "wait",
        "Wait until {plural} meet a condition (exit 8 when --timeout runs out first).\n\n"
        "Example: pmpc {prefix} wait web-1 --for status=running --timeout 120   |   "
        "pmpc {prefix} wait -l tag=web --for {example}",
        (Param("condition", ForOpt), TARGETS, SELECTOR, TIMEOUT, OUTPUT),
        wait,
        example={"vm": "agent", "ct": "ip"},
    ),
)
