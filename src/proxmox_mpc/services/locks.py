"""Unlock use case: clear a stale guest lock (as `qm unlock`) with `delete=lock` and `skiplock=1`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from proxmox_mpc.context import AppContext
from proxmox_mpc.core.batch import BatchResult, PlannedRequest
from proxmox_mpc.core.identity import GuestKind
from proxmox_mpc.core.locks import SKIPLOCK_USER, holding_task, may_skiplock
from proxmox_mpc.core.models import Guest
from proxmox_mpc.core.selectors import Selector
from proxmox_mpc.errors import AuthError, Conflict, PmpcError
from proxmox_mpc.output.progress import Progress
from proxmox_mpc.services.guests.batch import run_guest_action
from proxmox_mpc.services.guests.plan import Confirm, Plan, VerbOptions
from proxmox_mpc.services.guests.resolve import guest_path
from proxmox_mpc.services.tasks import TaskInfo

if TYPE_CHECKING:
    from proxmox_mpc.api.client import ProxmoxClient


async def plan_unlock(api: ProxmoxClient, guest: Guest, *, force: bool) -> Plan:
    """Plan clearing one guest's lock: nothing when unlocked; refused while the task holding it runs.

    Raises:
        Conflict: a running task holds the lock and `force` is not set.
        PmpcError: the guest is a container, whose lock PVE's API cannot clear.
    """
    config = await api.guest_config(guest.node, guest.type, guest.vmid)
    lock = config.get("lock")
    if not lock:
        return Plan(guest, noop="not locked")
    if guest.kind == "ct":
        # pve-container's config update checks the lock first and takes no skiplock: only pct can clear it.
        raise PmpcError(
            f"{guest.ref} is locked ({lock}), and Proxmox VE's API cannot clear a container's lock: "
            f"run `pct unlock {guest.vmid}` on {guest.node}."
        )
    tasks = await api.tasks(guest.node, vmid=guest.vmid, source="active", limit=50)
    running = [
        (info.type, info.upid)
        for info in (TaskInfo.from_api(dict(t, node=t.get("node") or guest.node), listing=True) for t in tasks)
        if info.status == "running" and info.upid
    ]
    holder = holding_task(str(lock), running)
    if holder and not force:
        raise Conflict(
            f"{guest.ref} is locked ({lock}) by a task that is still running ({holder}): wait for it "
            "(`pmpc task wait UPID`), or add --force to clear the lock anyway.",
            details={"lock": lock, "upid": holder},
        )
    params: dict[str, object] = {"delete": "lock", "skiplock": 1}
    if config.get("digest"):
        params["digest"] = config["digest"]
    request = PlannedRequest(method="PUT", path=f"{guest_path(guest)}/config", params=params)
    return Plan(
        guest,
        [request],
        message=f"unlocked (was {lock})",
        label=f"{guest.ref} ({guest.name}) on {guest.node}: lock {lock}",
    )


async def unlock_guests(
    app_ctx: AppContext,
    kind: GuestKind,
    targets: Sequence[str],
    selector: Selector | None,
    *,
    force: bool = False,
    timeout: float = 300.0,
    wait: bool = True,
    dry_run: bool = False,
    confirm: Confirm,
    concurrency: int | None = None,
    progress: Progress | None = None,
) -> BatchResult:
    """Clear the lock of every target (the confirmation names each lock).

    Raises:
        AuthError: the identity is not root@pam, the only one PVE lets use skiplock (not on a dry run).
        UsageError, NotFound: the targets cannot be resolved.
        ConfirmationRequired, Aborted: the user did not confirm.
    """
    settings = app_ctx.settings
    identity = settings.token_id or settings.user

    def checked_confirm(action: str, labels: Sequence[str]) -> None:
        # Checked once there is something to write: a dry run still shows the request.
        if not may_skiplock(identity):
            raise AuthError(
                f"Clearing a lock needs skiplock, which Proxmox VE allows only for {SKIPLOCK_USER} "
                f"(a password login, not an API token); this context uses {identity or 'no identity'}."
            )
        confirm(action, labels)

    async def planner(api: ProxmoxClient, guest: Guest, _opts: VerbOptions) -> Plan:
        return await plan_unlock(api, guest, force=force)

    return await run_guest_action(
        app_ctx,
        kind,
        "unlock",
        targets,
        selector,
        options=VerbOptions(timeout=timeout, wait=wait),
        dry_run=dry_run,
        confirm=checked_confirm,
        concurrency=concurrency,
        progress=progress,
        planner=planner,
    )
