"""The one bridge from Typer to asyncio, and the confirmation prompt services call back into."""

from __future__ import annotations

from collections.abc import Coroutine, Sequence
from typing import Any, Protocol, TypeVar

from proxmox_mpc.context import AppContext
from proxmox_mpc.errors import Aborted, ConfirmationRequired

T = TypeVar("T")
MAX_LISTED = 20


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a service coroutine to completion (Typer does not await)."""
    import asyncio  # lazy: keeps `pmpc --help` fast

    results: list[T] = []

    async def main() -> None:
        results.append(await coro)

    # The task returns None, not the result: when asyncio.run() restores the SIGINT handler at exit,
    # Python 3.11 formats the repr of its handler, which holds the main task and so the repr of its
    # result, in full (seconds for a plan of 10,000 manifests), only to throw it away.
    asyncio.run(main())
    return results[0]


class Confirm(Protocol):
    def __call__(self, action: str, targets: Sequence[str]) -> None: ...


def confirmer(app_ctx: AppContext, yes: bool, fmt: str = "table") -> Confirm:
    """Return the callback a service calls before its first write.

    It returns when the user agreed (or --yes was given); it raises ConfirmationRequired (exit 4)
    with no TTY, or with JSON/YAML output, and Aborted when the user declines.
    """

    def confirm(action: str, targets: Sequence[str]) -> None:
        if yes or not targets:
            return
        if not app_ctx.interactive or fmt not in ("table", "wide"):
            raise ConfirmationRequired(
                f"Refusing to {action} {len(targets)} target(s) without confirmation: "
                "no terminal to ask on; pass --yes (-y) to proceed."
            )
        listed = list(targets[:MAX_LISTED])
        more = len(targets) - len(listed)
        app_ctx.err.write(f"About to {action}:\n")
        for target in listed:
            app_ctx.err.write(f"  {target}\n")
        if more > 0:
            app_ctx.err.write(f"  ... and {more} more\n")
        app_ctx.err.flush()
        if not app_ctx.prompt(f"{action.capitalize()} {len(targets)} target(s)?"):
            raise Aborted("Aborted: nothing was changed.")

    return confirm
