"""Snapshots of a guest: the listing, and the plans of `snapshot create|rollback|delete`."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

from proxmox_mpc.context import AppContext
from proxmox_mpc.core.batch import PlannedRequest
from proxmox_mpc.core.guest_requests import clean_params
from proxmox_mpc.core.identity import GuestKind
from proxmox_mpc.core.modeling import Model
from proxmox_mpc.core.models import Guest, UtcTime, to_int
from proxmox_mpc.errors import NotFound
from proxmox_mpc.services.completion import record_snapshots
from proxmox_mpc.services.connection import connect
from proxmox_mpc.services.guests.plan import Plan, VerbOptions
from proxmox_mpc.services.guests.resolve import guest_path, resolve_one

if TYPE_CHECKING:
    from proxmox_mpc.api.client import ProxmoxClient


class Snapshot(Model):
    """One snapshot of a guest."""

    kind: Literal["snapshot"] = "snapshot"
    name: str
    guest: str = ""
    description: str = ""
    snapshot_time: UtcTime | None = None
    parent: str | None = None
    vmstate: bool = False

    @classmethod
    def from_api(cls, guest: str, raw: dict[str, Any]) -> Snapshot:
        seconds = to_int(raw.get("snaptime"))
        return cls(
            name=str(raw.get("name")),
            guest=guest,
            description=str(raw.get("description") or "").strip(),
            snapshot_time=datetime.fromtimestamp(seconds, tz=timezone.utc) if seconds else None,
            parent=raw.get("parent") or None,
            vmstate=bool(to_int(raw.get("vmstate"))),
        )


async def list_snapshots(app_ctx: AppContext, kind: GuestKind, target: str) -> list[Snapshot]:
    """Return the snapshots of one guest (without PVE's `current` entry), oldest first."""
    async with connect(app_ctx) as api:
        guest = await resolve_one(api, kind, target)
        raw = await api.get(f"{guest_path(guest)}/snapshot") or []
    snaps = [Snapshot.from_api(guest.ref, s) for s in raw if s.get("name") != "current"]
    record_snapshots(app_ctx, [(guest.kind, guest.vmid, guest.name)], names=[s.name for s in snaps])
    epoch = datetime.fromtimestamp(0, tz=timezone.utc)
    return sorted(snaps, key=lambda s: (s.snapshot_time or epoch, s.name))


async def _snapshot_names(api: ProxmoxClient, guest: Guest) -> set[str]:
    return {str(s.get("name")) for s in await api.get(f"{guest_path(guest)}/snapshot") or []} - {"current"}


async def plan_snapshot_create(api: ProxmoxClient, guest: Guest, opts: VerbOptions) -> Plan:
    """Plan a snapshot of one guest: nothing when a snapshot of that name exists."""
    name = opts.snapshot
    assert name
    if name in await _snapshot_names(api, guest):
        return Plan(guest, noop=f"snapshot {name} already exists")
    params = clean_params(
        {
            "snapname": name,
            "description": opts.description,
            "vmstate": True if opts.vmstate and guest.kind == "vm" else None,
        }
    )
    request = PlannedRequest(method="POST", path=f"{guest_path(guest)}/snapshot", params=params)
    return Plan(guest, [request], message=f"snapshot {name} created")


async def plan_snapshot_rollback(api: ProxmoxClient, guest: Guest, opts: VerbOptions) -> Plan:
    """Plan the rollback of one guest to a snapshot.

    Raises:
        NotFound: the guest has no snapshot of that name.
    """
    name = opts.snapshot
    assert name
    if name not in await _snapshot_names(api, guest):
        raise NotFound(f"{guest.ref} has no snapshot {name!r}.")
    request = PlannedRequest(method="POST", path=f"{guest_path(guest)}/snapshot/{name}/rollback")
    return Plan(guest, [request], message=f"rolled back to {name}")


async def plan_snapshot_delete(api: ProxmoxClient, guest: Guest, opts: VerbOptions) -> Plan:
    """Plan deleting a snapshot: nothing when the guest has none of that name."""
    name = opts.snapshot
    assert name
    if name not in await _snapshot_names(api, guest):
        return Plan(guest, noop=f"has no snapshot {name}")
    request = PlannedRequest(method="DELETE", path=f"{guest_path(guest)}/snapshot/{name}")
    return Plan(guest, [request], message=f"snapshot {name} deleted")
