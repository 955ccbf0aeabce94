"""`-w/--watch` for list and get: print, then re-print what changed until Ctrl-C (as `kubectl get -w`)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import Annotated, Any

import typer

from proxmox_mpc.context import AppContext

WatchOpt = Annotated[
    bool, typer.Option("--watch", "-w", help="After printing, watch for changes and print them (Ctrl-C ends).")
]
# Seconds between two reads of the cluster while watching.
WATCH_INTERVAL = 2.0
# Usage counters move on every read: a change of only these is not worth a line.
VOLATILE = frozenset({"cpu_usage", "memory_used", "disk_used", "uptime"})


def _stable(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in VOLATILE}


def _key(record: dict[str, Any]) -> Any:
    return record.get("vmid", record.get("name"))


def watch(
    app_ctx: AppContext,
    fetch: Callable[[], Sequence[dict[str, Any]]],
    *,
    fmt: str,
    columns: Sequence[Any],
    plural: str,
    headers: bool = True,
    interval: float = WATCH_INTERVAL,
) -> None:
    """Print the records, then every record that appears, changes or disappears, until Ctrl-C.

    With -o json every record is one compact JSON object on its own line (a stream, as `logs -f`); a
    record that disappeared is printed once more with `"status": "deleted"`.
    """
    from proxmox_mpc.output.printers import print_list

    seen: dict[Any, dict[str, Any]] | None = None
    try:
        while True:
            records = list(fetch())
            current = {_key(r): r for r in records}
            if seen is None:
                changed = records
            else:
                changed = [r for k, r in current.items() if k not in seen or _stable(seen[k]) != _stable(r)]
                changed += [{**r, "status": "deleted"} for k, r in seen.items() if k not in current]
            if fmt == "json":
                for record in changed:
                    app_ctx.out.write(json.dumps(record, separators=(",", ":"), default=str) + "\n")
            elif changed or seen is None:
                print_list(
                    app_ctx.out, app_ctx.err, changed, fmt=fmt, columns=columns, plural=plural,
                    headers=headers and seen is None,
                )  # fmt: skip
            app_ctx.out.flush()
            seen = current
            time.sleep(interval)
    except KeyboardInterrupt:
        # Ctrl-C is how a watch ends: not an error.
        return
