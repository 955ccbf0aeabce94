"""Shared option and argument types, so every command spells a flag the same way."""

from __future__ import annotations

from typing import Annotated

import typer

from proxmox_mpc.commands import _complete

OutputOpt = Annotated[
    str,
    typer.Option(
        "--output",
        "-o",
        help="Output format: table, wide, json, yaml, name, or custom-columns=HEADER:.field,...",
        metavar="FORMAT",
        autocompletion=_complete.output_formats,
    ),
]
NoHeadersOpt = Annotated[bool, typer.Option("--no-headers", help="Print tables without the header row.")]
SortByOpt = Annotated[
    str | None, typer.Option("--sort-by", help="Sort a list by this field (e.g. name, vmid, mem).")
]
LimitOpt = Annotated[int | None, typer.Option("--limit", min=1, help="Show at most this many items.")]
SelectorOpt = Annotated[
    str | None,
    typer.Option(
        "--selector",
        "-l",
        help="Filter: tag=web, tag!=db, name=web-*, pool=prod, node=pve1, status=running, "
        "template=false; comma = AND.",
        autocompletion=_complete.selector(),
    ),
]
NodeFilterOpt = Annotated[
    str | None, typer.Option("--node", help="Only this node.", autocompletion=_complete.of("nodes"))
]
StatusFilterOpt = Annotated[
    str | None,
    typer.Option("--status", help="Only this status (running, stopped...).", autocompletion=_complete.statuses),
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Print exactly what would be done; send no write anywhere.")
]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
TimeoutOpt = Annotated[
    float,
    typer.Option("--timeout", min=0, help="Seconds to wait for each target, lock retries included."),
]
WaitOpt = Annotated[
    bool, typer.Option("--wait/--no-wait", help="Wait for Proxmox tasks to finish (--no-wait prints UPIDs).")
]
ConcurrencyOpt = Annotated[
    int | None, typer.Option("--concurrency", min=1, max=256, help="Targets run at once (default 8).")
]
DetailedExitcodeOpt = Annotated[
    bool, typer.Option("--detailed-exitcode", help="Exit 2 when there are changes, 0 when there are none.")
]
LockTimeoutOpt = Annotated[
    float, typer.Option("--lock-timeout", min=0, help="Seconds to wait for the workspace lock.")
]
DEFAULT_TIMEOUT = 300.0
