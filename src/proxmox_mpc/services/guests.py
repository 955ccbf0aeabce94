"""Guest use cases (VMs and containers): list, describe, every verb batched, dry run and confirmation.

A verb first plans each target (reads only: status, config, snapshots) into the exact requests it
would send; a dry run returns that plan. Otherwise it asks `confirm`, then runs the targets
concurrently, retrying transient lock errors and waiting for tasks within each target's timeout.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from proxmox_mpc.context import AppContext
from proxmox_mpc.core.batch import BatchResult, PlannedRequest, TargetResult
from proxmox_mpc.core.guest_params import Resize
from proxmox_mpc.core.models import KIND_PREFIX, Guest, UtcTime, to_int
from proxmox_mpc.core.pveconfig import format_size, parse_property_string, parse_size
from proxmox_mpc.core.secrets import for_output
from proxmox_mpc.core.selectors import Selector
from proxmox_mpc.errors import (
    ApiError,
    Conflict,
    NotFound,
    OperationTimeout,
    PmpcError,
    TaskFailedError,
    UsageError,
)
from proxmox_mpc.output.progress import Progress
from proxmox_mpc.services.completion import record_snapshots
from proxmox_mpc.services.connection import connect
from proxmox_mpc.services.tasks import TaskInfo, send, shutdown_timeout

if TYPE_CHECKING:
    from proxmox_mpc.api.client import ProxmoxClient

GuestType = Literal["qemu", "lxc"]
Confirm = Callable[[str, Sequence[str]], None]
NOUN = {"qemu": "VM", "lxc": "container"}
PLURAL = {"qemu": "VMs", "lxc": "containers"}
# A shutdown task ends itself at PVE's timeout; allow it this long to report before pmpc gives up.
SHUTDOWN_GRACE = 5.0
VMID_ATTEMPTS = 10
RECENT_TASKS = 10

# action -> (past tense for the result line, verb for the confirmation prompt)
ACTIONS: dict[str, tuple[str, str]] = {
    "start": ("started", "start"),
    "stop": ("stopped", "stop"),
    "shutdown": ("shut down", "shut down"),
    "reboot": ("rebooted", "reboot"),
    "suspend": ("suspended", "suspend"),
    "resume": ("resumed", "resume"),
    "delete": ("deleted", "delete"),
    "set": ("updated", "update the config of"),
    "resize": ("resized", "resize a disk of"),
    "migrate": ("migrated", "migrate"),
    "snapshot-create": ("snapshot created", "snapshot"),
    "snapshot-rollback": ("rolled back", "roll back"),
    "snapshot-delete": ("snapshot deleted", "delete a snapshot of"),
    "create": ("created", "create"),
    "clone": ("cloned", "clone"),
    "unlock": ("unlocked", "unlock"),
}


# --------------------------------------------------------------------------- models


class Snapshot(BaseModel):
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


class PendingChange(BaseModel):
    """A config key whose value changes at the next start (or is deleted then)."""

    key: str
    value: Any = None
    pending: Any = None
    delete: bool = False


class GuestDescription(BaseModel):
    """Everything `describe` shows about one guest."""

    kind: Literal["vm", "ct"]
    type: GuestType
    vmid: int
    name: str
    node: str
    status: str
    qmp_status: str | None = None
    template: bool = False
    tags: list[str] = Field(default_factory=list)
    pool: str | None = None
    lock: str | None = None
    ha_state: str | None = None
    uptime: int = 0
    cpus: float = 0
    memory: int = 0
    memory_used: int = 0
    disk_size: int = 0
    agent: bool = False
    ip_addresses: list[str] = Field(default_factory=list)
    digest: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    pending: list[PendingChange] = Field(default_factory=list)
    snapshots: list[Snapshot] = Field(default_factory=list)
    tasks: list[TaskInfo] = Field(default_factory=list)


@dataclass
class Plan:
    """What one target needs: the requests to send, or a note that there is nothing to do."""

    guest: Guest
    requests: list[PlannedRequest] = field(default_factory=list)
    noop: str | None = None
    message: str = ""
    # A shutdown/reboot passes PVE its own timeout: give its task a moment to report after it.
    wait_grace: float = 0.0
    # How the confirmation lists this target (default: `vm/101 (web-1) on pve1`).
    label: str = ""


@dataclass
class VerbOptions:
    """The flags of a verb beyond its targets."""

    timeout: float = 300.0
    wait: bool = True
    force_stop: bool = False
    purge: bool = False
    values: dict[str, str] = field(default_factory=dict)
    deletes: list[str] = field(default_factory=list)
    resize: Resize | None = None
    target_node: str | None = None
    online: bool | None = None
    with_local_disks: bool = False
    snapshot: str | None = None
    description: str | None = None
    vmstate: bool = False
    todisk: bool = False


# --------------------------------------------------------------------------- listing and resolving


def read_flag_file(path: str, flag: str) -> str:
    """Return the text of a file a flag names (an SSH key, a password file).

    Raises:
        UsageError: the file cannot be read; the message names the flag.
    """
    from pathlib import Path

    try:
        return Path(path).expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise UsageError(f"{flag} {path}: cannot read the file ({reason}).") from exc


def guest_path(guest: Guest) -> str:
    """Return /nodes/{node}/{qemu|lxc}/{vmid}."""
    return f"/nodes/{guest.node}/{guest.type}/{guest.vmid}"


async def _cluster_guests(api: ProxmoxClient) -> list[Guest]:
    # One request for the whole cluster: every node's guests, their status, tags, pool and lock.
    return [Guest.from_resource(r) for r in await api.cluster_resources("vm") if r.get("type") in KIND_PREFIX]


def filter_guests(
    guests: Sequence[Guest],
    kind: GuestType,
    *,
    node: str | None = None,
    status: str | None = None,
    selector: Selector | None = None,
) -> list[Guest]:
    """Return the guests of one kind that pass the list filters, sorted by VMID."""
    found = [
        g
        for g in guests
        if g.type == kind
        and (node is None or g.node == node)
        and (status is None or g.status == status)
        and (selector is None or selector.matches(g))
    ]
    return sorted(found, key=lambda g: g.vmid)


async def list_guests(
    app_ctx: AppContext,
    kind: GuestType,
    *,
    node: str | None = None,
    status: str | None = None,
    selector: Selector | None = None,
) -> list[Guest]:
    """Return the VMs or containers of the whole cluster (one GET /cluster/resources), filtered."""
    async with connect(app_ctx) as api:
        guests = await _cluster_guests(api)
    return filter_guests(guests, kind, node=node, status=status, selector=selector)


def check_target_choice(kind: GuestType, targets: Sequence[str], selector: Selector | None) -> None:
    """Reject a command line that names no guest, or names guests and a selector together.

    Raises:
        UsageError: no target, or targets and a selector together.
    """
    if targets and selector:
        raise UsageError("Give guests by name/VMID or a selector (-l), not both.")
    if not targets and selector is None:
        raise UsageError(f"Name at least one {NOUN[kind]} (VMID or name), or select some with -l.")


def resolve_targets(
    guests: Sequence[Guest], kind: GuestType, targets: Sequence[str], selector: Selector | None
) -> list[Guest]:
    """Return the guests named by VMID or unique name (or matched by the selector), in order, once each.

    Raises:
        UsageError: no target, targets and a selector together, or an ambiguous name (the matches listed).
        NotFound: no guest of this kind has that VMID or name.
    """
    prefix = KIND_PREFIX[kind]
    check_target_choice(kind, targets, selector)
    if selector is not None:
        return filter_guests(guests, kind, selector=selector)
    chosen: list[Guest] = []
    for raw in targets:
        guest = _resolve_one(guests, kind, prefix, raw)
        if guest.vmid not in {g.vmid for g in chosen}:
            chosen.append(guest)
    return chosen


def _resolve_one(guests: Sequence[Guest], kind: GuestType, prefix: str, raw: str) -> Guest:
    text = raw.strip()
    if text.startswith(f"{prefix}/"):
        text = text[len(prefix) + 1 :]
    if text.isdigit():
        vmid = int(text)
        for guest in guests:
            if guest.vmid == vmid:
                if guest.type != kind:
                    other = "pmpc ct" if guest.type == "lxc" else "pmpc vm"
                    raise NotFound(f"{vmid} is a {NOUN[guest.type]}, not a {NOUN[kind]}: use `{other}`.")
                return guest
        raise NotFound(f"No {NOUN[kind]} with VMID {vmid} in this cluster.")
    matches = [g for g in guests if g.type == kind and g.name == text]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        listed = ", ".join(f"{g.ref} on {g.node}" for g in sorted(matches, key=lambda g: g.vmid))
        raise UsageError(f"The name {text!r} matches {len(matches)} {PLURAL[kind]} ({listed}): use the VMID.")
    raise NotFound(f"No {NOUN[kind]} named {text!r} in this cluster.")


async def get_guests(app_ctx: AppContext, kind: GuestType, targets: Sequence[str]) -> list[Guest]:
    """Return the named guests.

    Raises:
        NotFound: a name or VMID is unknown.
        UsageError: a name is ambiguous.
    """
    async with connect(app_ctx) as api:
        guests = await _cluster_guests(api)
    return resolve_targets(guests, kind, targets, None)


async def describe_guest(app_ctx: AppContext, kind: GuestType, target: str) -> GuestDescription:
    """Compose status, config, pending changes, snapshots, recent tasks and IP addresses of one guest."""
    async with connect(app_ctx) as api:
        guest = resolve_targets(await _cluster_guests(api), kind, [target], None)[0]
        path = guest_path(guest)
        status, config, pending, snapshots, tasks = await asyncio.gather(
            api.guest_status(guest.node, kind, guest.vmid),
            api.guest_config(guest.node, kind, guest.vmid),
            api.get(f"{path}/pending"),
            api.get(f"{path}/snapshot"),
            api.tasks(guest.node, vmid=guest.vmid, limit=RECENT_TASKS),
        )
        agent = kind == "qemu" and _agent_enabled(config.get("agent"))
        addresses: list[str] = []
        if status.get("status") == "running" and (agent or kind == "lxc"):
            addresses = await _addresses(api, guest)
    digest = config.pop("digest", None)
    ha = status.get("ha") or {}
    return GuestDescription(
        kind=guest.kind,
        type=kind,
        vmid=guest.vmid,
        name=guest.name,
        node=guest.node,
        status=str(status.get("status") or guest.status),
        qmp_status=status.get("qmpstatus"),
        template=guest.template,
        tags=guest.tags,
        pool=guest.pool,
        lock=status.get("lock") or guest.lock,
        ha_state=ha.get("state") if isinstance(ha, dict) else None,
        uptime=to_int(status.get("uptime")),
        cpus=guest.cpus,
        memory=guest.memory,
        memory_used=to_int(status.get("mem")),
        disk_size=guest.disk_size,
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


def _agent_enabled(value: Any) -> bool:
    if value is None:
        return False
    props = parse_property_string(str(value), default_key="enabled")
    return props.get("enabled", "0") in ("1", "true", "yes", "on")


def _redacted(config: dict[str, Any]) -> dict[str, Any]:
    return for_output(dict(sorted(config.items())))


async def _addresses(api: ProxmoxClient, guest: Guest) -> list[str]:
    """Return the guest's non-loopback IP addresses (agent for VMs, /interfaces for containers)."""
    path = guest_path(guest)
    try:
        if guest.type == "qemu":
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


