"""`vm|ct describe`: status, config, pending changes, snapshots, recent tasks and addresses of one guest."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from pydantic import Field

from proxmox_mpc.context import AppContext
from proxmox_mpc.core.identity import GuestKind
from proxmox_mpc.core.modeling import Model
from proxmox_mpc.core.models import BaseGuest, Guest, to_int
from proxmox_mpc.core.pveconfig import agent_enabled
from proxmox_mpc.core.secrets import for_output
from proxmox_mpc.errors import ApiError
from proxmox_mpc.services.connection import connect
from proxmox_mpc.services.guests.resolve import guest_path, resolve_one
from proxmox_mpc.services.guests.snapshots import Snapshot
from proxmox_mpc.services.tasks import TaskInfo

if TYPE_CHECKING:
    from proxmox_mpc.api.client import ProxmoxClient

RECENT_TASKS = 10


class PendingChange(Model):
    """A config key whose value changes at the next start (or is deleted then)."""

    key: str
    value: Any = None
    pending: Any = None
    delete: bool = False


class GuestDescription(BaseGuest):
    """Everything `describe` shows about one guest: the guest, its live status, config, snapshots and tasks."""

    qmp_status: str | None = None
    ha_state: str | None = None
    uptime: int = 0
    memory_used: int = 0
    agent: bool = False
    ip_addresses: list[str] = Field(default_factory=list)
    digest: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    pending: list[PendingChange] = Field(default_factory=list)
    snapshots: list[Snapshot] = Field(default_factory=list)
    tasks: list[TaskInfo] = Field(default_factory=list)


async def describe_guest(app_ctx: AppContext, kind: GuestKind, target: str) -> GuestDescription:
    """Compose status, config, pending changes, snapshots, recent tasks and IP addresses of one guest."""
    async with connect(app_ctx) as api:
        guest = await resolve_one(api, kind, target)
        path = guest_path(guest)
        status, config, pending, snapshots, tasks = await asyncio.gather(
            api.guest_status(guest.node, guest.type, guest.vmid),
            api.guest_config(guest.node, guest.type, guest.vmid),
            api.get(f"{path}/pending"),
            api.get(f"{path}/snapshot"),
            api.tasks(guest.node, vmid=guest.vmid, limit=RECENT_TASKS),
        )
        agent = guest.kind == "vm" and agent_enabled(config.get("agent"))
        addresses: list[str] = []
        if status.get("status") == "running" and (agent or guest.kind == "ct"):
            addresses = await guest_addresses(api, guest)
    digest = config.pop("digest", None)
    ha = status.get("ha") or {}
    listed = guest.model_dump(include=set(BaseGuest.model_fields))
    return GuestDescription(
        **{**listed, "status": str(status.get("status") or guest.status), "lock": status.get("lock") or guest.lock},
        qmp_status=status.get("qmpstatus"),
        ha_state=ha.get("state") if isinstance(ha, dict) else None,
        uptime=to_int(status.get("uptime")),
        memory_used=to_int(status.get("mem")),
        agent=agent,
        ip_addresses=addresses,
        digest=digest,
        config=_redacted(config),
        pending=[_pending(p) for p in pending or [] if "pending" in p or p.get("delete")],
        snapshots=[Snapshot.from_api(guest.ref, s) for s in snapshots or [] if s.get("name") != "current"],
        tasks=[
            TaskInfo.from_api(dict(t, node=t.get("node") or guest.node), listing=True)
            for t in tasks
            if t.get("upid")
        ],
    )


def _pending(raw: dict[str, Any]) -> PendingChange:
    return PendingChange(
        key=str(raw.get("key")),
        value=raw.get("value"),
        pending=raw.get("pending"),
        delete=bool(to_int(raw.get("delete"))),
    )


def _redacted(config: dict[str, Any]) -> dict[str, Any]:
    return for_output(dict(sorted(config.items())))


async def guest_addresses(api: ProxmoxClient, guest: Guest) -> list[str]:
    """Return the guest's non-loopback IP addresses (agent for VMs, /interfaces for containers)."""
    path = guest_path(guest)
    try:
        if guest.kind == "vm":
            answer = await api.get(f"{path}/agent/network-get-interfaces")
            interfaces = (answer or {}).get("result") or [] if isinstance(answer, dict) else []
        else:
            interfaces = await api.get(f"{path}/interfaces") or []
    except ApiError:
        # No agent answering is normal for a guest that is still booting: show no addresses.
        return []
    found = []
    for interface in interfaces:
        if interface.get("name") == "lo":
            continue
        for address in interface.get("ip-addresses") or []:
            ip = address.get("ip-address")
            if ip and not str(ip).startswith(("127.", "fe80:", "::1")):
                found.append(
                    f"{ip}/{address.get('prefix')}" if address.get("prefix") is not None else str(ip)
                )
    return found

