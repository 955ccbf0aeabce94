"""The plans of the guest verbs: power (start, stop, shutdown, reboot, suspend, resume), delete, set, resize, migrate.

Each planner reads what it needs (status, config) and returns the exact requests it would send, or a
note that there is nothing to do; it never writes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from proxmox_mpc.core.batch import PlannedRequest
from proxmox_mpc.core.guest_requests import delete_request, migrate_request, power_request
from proxmox_mpc.core.models import Guest
from proxmox_mpc.core.pveconfig import format_size, parse_property_string, parse_size
from proxmox_mpc.errors import Conflict, NotFound, UsageError
from proxmox_mpc.services.guests.plan import Plan, Planner, VerbOptions
from proxmox_mpc.services.guests.resolve import guest_path
from proxmox_mpc.services.guests.snapshots import (
    plan_snapshot_create,
    plan_snapshot_delete,
    plan_snapshot_rollback,
)
from proxmox_mpc.services.tasks import shutdown_timeout

if TYPE_CHECKING:
    from proxmox_mpc.api.client import ProxmoxClient

# A shutdown task ends itself at PVE's timeout; allow it this long to report before pmpc gives up.
SHUTDOWN_GRACE = 5.0


def _power(guest: Guest, verb: str, **params: Any) -> PlannedRequest:
    return power_request(guest.kind, guest.node, guest.vmid, verb, **params)


async def _status(api: ProxmoxClient, guest: Guest) -> dict[str, Any]:
    return await api.guest_status(guest.node, guest.type, guest.vmid)


async def plan_action(api: ProxmoxClient, action: str, guest: Guest, opts: VerbOptions) -> Plan:
    """Plan one verb on one guest: the requests to send, or why there is nothing to do.

    Raises:
        PmpcError: the verb cannot apply to this guest (a template started, a protected guest deleted...).
    """
    planner = PLANNERS.get(action)
    if planner is None:  # pragma: no cover - commands only pass known actions
        raise UsageError(f"Unknown action {action!r}.")
    return await planner(api, guest, opts)


async def _plan_start(api: ProxmoxClient, guest: Guest, opts: VerbOptions) -> Plan:
    if guest.template:
        raise Conflict(f"{guest.ref} is a template and cannot be started: clone it instead.")
    if guest.status == "running":
        return Plan(guest, noop="already running")
    return Plan(guest, [_power(guest, "start")], message="started")


async def _plan_stop(api: ProxmoxClient, guest: Guest, opts: VerbOptions) -> Plan:
    if guest.status == "stopped":
        return Plan(guest, noop="already stopped")
    return Plan(guest, [_power(guest, "stop")], message="stopped")


async def _plan_shutdown(api: ProxmoxClient, guest: Guest, opts: VerbOptions) -> Plan:
    if guest.status == "stopped":
        return Plan(guest, noop="already stopped")
    request = _power(
        guest,
        "shutdown",
        timeout=shutdown_timeout(opts.timeout),
        forceStop=True if opts.force_stop else None,
    )
    return Plan(guest, [request], message="shut down", wait_grace=SHUTDOWN_GRACE)


async def _plan_reboot(api: ProxmoxClient, guest: Guest, opts: VerbOptions) -> Plan:
    if guest.status != "running":
        raise Conflict(f"{guest.ref} is not running (status {guest.status}): start it instead of rebooting.")
    return Plan(
        guest,
        [_power(guest, "reboot", timeout=shutdown_timeout(opts.timeout))],
        message="rebooted",
        wait_grace=SHUTDOWN_GRACE,
    )


async def _plan_suspend(api: ProxmoxClient, guest: Guest, opts: VerbOptions) -> Plan:
    status = await _status(api, guest)
    if guest.kind == "vm" and status.get("qmpstatus") in ("paused", "suspended", "prelaunch"):
        return Plan(guest, noop="already suspended")
    if status.get("status") != "running":
        if status.get("lock") == "suspended":
            return Plan(guest, noop="already suspended")
        raise Conflict(f"{guest.ref} is not running (status {status.get('status')}): nothing to suspend.")
    request = _power(guest, "suspend", todisk=True if opts.todisk and guest.kind == "vm" else None)
    return Plan(guest, [request], message="suspended")


async def _plan_resume(api: ProxmoxClient, guest: Guest, opts: VerbOptions) -> Plan:
    status = await _status(api, guest)
    if guest.kind == "vm":
        if status.get("status") == "running" and status.get("qmpstatus") == "running":
            return Plan(guest, noop="already running")
        if status.get("status") != "running":
            if status.get("lock") == "suspended":
                # Hibernated to disk: PVE resumes it with a start.
                return Plan(guest, [_power(guest, "start")], message="resumed")
            raise Conflict(f"{guest.ref} is not suspended (status {status.get('status')}): start it instead.")
    elif status.get("status") == "running":
        return Plan(guest, noop="already running")
    return Plan(guest, [_power(guest, "resume")], message="resumed")


async def _plan_delete(api: ProxmoxClient, guest: Guest, opts: VerbOptions) -> Plan:
    config = await api.guest_config(guest.node, guest.type, guest.vmid)
    if str(config.get("protection", "0")) in ("1", "true"):
        raise Conflict(
            f"{guest.ref} is protected (protection=1): clear it with "
            f"`pmpc {guest.kind} set {guest.vmid} protection=0` before deleting."
        )
    if guest.status == "running":
        raise Conflict(
            f"{guest.ref} is running: stop it before deleting (`pmpc {guest.kind} stop {guest.vmid}`)."
        )
    request = delete_request(guest.kind, guest.node, guest.vmid, purge=opts.purge)
    return Plan(guest, [request], message="deleted")


async def _plan_set(api: ProxmoxClient, guest: Guest, opts: VerbOptions) -> Plan:
    config = await api.guest_config(guest.node, guest.type, guest.vmid)
    digest = config.get("digest")
    changes = {k: v for k, v in opts.values.items() if str(config.get(k, "")) != v or k not in config}
    deletes = [k for k in opts.deletes if k in config]
    if not changes and not deletes:
        return Plan(guest, noop="unchanged")
    params: dict[str, Any] = dict(changes)
    if deletes:
        params["delete"] = ",".join(deletes)
    # The digest read above: PVE refuses the write if someone changed the config since.
    if digest:
        params["digest"] = digest
    return Plan(
        guest,
        [PlannedRequest(method="PUT", path=f"{guest_path(guest)}/config", params=params)],
        message="updated",
    )


async def _plan_resize(api: ProxmoxClient, guest: Guest, opts: VerbOptions) -> Plan:
    resize = opts.resize
    assert resize is not None
    config = await api.guest_config(guest.node, guest.type, guest.vmid)
    value = config.get(resize.disk)
    if value is None:
        raise NotFound(f"{guest.ref} has no disk {resize.disk}.")
    size_text = parse_property_string(str(value), default_key="volume").get("size")
    current = parse_size(size_text) if size_text else 0
    wanted = resize.target_size(current)
    if wanted < current:
        raise UsageError(
            f"resize grows disks only: {guest.ref} {resize.disk} is {format_size(current)}, "
            f"asked for {format_size(wanted)}."
        )
    if wanted == current:
        return Plan(guest, noop=f"{resize.disk} already {format_size(current)}")
    params = {"disk": resize.disk, "size": resize.pve_value()}
    if config.get("digest"):
        params["digest"] = config["digest"]
    return Plan(
        guest,
        [PlannedRequest(method="PUT", path=f"{guest_path(guest)}/resize", params=params)],
        message=f"resized ({resize.disk} {format_size(current)} -> {format_size(wanted)})",
    )


async def plan_migrate(api: ProxmoxClient, guest: Guest, opts: VerbOptions) -> Plan:
    """Plan moving a guest to `opts.target_node`: live when it runs (a container restarts)."""
    target = opts.target_node
    assert target is not None
    if guest.node == target:
        return Plan(guest, noop=f"already on {target}")
    running = guest.status == "running"
    if guest.kind == "vm":
        online = running if opts.online is None else opts.online
    else:
        online = running and opts.online is not False
    request = migrate_request(
        guest.kind,
        guest.node,
        guest.vmid,
        target,
        online=online,
        with_local_disks=opts.with_local_disks,
        restart_timeout=shutdown_timeout(opts.timeout),
    )
    return Plan(guest, [request], message=f"migrated to {target}")


PLANNERS: dict[str, Planner] = {
    "start": _plan_start,
    "stop": _plan_stop,
    "shutdown": _plan_shutdown,
    "reboot": _plan_reboot,
    "suspend": _plan_suspend,
    "resume": _plan_resume,
    "delete": _plan_delete,
    "set": _plan_set,
    "resize": _plan_resize,
    "migrate": plan_migrate,
    "snapshot-create": plan_snapshot_create,
    "snapshot-rollback": plan_snapshot_rollback,
    "snapshot-delete": plan_snapshot_delete,
}