async def list_snapshots(app_ctx: AppContext, kind: GuestType, target: str) -> list[Snapshot]:
    """Return the snapshots of one guest (without PVE's `current` entry), oldest first."""
    async with connect(app_ctx) as api:
        guest = resolve_targets(await _cluster_guests(api), kind, [target], None)[0]
        raw = await api.get(f"{guest_path(guest)}/snapshot") or []
    snaps = [Snapshot.from_api(guest.ref, s) for s in raw if s.get("name") != "current"]
    record_snapshots(app_ctx, [(guest.kind, guest.vmid, guest.name)], names=[s.name for s in snaps])
    epoch = datetime.fromtimestamp(0, tz=timezone.utc)
    return sorted(snaps, key=lambda s: (s.snapshot_time or epoch, s.name))


# --------------------------------------------------------------------------- planning verbs


def _post(guest: Guest, suffix: str, **params: Any) -> PlannedRequest:
    return PlannedRequest(method="POST", path=f"{guest_path(guest)}{suffix}", params=_clean(params))


def _clean(params: dict[str, Any]) -> dict[str, Any]:
    return {k: (int(v) if isinstance(v, bool) else v) for k, v in params.items() if v is not None}


async def _status(api: ProxmoxClient, guest: Guest) -> dict[str, Any]:
    return await api.guest_status(guest.node, guest.type, guest.vmid)


