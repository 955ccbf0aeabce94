"""`pmpc vm|ct unlock`: clear a stale lock of guests, as `qm unlock` and `pct unlock` do."""

from __future__ import annotations

from typing import Annotated

import typer

from proxmox_mpc.commands._run import confirmer
from proxmox_mpc.commands.guest.verbs import SELECTOR, TARGETS, WAIT_FIRST, Param, Verb, selector_of, with_progress
from proxmox_mpc.context import AppContext
from proxmox_mpc.core.identity import GuestKind
from proxmox_mpc.output.printers import check_format

UnlockForceOpt = Annotated[
    bool, typer.Option("--force", help="Clear the lock even while the task holding it still runs.")
]

UNLOCK_HELP = (
    "Clear a stale lock (backup, migrate, snapshot...) of {plural}, as `{tool} unlock` does; refused while the "
    "task holding it still runs, unless --force.\n\n{limit}\n\nExample: pmpc {prefix} unlock {example}"
)


def unlock(
    app_ctx: AppContext,
    kind: GuestKind,
    *,
    targets: list[str] | None,
    selector: list[str] | None,
    force: bool,
    timeout: float,
    wait: bool,
    concurrency: int | None,
    dry_run: bool,
    yes: bool,
    output: str,
) -> None:
    check_format(output)
    from proxmox_mpc.services import locks

    sel = selector_of(selector)
    with_progress(
        app_ctx,
        kind,
        output,
        lambda progress: locks.unlock_guests(
            app_ctx,
            kind,
            list(targets or []),
            sel,
            force=force,
            timeout=timeout,
            wait=wait,
            dry_run=dry_run,
            confirm=confirmer(app_ctx, yes, output),
            concurrency=concurrency,
            progress=progress,
        ),
        waited=wait,
    )


VERBS = (
    Verb(
        "unlock",
        {
            "vm": UNLOCK_HELP.replace("{tool}", "qm").replace(
                "{limit}", "Needs the root@pam user (a password login): Proxmox VE allows skiplock for no one else."
            ),
            "ct": UNLOCK_HELP.replace("{tool}", "pct").replace(
                "{limit}",
                "Proxmox VE's API cannot clear a container's lock: for a locked container this says so and names "
                "the `pct unlock` to run on its node.",
            ),
        },
        (TARGETS, SELECTOR, Param("force", UnlockForceOpt, False), *WAIT_FIRST),
        unlock,
        example={"vm": "web-1", "ct": "201"},
    ),
)
