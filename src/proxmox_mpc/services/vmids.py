"""VMID allocation for create, clone and apply: from /cluster/nextid, again when another client took it first."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from proxmox_mpc.errors import ApiError, Conflict, PmpcError, TaskFailedError

if TYPE_CHECKING:
    from proxmox_mpc.api.client import ProxmoxClient

# How often a create or clone gets a fresh VMID when PVE says the one it got is taken.
VMID_ATTEMPTS = 10
T = TypeVar("T")


class VmidAllocator:
    """Hand out VMIDs from /cluster/nextid, never the same one twice within this process."""

    def __init__(self, api: ProxmoxClient) -> None:
        self.api = api
        self.reserved: set[int] = set()
        self._lock = asyncio.Lock()

    async def allocate(self) -> int:
        """Return a VMID the cluster calls free and this process has not handed out yet."""
        async with self._lock:
            candidate = await self.api.next_vmid()
            while candidate in self.reserved:
                candidate = max(self.reserved) + 1
                try:
                    candidate = await self.api.next_vmid(candidate)
                except ApiError:
                    # Taken meanwhile by someone else: keep counting up.
                    self.reserved.add(candidate)
            self.reserved.add(candidate)
            return candidate

    async def reserve(self, vmid: int) -> int:
        """Reserve a VMID the user chose, after checking the cluster has no guest with it.

        Raises:
            Conflict: the VMID is in use (exit 7).
        """
        try:
            await self.api.next_vmid(vmid)
        except ApiError as exc:
            if exc.status == 400:
                raise Conflict(f"VMID {vmid} is already in use: pick another --vmid or leave it out.") from exc
            raise
        self.reserved.add(vmid)
        return vmid


def is_vmid_collision(exc: PmpcError) -> bool:
    """Tell whether PVE refused a create or clone because its VMID was taken meanwhile."""
    text = exc.message + " " + (exc.exitstatus if isinstance(exc, TaskFailedError) else "")
    return "already exists" in text


async def with_fresh_vmid(
    allocator: VmidAllocator,
    vmid: int,
    attempt: Callable[[int], Awaitable[T]],
    *,
    chosen: bool,
    on_collision: Callable[[int], None] | None = None,
) -> tuple[int, T]:
    """Run `attempt(vmid)`; when the VMID was taken meanwhile, allocate another and run it again.

    A VMID the user `chosen` is never swapped: its collision is the error. `on_collision(vmid)` is
    told each VMID given up. Returns the VMID that worked and what `attempt` returned.

    Raises:
        PmpcError: what the last attempt raised (a collision after VMID_ATTEMPTS tries included).
    """
    tries = 1
    while True:
        try:
            return vmid, await attempt(vmid)
        except PmpcError as exc:
            if chosen or not is_vmid_collision(exc) or tries >= VMID_ATTEMPTS:
                raise
        tries += 1
        if on_collision is not None:
            on_collision(vmid)
        # Someone else took this VMID between nextid and our create: ask again.
        vmid = await allocator.allocate()