async def plan_action(api: ProxmoxClient, action: str, guest: Guest, opts: VerbOptions) -> Plan:
    """Plan one verb on one guest: the requests to send, or why there is nothing to do.

    Raises:
        PmpcError: the verb cannot apply to this guest (a template started, a protected guest deleted...).
    """
    planner = _PLANNERS.get(action)
    if planner is None:  # pragma: no cover - commands only pass known actions
        raise UsageError(f"Unknown action {action!r}.")
    return await planner(api, guest, opts)


async def _plan_start(api: ProxmoxClient, guest: Guest, opts: VerbOptions) -> Plan:
    if guest.template:
        raise Conflict(f"{guest.ref} is a template and cannot be started: clone it instead.")
    if guest.status == "running":
        return Plan(guest, noop="already running")
    return Plan(guest, [_post(guest, "/status/start")], message="started")


async def _plan_stop(api: ProxmoxClient, guest: Guest, opts: VerbOptions) -> Plan:
    if guest.status == "stopped":
        return Plan(guest, noop="already stopped")
    return Plan(guest, [_post(guest, "/status/stop")], message="stopped")


async def _plan_shutdown(api: ProxmoxClient, guest: Guest, opts: VerbOptions) -> Plan:
    if guest.status == "stopped":
        return Plan(guest, noop="already stopped")
    request = _post(
        guest,
        "/status/shutdown",
        timeout=shutdown_timeout(opts.timeout),
        forceStop=True if opts.force_stop else None,
    )
    return Plan(guest, [request], message="shut down", wait_grace=SHUTDOWN_GRACE)


