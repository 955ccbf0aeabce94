"""Shared option and argument types, so every command spells a flag the same way."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from proxmox_mpc.commands import (
    _complete,
    _help,  # noqa: F401  (help shows metavars, never Python types)
)
from proxmox_mpc.output.printers import (
    DOCUMENT_FORMATS,
    LIST_FORMATS,
    RESULT_FORMATS,
    check_format,
    describe_formats,
)


def output_option(formats: tuple[str, ...]) -> Any:
    """Return an -o/--output option that offers, and accepts, exactly these formats (checked at parse time)."""

    def check(value: str) -> str:
        check_format(value, formats)
        return value

    offered = [f"{f}=" if f in ("jsonpath", "custom-columns") else f for f in formats]

    def complete(ctx: Any, incomplete: str) -> list[str]:
        return [f for f in offered if f.startswith(incomplete)]

    return typer.Option(
        "--output",
        "-o",
        help=f"Output format: {describe_formats(formats)}.",
        metavar="FORMAT",
        callback=check,
        autocompletion=complete,
    )


# Lists and gets: every format. Verbs and reports: no columns. Documents (describe, plan): no names either.
OutputOpt = Annotated[str, output_option(LIST_FORMATS)]
ResultOutputOpt = Annotated[str, output_option(RESULT_FORMATS)]
DocumentOutputOpt = Annotated[str, output_option(DOCUMENT_FORMATS)]
NoHeadersOpt = Annotated[bool, typer.Option("--no-headers", help="Print tables without the header row.")]
SortByOpt = Annotated[
    str | None,
    typer.Option(
        "--sort-by", help="Sort by this JSON field, dotted paths too (e.g. name, memory, .tags[0]).", metavar="FIELD"
    ),
]
LimitOpt = Annotated[int | None, typer.Option("--limit", min=1, help="Show at most this many items.", metavar="N")]
SelectorOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--selector",
        "-l",
        help="Filter: tag=web, tag!=db, name=web-*, 'tag in (web,db)', 'tag notin (db)', pool, !lock, "
        "node=pve1, status=running, template=false; comma = AND, and repeated -l are ANDed.",
        metavar="SELECTOR",
        show_default=False,
        autocompletion=_complete.selector(),
    ),
]
NodeFilterOpt = Annotated[
    str | None,
    typer.Option("--node", help="Only this node.", metavar="NODE", autocompletion=_complete.of("nodes")),
]
StatusFilterOpt = Annotated[
    str | None,
    typer.Option(
        "--status",
        help="Only this status (running, stopped...).",
        metavar="STATUS",
        autocompletion=_complete.statuses,
    ),
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Print exactly what would be done; send no write anywhere.")
]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
TimeoutOpt = Annotated[
    float,
    typer.Option(
        "--timeout", min=0, help="Seconds to wait for each target, lock retries included.", metavar="SECONDS"
    ),
]
WaitOpt = Annotated[
    bool, typer.Option("--wait/--no-wait", help="Wait for Proxmox tasks to finish (--no-wait prints UPIDs).")
]
ConcurrencyOpt = Annotated[
    int | None,
    typer.Option("--concurrency", min=1, max=256, help="Targets run at once (default 8).", metavar="N"),
]
DetailedExitcodeOpt = Annotated[
    bool, typer.Option("--detailed-exitcode", help="Exit 2 when there are changes, 0 when there are none.")
]
LockTimeoutOpt = Annotated[
    float,
    typer.Option("--lock-timeout", min=0, help="Seconds to wait for the workspace lock.", metavar="SECONDS"),
]
DEFAULT_TIMEOUT = 300.0


def selector_text(selectors: list[str] | None) -> str | None:
    """Join repeated -l values into one selector (comma = AND), None when there is none."""
    return None if selectors is None else ",".join(selectors)
