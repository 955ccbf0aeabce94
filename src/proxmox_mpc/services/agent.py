"""Guest agent use case: run a command in a VM (agent/exec, then exec-status until it exits)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from proxmox_mpc.context import AppContext
from proxmox_mpc.core.modeling import Model
from proxmox_mpc.core.models import Guest, to_int
from proxmox_mpc.errors import ApiError, OperationTimeout, PmpcError, UsageError
from proxmox_mpc.services.connection import connect
from proxmox_mpc.services.guests.resolve import cluster_guests, guest_path, resolve_targets

if TYPE_CHECKING:
    from proxmox_mpc.api.client import ProxmoxClient

POLL_START = 0.1
POLL_MAX = 1.0
# A killed process has no exit code; report it as shells do.
SIGNAL_BASE = 128
T = TypeVar("T")
Emit = Callable[[str, str], None]


class ExecResult(Model):
    """What a command run through the guest agent did (`vm exec -o json`)."""

    exit_code: int
    stdout: str = ""
    stderr: str = ""


def _agent_error(guest: Guest, exc: ApiError, timeout: float) -> PmpcError:
    """Word the agent's own failures: a hung agent is a timeout (exit 8), a missing one an error."""
    text = exc.message
    if "got timeout" in text:
        return OperationTimeout(
            f"{guest.ref}: the QEMU guest agent did not answer ({text.rstrip('.')}); waited up to {timeout:g}s.",
            details={"status": exc.status},
        )
    if "agent is not running" in text:
        return PmpcError(
            f"{guest.ref}: the QEMU guest agent is not running: start the VM, set `agent: 1` and install "
            "qemu-guest-agent in the guest."
        )
    return exc


async def exec_command(
    app_ctx: AppContext,
    target: str,
    argv: Sequence[str],
    *,
    timeout: float,
    emit: Emit | None = None,
) -> ExecResult:
    """Run `argv` in a VM through its guest agent and wait for it to exit, passing its output to `emit`.

    `emit(stream, text)` gets output as the agent hands it over (`stdout` or `stderr`).

    Raises:
        UsageError: no command.
        NotFound: no such VM.
        OperationTimeout: the agent did not answer, or the command still ran, after `timeout` seconds.
        PmpcError: the agent is not running, or Proxmox refused.
    """
    if not argv:
        raise UsageError("Give the command after --: pmpc vm exec GUEST -- CMD ARGS...")
    deadline = time.monotonic() + timeout
    async with connect(app_ctx) as api:
        guest = resolve_targets(await cluster_guests(api), "vm", [target], None)[0]
        base = f"{guest_path(guest)}/agent"

        async def bounded(call: Awaitable[T]) -> T:
            remaining = deadline - time.monotonic()
            try:
                return await asyncio.wait_for(call, max(remaining, 0.001))
            except asyncio.TimeoutError as exc:
                raise OperationTimeout(
                    f"{guest.ref}: the command or the QEMU guest agent was still busy after {timeout:g}s."
                ) from exc
            except ApiError as exc:
                raise _agent_error(guest, exc, timeout) from exc

        started = await bounded(api.post(f"{base}/exec", command=list(argv)))
        pid = to_int((started or {}).get("pid"), -1)
        if pid < 0:
            raise PmpcError(f"{guest.ref}: the guest agent started no process (answer: {started!r}).")
        return await _wait_exit(api, base, pid, bounded, emit)


async def _wait_exit(
    api: ProxmoxClient,
    base: str,
    pid: int,
    bounded: Callable[[Awaitable[Any]], Awaitable[Any]],
    emit: Emit | None,
) -> ExecResult:
    result = ExecResult(exit_code=0)
    interval = POLL_START
    while True:
        status = await bounded(api.get(f"{base}/exec-status", pid=pid)) or {}
        for key, stream in (("out-data", "stdout"), ("err-data", "stderr")):
            chunk = status.get(key)
            if chunk:
                if stream == "stdout":
                    result.stdout += str(chunk)
                else:
                    result.stderr += str(chunk)
                if emit is not None:
                    emit(stream, str(chunk))
        if to_int(status.get("exited")):
            signal = status.get("signal")
            result.exit_code = (
                SIGNAL_BASE + to_int(signal) if signal is not None and status.get("exitcode") is None
                else to_int(status.get("exitcode"))
            )
            return result
        await bounded(asyncio.sleep(interval))
        interval = min(interval * 2, POLL_MAX)