async def _plan_reboot(api: ProxmoxClient, guest: Guest, opts: VerbOptions) -> Plan:
    if guest.status != "running":
        raise Conflict(f"{guest.ref} is not running (status {guest.status}): start it instead of rebooting.")
    return Plan(
        guest,
        [_post(guest, "/status/reboot", timeout=shutdown_timeout(opts.timeout))],
        message="rebooted",
        wait_grace=SHUTDOWN_GRACE,
    )


async def _plan_suspend(api: ProxmoxClient, guest: Guest, opts: VerbOptions) -> Plan:
    status = await _status(api, guest)
    if guest.type == "qemu" and status.get("qmpstatus") in ("paused", "suspended", "prelaunch"):
        return Plan(guest, noop="already suspended")
    if status.get("status") != "running":
        if status.get("lock") == "suspended":
            return Plan(guest, noop="already suspended")
        raise Conflict(f"{guest.ref} is not running (status {status.get('status')}): nothing to suspend.")
    request = _post(guest, "/status/suspend", todisk=True if opts.todisk and guest.type == "qemu" else None)
    return Plan(guest, [request], message="suspended")


async def _plan_resume(api: ProxmoxClient, guest: Guest, opts: VerbOptions) -> Plan:
    status = await _status(api, guest)
    if guest.type == "qemu":
        if status.get("status") == "running" and status.get("qmpstatus") == "running":
            return Plan(guest, noop="already running")
        if status.get("status") != "running":
            if status.get("lock") == "suspended":
                # Hibernated to disk: PVE resumes it with a start.
                return Plan(guest, [_post(guest, "/status/start")], message="resumed")
            raise Conflict(f"{guest.ref} is not suspended (status {status.get('status')}): start it instead.")
    elif status.get("status") == "running":
        return Plan(guest, noop="already running")
    return Plan(guest, [_post(guest, "/status/resume")], message="resumed")


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
    params: dict[str, Any] = {}
    if opts.purge:
        params = {"purge": 1, "destroy-unreferenced-disks": 1}
    return Plan(
        guest, [PlannedRequest(method="DELETE", path=guest_path(guest), params=params)], message="deleted"
    )


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


