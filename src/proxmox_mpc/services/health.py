"""Cluster and pmpc health: quorum, nodes, storage, HA, failed tasks, onboot guests, latency, state store."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from proxmox_mpc.context import AppContext
from proxmox_mpc.core.identity import guest_kind, is_api_guest_type
from proxmox_mpc.core.modeling import Model
from proxmox_mpc.core.models import to_float, to_int
from proxmox_mpc.errors import PmpcError

if TYPE_CHECKING:
    from proxmox_mpc.api.client import ProxmoxClient

Status = Literal["OK", "WARN", "FAIL"]
RANK = {"OK": 0, "WARN": 1, "FAIL": 2}
STORAGE_WARN = 80.0
STORAGE_FAIL = 95.0
LATENCY_WARN = 1.0
LATENCY_FAIL = 5.0
FAILED_TASK_WINDOW = 86400
# HA resource states (PVE's ha-manager): these need a person; the others are normal or transitional.
HA_FAILED = frozenset({"error", "fence"})
HA_DEGRADED = frozenset({"recovery", "freeze", "lost", "unknown"})
MAX_LISTED = 10


class Check(Model):
    """One health check: its name, OK/WARN/FAIL and one sentence, with the items behind it."""

    name: str
    status: Status
    message: str
    items: list[str] = Field(default_factory=list)


class HealthReport(Model):
    """Every check of one `pmpc health` run; `status` is the worst of them."""

    status: Status
    context: str | None = None
    checks: list[Check]

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.status == "FAIL"]


@dataclass(frozen=True)
class Thresholds:
    """Storage usage (percent) and API latency (seconds) limits."""

    storage_warn: float = STORAGE_WARN
    storage_fail: float = STORAGE_FAIL
    latency_warn: float = LATENCY_WARN
    latency_fail: float = LATENCY_FAIL


def worst(statuses: list[Status]) -> Status:
    """Return the most severe status (OK for none)."""
    return max(statuses, key=lambda s: RANK[s], default="OK")


def _listed(items: list[str]) -> str:
    shown = ", ".join(items[:MAX_LISTED])
    return shown + (f" and {len(items) - MAX_LISTED} more" if len(items) > MAX_LISTED else "")


# ----------------------------------------------------------------------------- cluster facts


@dataclass
class ClusterFacts:
    """What the checks read from the cluster, fetched once."""

    latency: float
    status: list[dict[str, Any]]
    resources: list[dict[str, Any]]

    @property
    def online_nodes(self) -> list[str]:
        return sorted(
            str(r.get("node"))
            for r in self.resources
            if r.get("type") == "node" and r.get("status") == "online"
        )


async def _timed(call: Awaitable[Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    result = await call
    return result, time.perf_counter() - started


async def gather_facts(api: ProxmoxClient) -> ClusterFacts:
    """Read /version (timed), /cluster/status and /cluster/resources."""
    _, latency = await _timed(api.version())
    status, resources = await asyncio.gather(api.cluster_status(), api.cluster_resources())
    return ClusterFacts(latency=latency, status=status, resources=resources)


# ----------------------------------------------------------------------------- checks (pure)


def check_latency(latency: float, limits: Thresholds) -> Check:
    """Judge the round trip of GET /version."""
    ms = f"{latency * 1000:.0f} ms"
    if latency >= limits.latency_fail:
        return Check(
            name="api", status="FAIL", message=f"The API answered in {ms} (limit {limits.latency_fail:g} s)."
        )
    if latency >= limits.latency_warn:
        return Check(name="api", status="WARN", message=f"The API answered slowly: {ms}.")
    return Check(name="api", status="OK", message=f"The API answered in {ms}.")


def check_quorum(status: list[dict[str, Any]]) -> Check:
    """Judge the cluster entry of /cluster/status (a standalone node has none)."""
    cluster = next((e for e in status if e.get("type") == "cluster"), None)
    if cluster is None:
        return Check(name="quorum", status="OK", message="Standalone node: no cluster quorum to hold.")
    nodes = [e for e in status if e.get("type") == "node"]
    online = sum(1 for e in nodes if to_int(e.get("online")))
    name = cluster.get("name") or "the cluster"
    if not to_int(cluster.get("quorate")):
        return Check(
            name="quorum",
            status="FAIL",
            message=f"Cluster {name} has lost quorum ({online}/{len(nodes)} nodes online): "
            "/etc/pve is read-only.",
        )
    return Check(
        name="quorum", status="OK", message=f"Cluster {name} is quorate ({online}/{len(nodes)} nodes online)."
    )


def check_nodes(status: list[dict[str, Any]], resources: list[dict[str, Any]]) -> Check:
    """Every node should be online."""
    states = {str(r.get("node")): str(r.get("status")) for r in resources if r.get("type") == "node"}
    for entry in status:
        if entry.get("type") == "node" and entry.get("name") and str(entry["name"]) not in states:
            states[str(entry["name"])] = "online" if to_int(entry.get("online")) else "offline"
    offline = sorted(n for n, s in states.items() if s != "online")
    if not states:
        return Check(name="nodes", status="FAIL", message="The cluster reported no nodes.")
    if offline:
        return Check(
            name="nodes",
            status="FAIL",
            message=f"{len(offline)} of {len(states)} nodes are not online: {_listed(offline)}.",
            items=[f"node/{n}" for n in offline],
        )
    return Check(name="nodes", status="OK", message=f"All {len(states)} nodes are online.")


def check_storages(
    per_node: dict[str, list[dict[str, Any]]], limits: Thresholds, unreachable: list[str]
) -> Check:
    """Judge the usage of every active storage (a shared one once) against the thresholds."""
    seen: dict[str, tuple[str, dict[str, Any]]] = {}
    for node in sorted(per_node):
        for raw in per_node[node]:
            name = str(raw.get("storage") or "")
            key = name if to_int(raw.get("shared")) else f"{node}/{name}"
            seen.setdefault(key, (node, raw))
    fails, warns, inactive = [], [], []
    for key, (_node, raw) in sorted(seen.items()):
        if not to_int(raw.get("enabled", 1)):
            continue
        if not to_int(raw.get("active", 1)):
            inactive.append(key)
            continue
        total = to_float(raw.get("total"))
        if total <= 0:
            continue
        used = to_float(raw.get("used"))
        pct = 100.0 * used / total
        label = f"{key} {pct:.0f}%"
        if pct >= limits.storage_fail:
            fails.append(label)
        elif pct >= limits.storage_warn:
            warns.append(label)
    parts = []
    if fails:
        parts.append(f"at or over {limits.storage_fail:g}%: {_listed(fails)}")
    if warns:
        parts.append(f"over {limits.storage_warn:g}%: {_listed(warns)}")
    if inactive:
        parts.append(f"inactive: {_listed(inactive)}")
    if unreachable:
        parts.append(f"not checked on unreachable node(s) {_listed(unreachable)}")
    status: Status = "FAIL" if fails else "WARN" if (warns or inactive) else "OK"
    if not parts:
        return Check(
            name="storage", status="OK", message=f"{len(seen)} storages under {limits.storage_warn:g}% used."
        )
    message = "Storage " + "; ".join(parts) + "."
    return Check(name="storage", status=status, message=message, items=[*fails, *warns, *inactive])


def check_ha(resources: list[dict[str, Any]]) -> Check:
    """Judge the HA state of HA-managed guests."""
    managed = [r for r in resources if is_api_guest_type(r.get("type")) and r.get("hastate")]
    if not managed:
        return Check(name="ha", status="OK", message="No HA-managed guests.")
    failed = sorted(f"{_ref(r)} {r['hastate']}" for r in managed if str(r["hastate"]) in HA_FAILED)
    degraded = sorted(f"{_ref(r)} {r['hastate']}" for r in managed if str(r["hastate"]) in HA_DEGRADED)
    if failed:
        return Check(
            name="ha", status="FAIL", message=f"HA resources in error: {_listed(failed)}.", items=failed
        )
    if degraded:
        return Check(
            name="ha",
            status="WARN",
            message=f"HA resources not settled: {_listed(degraded)}.",
            items=degraded,
        )
    return Check(name="ha", status="OK", message=f"{len(managed)} HA-managed guests, none in error.")


def _ref(resource: dict[str, Any]) -> str:
    return f"{guest_kind(str(resource.get('type')))}/{to_int(resource.get('vmid'))}"


def task_failed(task: dict[str, Any]) -> bool:
    """Return True for a finished task that did not end OK (warnings count as success, as in PVE)."""
    status = task.get("status")
    if not status or status == "running":
        return False
    return str(status) != "OK" and not str(status).startswith("WARNINGS")


def check_tasks(tasks: list[dict[str, Any]], since: float, unreachable: list[str]) -> Check:
    """Failed tasks of the last day are a warning: they are history, not the current state."""
    failed = sorted(
        (t for t in tasks if task_failed(t) and to_float(t.get("starttime")) >= since),
        key=lambda t: -to_float(t.get("starttime")),
    )
    note = f" (not checked on unreachable node(s) {_listed(unreachable)})" if unreachable else ""
    if failed:
        items = [
            f"{t.get('type')} {t.get('id') or ''} on {t.get('node')}: {t.get('status')}".replace("  ", " ")
            for t in failed
        ]
        return Check(
            name="tasks",
            status="WARN",
            message=f"{len(failed)} task(s) failed in the last 24h: {_listed(items)}{note}.",
            items=items,
        )
    return Check(name="tasks", status="OK", message=f"No failed tasks in the last 24h{note}.")


def check_onboot(stopped_onboot: list[str], unknown: list[str]) -> Check:
    """Guests marked to start on boot should be running."""
    if stopped_onboot:
        return Check(
            name="onboot",
            status="WARN",
            message=f"Guests set to start on boot are stopped: {_listed(stopped_onboot)}.",
            items=stopped_onboot,
        )
    if unknown:
        return Check(
            name="onboot",
            status="WARN",
            message=f"Could not read the config of {_listed(unknown)}.",
            items=unknown,
        )
    return Check(name="onboot", status="OK", message="Every guest set to start on boot is running.")


# ----------------------------------------------------------------------------- I/O around the checks


async def _storages(
    api: ProxmoxClient, nodes: list[str]
) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    results = await asyncio.gather(*(api.storages(n) for n in nodes), return_exceptions=True)
    per_node, unreachable = {}, []
    for node, result in zip(nodes, results, strict=True):
        if isinstance(result, BaseException):
            if not isinstance(result, PmpcError):
                raise result
            unreachable.append(node)
        else:
            per_node[node] = result
    return per_node, unreachable


async def recent_tasks(
    api: ProxmoxClient, nodes: list[str], **filters: Any
) -> tuple[list[dict[str, Any]], list[str]]:
    """Return the task lists of the nodes (PVE's filters passed on), and the nodes that did not answer."""
    results = await asyncio.gather(*(api.tasks(n, **filters) for n in nodes), return_exceptions=True)
    tasks: list[dict[str, Any]] = []
    unreachable = []
    for node, result in zip(nodes, results, strict=True):
        if isinstance(result, BaseException):
            if not isinstance(result, PmpcError):
                raise result
            unreachable.append(node)
            continue
        for task in result:
            task.setdefault("node", node)
            tasks.append(task)
    return tasks, unreachable


async def _onboot(
    api: ProxmoxClient, resources: list[dict[str, Any]], online: list[str]
) -> tuple[list[str], list[str]]:
    candidates = [
        r
        for r in resources
        if is_api_guest_type(r.get("type"))
        and r.get("status") == "stopped"
        and not to_int(r.get("template"))
        and r.get("node") in online
    ]
    configs = await asyncio.gather(
        *(api.guest_config(str(r["node"]), str(r["type"]), to_int(r.get("vmid"))) for r in candidates),
        return_exceptions=True,
    )
    stopped, unknown = [], []
    for resource, config in zip(candidates, configs, strict=True):
        name = f"{_ref(resource)} ({resource.get('name') or '-'})"
        if isinstance(config, BaseException):
            if not isinstance(config, PmpcError):
                raise config
            unknown.append(name)
        elif to_int(config.get("onboot")):
            stopped.append(name)
    return sorted(stopped), sorted(unknown)


async def _guarded(name: str, make: Callable[[], Awaitable[Check]]) -> Check:
    try:
        return await make()
    except PmpcError as exc:
        return Check(name=name, status="FAIL", message=f"Could not check: {exc.message}")


async def cluster_checks(app_ctx: AppContext, limits: Thresholds) -> list[Check]:
    """Run every check that needs the cluster; an unreachable cluster fails them all with its reason."""
    from proxmox_mpc.services.connection import connect

    names = ("api", "quorum", "nodes", "storage", "ha", "tasks", "onboot")
    try:
        api = connect(app_ctx)
    except PmpcError as exc:
        return [Check(name=n, status="FAIL", message=f"Not checked: {exc.message}") for n in names]
    async with api:
        try:
            facts = await gather_facts(api)
        except PmpcError as exc:
            first = Check(name="api", status="FAIL", message=exc.message)
            return [
                first,
                *(
                    Check(name=n, status="FAIL", message="Not checked: the API is unreachable.")
                    for n in names[1:]
                ),
            ]
        online = facts.online_nodes
        since = time.time() - FAILED_TASK_WINDOW

        async def storage() -> Check:
            per_node, unreachable = await _storages(api, online)
            return check_storages(per_node, limits, unreachable)

        async def tasks() -> Check:
            found, unreachable = await recent_tasks(api, online, errors=1, since=int(since), limit=500)
            return check_tasks(found, since, unreachable)

        async def onboot() -> Check:
            return check_onboot(*await _onboot(api, facts.resources, online))

        async def fixed(check: Check) -> Check:
            return check

        return list(
            await asyncio.gather(
                _guarded("api", lambda: fixed(check_latency(facts.latency, limits))),
                _guarded("quorum", lambda: fixed(check_quorum(facts.status))),
                _guarded("nodes", lambda: fixed(check_nodes(facts.status, facts.resources))),
                _guarded("storage", storage),
                _guarded("ha", lambda: fixed(check_ha(facts.resources))),
                _guarded("tasks", tasks),
                _guarded("onboot", onboot),
            )
        )


def tls_check(app_ctx: AppContext) -> Check:
    """Warn when TLS verification is off: the API's identity is not checked."""
    from proxmox_mpc.services.diagnostics import tls_summary

    try:
        summary = tls_summary(app_ctx)
    except PmpcError as exc:
        return Check(name="tls", status="WARN", message=exc.message)
    return Check(name="tls", status="WARN" if summary.startswith("INSECURE") else "OK", message=summary + ".")


def state_check(app_ctx: AppContext) -> Check:
    """Open the state store read-only and report its migration level."""
    from proxmox_mpc.services.diagnostics import state_store_info

    info = state_store_info(app_ctx)
    if not info.available:
        return Check(name="state", status="WARN", message=info.message)
    if not info.reachable:
        return Check(name="state", status="FAIL", message=info.message)
    if info.revision != info.head:
        return Check(name="state", status="WARN", message=info.message)
    return Check(name="state", status="OK", message=info.message)


async def run_health(app_ctx: AppContext, limits: Thresholds | None = None) -> HealthReport:
    """Run every check; the report's status is the worst one (the command exits 1 on FAIL)."""
    limits = limits or Thresholds()
    checks = await cluster_checks(app_ctx, limits)
    checks.append(state_check(app_ctx))
    checks.append(tls_check(app_ctx))
    try:
        context = app_ctx.settings.context
    except PmpcError:
        context = None
    return HealthReport(status=worst([c.status for c in checks]), context=context, checks=checks)
