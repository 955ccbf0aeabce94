"""`pmpc validate`: manifests offline (schema, duplicates), then against the cluster (reads only)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from proxmox_mpc.context import AppContext
from proxmox_mpc.core.diff import ObservedGuest
from proxmox_mpc.core.manifest import CtManifest, VmManifest
from proxmox_mpc.core.normalize import NET_RE, split_props
from proxmox_mpc.errors import ApiError, AuthError, ManifestError, PmpcError
from proxmox_mpc.services.manifests import LoadedManifest, Problem, workspace_manifests

if TYPE_CHECKING:
    from proxmox_mpc.api.client import ProxmoxClient


class ClusterFacts(BaseModel):
    """What manifests are checked against: nodes, their storages (with content types) and bridges, pools."""

    nodes: set[str] = Field(default_factory=set)
    storages: dict[str, dict[str, set[str]]] = Field(default_factory=dict)  # node -> storage -> content types
    bridges: dict[str, set[str]] = Field(default_factory=dict)  # node -> bridges (None: unknown)
    shared_bridges: set[str] = Field(default_factory=set)  # SDN VNets and bridges guests already use
    pools: set[str] | None = None
    guest_names: set[str] = Field(default_factory=set)
    guest_vmids: set[int] = Field(default_factory=set)


class ValidateReport(BaseModel):
    """The outcome of `pmpc validate` (it raises ManifestError when a problem was found)."""

    manifests: int
    files: int
    cluster_checked: bool
    addresses: list[str] = Field(default_factory=list)


async def read_facts(api: ProxmoxClient, observed: Sequence[ObservedGuest] = ()) -> ClusterFacts:
    """Read nodes, storages, bridges, pools and guests of the cluster (GETs only)."""
    nodes_raw, resources = await asyncio.gather(api.nodes(), api.cluster_resources("vm"))
    online = sorted(str(n.get("node")) for n in nodes_raw if n.get("status") == "online")
    facts = ClusterFacts(nodes={str(n.get("node")) for n in nodes_raw})

    async def storages(node: str) -> None:
        entries = await api.storages(node)
        facts.storages[node] = {
            str(s.get("storage")): {c for c in str(s.get("content") or "").split(",") if c} for s in entries
        }

    async def bridges(node: str) -> None:
        try:
            entries = await api.get(f"/nodes/{node}/network") or []
        except ApiError:
            return
        facts.bridges[node] = {
            str(e.get("iface")) for e in entries if str(e.get("type", "")).lower() in ("bridge", "ovsbridge")
        }

    async def pools() -> None:
        try:
            facts.pools = {str(p.get("poolid")) for p in await api.get("/pools") or []}
        except AuthError:
            facts.pools = None  # not allowed to list pools: do not guess

    async def vnets() -> None:
        try:
            facts.shared_bridges |= {str(v.get("vnet")) for v in await api.get("/cluster/sdn/vnets") or []}
        except PmpcError:
            return  # no SDN (or no right to see it)

    await asyncio.gather(*(storages(n) for n in online), *(bridges(n) for n in online), pools(), vnets())
    for res in resources:
        if res.get("type") in ("qemu", "lxc"):
            facts.guest_names.add(str(res.get("name")))
            facts.guest_vmids.add(int(res.get("vmid") or 0))
    for guest in observed:
        for key, value in guest.config.items():
            if NET_RE.match(key):
                bridge = split_props(value)[1].get("bridge")
                if bridge:
                    facts.shared_bridges.add(bridge)
    return facts


def _storages_of(item: LoadedManifest) -> list[tuple[tuple[str | int, ...], str, str]]:
    """(location, storage, content type it must allow) of every storage a manifest names."""
    m = item.manifest
    found: list[tuple[tuple[str | int, ...], str, str]] = []
    if isinstance(m, VmManifest):
        for i, disk in enumerate(m.spec.disks or []):
            found.append((("spec", "disks", i, "storage"), disk.storage, "images"))
        if m.spec.cloud_init is not None and m.spec.cloud_init.storage:
            found.append((("spec", "cloud_init", "storage"), m.spec.cloud_init.storage, "images"))
        if m.spec.clone is not None and m.spec.clone.storage:
            found.append((("spec", "clone", "storage"), m.spec.clone.storage, "images"))
    elif isinstance(m, CtManifest):
        if m.spec.rootfs is not None:
            found.append((("spec", "rootfs", "storage"), m.spec.rootfs.storage, "rootdir"))
        for i, mount in enumerate(m.spec.mounts or []):
            if mount.storage:
                found.append((("spec", "mounts", i, "storage"), mount.storage, "rootdir"))
        if m.spec.ostemplate and ":" in m.spec.ostemplate:
            found.append((("spec", "ostemplate"), m.spec.ostemplate.split(":", 1)[0], "vztmpl"))
    return found


def check_against_cluster(loaded: Sequence[LoadedManifest], facts: ClusterFacts) -> list[Problem]:
    """Return problems for nodes, storages, bridges, pools and clone sources that do not exist (pure)."""
    problems: list[Problem] = []
    names = {item.manifest.name for item in loaded} | facts.guest_names
    vmids = {item.manifest.vmid for item in loaded if item.manifest.vmid} | facts.guest_vmids
    for item in loaded:
        m, src = item.manifest, item.source
        if m.node not in facts.nodes:
            known = ", ".join(sorted(facts.nodes)) or "none"
            problems.append(src.problem(("node",), f"no node {m.node!r} in the cluster (nodes: {known})"))
            continue
        node_storages = facts.storages.get(m.node)
        if node_storages is not None:
            for loc, storage, content in _storages_of(item):
                if storage not in node_storages:
                    known = ", ".join(sorted(node_storages)) or "none"
                    problems.append(
                        src.problem(loc, f"no storage {storage!r} on node {m.node} (storages: {known})")
                    )
                elif content not in node_storages[storage]:
                    problems.append(src.problem(loc, f"storage {storage!r} does not hold {content} content"))
        bridges = facts.bridges.get(m.node)
        if bridges is not None:
            nets: list[Any] = list(m.spec.networks or [])  # type: ignore[attr-defined]
            for i, net in enumerate(nets):
                if net.bridge and net.bridge not in bridges and net.bridge not in facts.shared_bridges:
                    known = ", ".join(sorted(bridges)) or "none"
                    problems.append(
                        src.problem(
                            ("spec", "networks", i, "bridge"),
                            f"no bridge {net.bridge!r} on node {m.node} (bridges: {known})",
                        )
                    )
        if m.spec.pool and facts.pools is not None and m.spec.pool not in facts.pools:
            problems.append(src.problem(("spec", "pool"), f"no pool {m.spec.pool!r} in the cluster"))
        clone = m.spec.clone
        if clone is not None:
            source = clone.source
            if not ((source.isdigit() and int(source) in vmids) or source in names):
                problems.append(
                    src.problem(("spec", "clone", "from"), f"no guest or template {source!r} to clone")
                )
    return problems


async def validate_manifests(
    app_ctx: AppContext, targets: Sequence[str] = (), *, offline: bool = False
) -> ValidateReport:
    """Validate manifests offline, then (unless offline, and when a host is configured) against the cluster.

    Raises:
        ManifestError: any problem, one `FILE:LINE:COLUMN: field: message` a line (exit 1).
    """
    from proxmox_mpc.services.connection import connect
    from proxmox_mpc.services.manifests import raise_problems

    loaded = workspace_manifests(app_ctx, targets)
    files = len({item.source.path for item in loaded})
    checked = False
    if not offline and app_ctx.settings.host:
        from proxmox_mpc.services.plan import build_checked_plan, observe_cluster

        async with connect(app_ctx) as api:
            # Bridges that guests already use count as existing (SDN VNets, bridges on other hosts).
            observed = await observe_cluster(api)
            facts = await read_facts(api, observed)
            raise_problems(check_against_cluster(loaded, facts))
            # Would the creates (and the replaces' creates) these manifests lead to succeed?
            await build_checked_plan(app_ctx, api, loaded, observed, facts)
        checked = True
    return ValidateReport(
        manifests=len(loaded),
        files=files,
        cluster_checked=checked,
        addresses=[item.manifest.address for item in loaded],
    )


def require_valid(loaded: Sequence[LoadedManifest], facts: ClusterFacts | None) -> None:
    """Raise the cluster problems of manifests (plan/apply call this before anything is sent).

    Raises:
        ManifestError: a manifest names something the cluster does not have.
    """
    from proxmox_mpc.services.manifests import raise_problems

    if facts is not None:
        raise_problems(check_against_cluster(loaded, facts))


def facts_from_store(nodes: Sequence[Any], storages: Sequence[Any]) -> ClusterFacts:
    """Build what is known offline from the state store's nodes and storages (bridges, pools unknown)."""
    facts = ClusterFacts(nodes={str(n.name) for n in nodes})
    for s in storages:
        facts.storages.setdefault(str(s.node), {})[str(s.name)] = set(getattr(s, "content", None) or [])
    return facts


__all__ = [
    "ClusterFacts",
    "ManifestError",
    "ValidateReport",
    "check_against_cluster",
    "read_facts",
    "validate_manifests",
]