async def _plan_migrate(api: ProxmoxClient, guest: Guest, opts: VerbOptions) -> Plan:
    target = opts.target_node
    assert target is not None
    if guest.node == target:
        return Plan(guest, noop=f"already on {target}")
    running = guest.status == "running"
    params: dict[str, Any] = {"target": target}
    if guest.type == "qemu":
        online = running if opts.online is None else opts.online
        params["online"] = 1 if online else None
        params["with-local-disks"] = 1 if opts.with_local_disks else None
    elif running and opts.online is not False:
        # Containers cannot move live: a restart migration stops, moves and starts them.
        params["restart"] = 1
        params["timeout"] = shutdown_timeout(opts.timeout)
    return Plan(guest, [_post(guest, "/migrate", **params)], message=f"migrated to {target}")


async def _snapshot_names(api: ProxmoxClient, guest: Guest) -> set[str]:
    return {str(s.get("name")) for s in await api.get(f"{guest_path(guest)}/snapshot") or []} - {"current"}


async def _plan_snapshot_create(api: ProxmoxClient, guest: Guest, opts: VerbOptions) -> Plan:
    name = opts.snapshot
    assert name
    if name in await _snapshot_names(api, guest):
        return Plan(guest, noop=f"snapshot {name} already exists")
    request = _post(
        guest,
        "/snapshot",
        snapname=name,
        description=opts.description,
        vmstate=True if opts.vmstate and guest.type == "qemu" else None,
    )
    return Plan(guest, [request], message=f"snapshot {name} created")


async def _plan_snapshot_rollback(api: ProxmoxClient, guest: Guest, opts: VerbOptions) -> Plan:
    name = opts.snapshot
    assert name
    if name not in await _snapshot_names(api, guest):
        raise NotFound(f"{guest.ref} has no snapshot {name!r}.")
    return Plan(guest, [_post(guest, f"/snapshot/{name}/rollback")], message=f"rolled back to {name}")


async def _plan_snapshot_delete(api: ProxmoxClient, guest: Guest, opts: VerbOptions) -> Plan:
    name = opts.snapshot
    assert name
    if name not in await _snapshot_names(api, guest):
        return Plan(guest, noop=f"has no snapshot {name}")
    request = PlannedRequest(method="DELETE", path=f"{guest_path(guest)}/snapshot/{name}")
    return Plan(guest, [request], message=f"snapshot {name} deleted")


Planner = Callable[["ProxmoxClient", Guest, VerbOptions], Awaitable[Plan]]
_PLANNERS: dict[str, Planner] = {
    "start": _plan_start,
    "stop": _plan_stop,
    "shutdown": _plan_shutdown,
    "reboot": _plan_reboot,
    "suspend": _plan_suspend,
    "resume": _plan_resume,
    "delete": _plan_delete,
    "set": _plan_set,
    "resize": _plan_resize,
    "migrate": _plan_migrate,
    "snapshot-create": _plan_snapshot_create,
    "snapshot-rollback": _plan_snapshot_rollback,
    "snapshot-delete": _plan_snapshot_delete,
}


# --------------------------------------------------------------------------- running a batch


def _result(guest: Guest, action: str) -> TargetResult:
    return TargetResult(target=guest.ref, kind=guest.kind, vmid=guest.vmid, node=guest.node, action=action)


def _label(guest: Guest) -> str:
    return f"{guest.ref} ({guest.name}) on {guest.node}"


def redact_params(params: dict[str, Any]) -> dict[str, Any]:
    """Return request parameters fit for printing: passwords and keys replaced."""
    return for_output(params)


def _shown(requests: Sequence[PlannedRequest]) -> list[PlannedRequest]:
    return [PlannedRequest(method=r.method, path=r.path, params=redact_params(r.params)) for r in requests]


async def _execute(
    api: ProxmoxClient,
    plan: Plan,
    result: TargetResult,
    opts: VerbOptions,
    progress: Progress | None,
) -> None:
    deadline = time.monotonic() + opts.timeout
    last = len(plan.requests) - 1
    for index, request in enumerate(plan.requests):
        # A later request needs the earlier task finished, so only the last one honours --no-wait.
        upid = await send(
            api,
            request,
            target=result.target,
            deadline=deadline,
            timeout=opts.timeout,
            wait=opts.wait or index < last,
            progress=progress,
            wait_grace=plan.wait_grace,
        )
        if upid:
            result.upids.append(upid)
            result.upid = upid


def _translate(exc: PmpcError, action: str, guest: Guest, opts: VerbOptions) -> PmpcError:
    """Give PVE's own timeouts the exit code and wording of pmpc's (exit 8)."""
    if (
        isinstance(exc, TaskFailedError)
        and action in ("shutdown", "reboot")
        and "timeout" in exc.exitstatus.lower()
    ):
        return OperationTimeout(
            f"{guest.ref} did not shut down within {opts.timeout:g}s ({exc.exitstatus})"
            + ("." if opts.force_stop else "; add --force-stop to stop it after the timeout."),
            details={"upid": exc.upid, "exit_status": exc.exitstatus},
        )
    return exc


async def run_guest_action(
    app_ctx: AppContext,
    kind: GuestType,
    action: str,
    targets: Sequence[str],
    selector: Selector | None,
    *,
    options: VerbOptions | None = None,
    dry_run: bool = False,
    confirm: Confirm,
    concurrency: int | None = None,
    progress: Progress | None = None,
    planner: Planner | None = None,
) -> BatchResult:
    """Run one verb on every target (concurrently); return each target's result.

    `planner` plans each target in place of the verb's own (a verb defined outside this module).

    Planning reads only; a dry run stops there. Errors of a target are kept in its result, never raised,
    except those that concern the whole command (bad targets, confirmation refused).

    Raises:
        UsageError, NotFound: the targets cannot be resolved.
        ConfirmationRequired, Aborted: the user did not confirm.
    """
    check_target_choice(kind, targets, selector)  # before any connection: a usage error is 64, not 1
    opts = options or VerbOptions()
    limit = asyncio.Semaphore(concurrency or app_ctx.settings.concurrency)
    batch = BatchResult(action=action, dry_run=dry_run)
    async with connect(app_ctx) as api:
        if action == "migrate" and opts.target_node:
            await _check_node(api, opts.target_node)
        guests = resolve_targets(await _cluster_guests(api), kind, targets, selector)
        results = [_result(g, action) for g in guests]
        batch.results = results

        async def plan_one(guest: Guest, result: TargetResult) -> Plan | None:
            async with limit:
                try:
                    if planner is not None:
                        plan = await planner(api, guest, opts)
                    else:
                        plan = await plan_action(api, action, guest, opts)
                except PmpcError as exc:
                    result.fail(exc)
                    return None
            result.requests = _shown(plan.requests)
            if plan.noop:
                result.changed = False
                result.message = plan.noop
            else:
                result.message = plan.message
            return plan

        plans = await asyncio.gather(*(plan_one(g, r) for g, r in zip(guests, results, strict=True)))
        todo = [
            (p, r) for p, r in zip(plans, results, strict=True) if p is not None and p.requests and not p.noop
        ]
        if dry_run or not todo:
            return _note_snapshots(app_ctx, batch, guests, opts)
        confirm(ACTIONS[action][1], [p.label or _label(p.guest) for p, _ in todo])

        async def run_one(plan: Plan, result: TargetResult) -> None:
            async with limit:
                try:
                    await _execute(api, plan, result, opts, progress)
                except PmpcError as exc:
                    result.fail(_translate(exc, action, plan.guest, opts))

        await asyncio.gather(*(run_one(p, r) for p, r in todo))
    return _note_snapshots(app_ctx, batch, guests, opts)


def _note_snapshots(app_ctx: AppContext, batch: BatchResult, guests: list[Guest], opts: VerbOptions) -> BatchResult:
    """Keep completion's snapshot names in step with a snapshot created or deleted (or found so)."""
    if not batch.dry_run and batch.action in ("snapshot-create", "snapshot-delete"):
        done = [(g.kind, g.vmid, g.name) for g, r in zip(guests, batch.results, strict=True) if r.ok]
        change = {"add" if batch.action == "snapshot-create" else "drop": opts.snapshot}
        record_snapshots(app_ctx, done, **change)
    return batch


async def _check_node(api: ProxmoxClient, node: str) -> None:
    known = sorted(str(n.get("node")) for n in await api.nodes())
    if node not in known:
        raise NotFound(f"No node named {node!r} in this cluster (nodes: {', '.join(known) or 'none'}).")


# --------------------------------------------------------------------------- create and clone


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


def _collision(exc: PmpcError) -> bool:
    text = exc.message + " " + (exc.exitstatus if isinstance(exc, TaskFailedError) else "")
    return "already exists" in text or "config file already exists" in text


async def _create_with_vmid(
    api: ProxmoxClient,
    allocator: VmidAllocator,
    result: TargetResult,
    build: Callable[[int], list[PlannedRequest]],
    vmid: int | None,
    opts: VerbOptions,
    progress: Progress | None,
) -> None:
    """Send the create/clone requests, allocating a fresh VMID again when the first collides."""
    attempts = 1 if vmid is not None else VMID_ATTEMPTS
    current = vmid if vmid is not None else result.vmid
    for attempt in range(attempts):
        assert current is not None
        result.vmid = current
        result.target = f"{result.kind}/{current}"
        plan = Plan(guest=_placeholder(result), requests=build(current))
        try:
            await _execute(api, plan, result, opts, progress)
            return
        except PmpcError as exc:
            if not _collision(exc) or attempt == attempts - 1:
                raise
        # Someone else took this VMID between nextid and our create: ask again.
        current = await allocator.allocate()


def _placeholder(result: TargetResult) -> Guest:
    gtype = "qemu" if result.kind == "vm" else "lxc"
    return Guest(
        kind=result.kind,
        type=gtype,
        vmid=result.vmid or 0,
        name="",
        node=result.node or "",  # type: ignore[arg-type]
        status="unknown",
    )


async def create_guest(
    app_ctx: AppContext,
    kind: GuestType,
    *,
    node: str,
    params: dict[str, Any],
    vmid: int | None = None,
    make_template: bool = False,
    options: VerbOptions | None = None,
    dry_run: bool = False,
    confirm: Confirm,
    progress: Progress | None = None,
) -> BatchResult:
    """Create one VM or container on a node, its VMID from /cluster/nextid unless given.

    Raises:
        NotFound: the node does not exist.
        Conflict: the VMID given is taken.
    """
    opts = options or VerbOptions()
    batch = BatchResult(action="create", dry_run=dry_run)
    prefix = KIND_PREFIX[kind]
    async with connect(app_ctx) as api:
        await _check_node(api, node)
        allocator = VmidAllocator(api)
        if vmid is not None:
            await _check_free(api, vmid)
            allocator.reserved.add(vmid)
            chosen = vmid
        else:
            chosen = await allocator.allocate()

        def build(new_vmid: int) -> list[PlannedRequest]:
            requests = [
                PlannedRequest(
                    method="POST", path=f"/nodes/{node}/{kind}", params=_clean({"vmid": new_vmid, **params})
                )
            ]
            if make_template:
                requests.append(
                    PlannedRequest(method="POST", path=f"/nodes/{node}/{kind}/{new_vmid}/template")
                )
            return requests

        name = str(params.get("name") or params.get("hostname") or "")
        result = TargetResult(
            target=f"{prefix}/{chosen}",
            kind=prefix,
            vmid=chosen,
            node=node,
            action="create",
            message="created" + (" as a template" if make_template else ""),
            requests=_shown(build(chosen)),
        )
        batch.results = [result]
        if dry_run:
            return batch
        confirm("create", [f"{prefix}/{chosen} ({name}) on {node}"])
        try:
            await _create_with_vmid(api, allocator, result, build, vmid, opts, progress)
        except PmpcError as exc:
            result.fail(exc)
    return batch


async def _check_free(api: ProxmoxClient, vmid: int) -> None:
    try:
        await api.next_vmid(vmid)
    except ApiError as exc:
        if exc.status == 400:
            raise Conflict(f"VMID {vmid} is already in use: pick another --vmid or leave it out.") from exc
        raise


async def clone_guests(
    app_ctx: AppContext,
    kind: GuestType,
    source: str,
    *,
    names: Sequence[str],
    params: dict[str, Any],
    vmid: int | None = None,
    options: VerbOptions | None = None,
    dry_run: bool = False,
    confirm: Confirm,
    concurrency: int | None = None,
    progress: Progress | None = None,
) -> BatchResult:
    """Clone a guest once per name, concurrently, each clone with its own VMID.

    Raises:
        NotFound: the source or the target node does not exist.
        Conflict: a VMID given is taken.
    """
    opts = options or VerbOptions()
    prefix = KIND_PREFIX[kind]
    name_key = "hostname" if kind == "lxc" else "name"
    limit = asyncio.Semaphore(concurrency or app_ctx.settings.concurrency)
    batch = BatchResult(action="clone", dry_run=dry_run)
    async with connect(app_ctx) as api:
        src = resolve_targets(await _cluster_guests(api), kind, [source], None)[0]
        target_node = params.get("target")
        if target_node:
            await _check_node(api, str(target_node))
        allocator = VmidAllocator(api)
        ids: list[int] = []
        for index in range(len(names)):
            if vmid is not None:
                await _check_free(api, vmid + index)
                allocator.reserved.add(vmid + index)
                ids.append(vmid + index)
            else:
                ids.append(await allocator.allocate())

        def builder(name: str) -> Callable[[int], list[PlannedRequest]]:
            def build(new_vmid: int) -> list[PlannedRequest]:
                body = _clean({"newid": new_vmid, **params, name_key: name})
                return [PlannedRequest(method="POST", path=f"{guest_path(src)}/clone", params=body)]

            return build

        results = [
            TargetResult(
                target=f"{prefix}/{new}",
                kind=prefix,
                vmid=new,
                node=str(target_node or src.node),
                action="clone",
                message=f"cloned from {src.ref}",
                requests=_shown(builder(n)(new)),
            )
            for n, new in zip(names, ids, strict=True)
        ]
        batch.results = results
        if dry_run:
            return batch
        confirm(
            f"clone {src.ref} ({src.name}) into",
            [f"{r.target} ({n})" for r, n in zip(results, names, strict=True)],
        )

        async def run_one(name: str, result: TargetResult) -> None:
            async with limit:
                try:
                    await _create_with_vmid(
                        api,
                        allocator,
                        result,
                        builder(name),
                        result.vmid if vmid is not None else None,
                        opts,
                        progress,
                    )
                except PmpcError as exc:
                    result.fail(exc)

        await asyncio.gather(*(run_one(n, r) for n, r in zip(names, results, strict=True)))
    return batch
