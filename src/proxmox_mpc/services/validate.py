"""`pmpc validate`: manifests offline (schema, duplicates), then against the cluster (reads only)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import Field

from proxmox_mpc.context import AppContext
from proxmox_mpc.core.manifest import CtManifest, VmManifest
from proxmox_mpc.core.modeling import Model
from proxmox_mpc.errors import ManifestError
from proxmox_mpc.services.manifests import Loaded, LoadedManifest, LoadedResource, Problem
from proxmox_mpc.services.observe import ClusterFacts, observe
from proxmox_mpc.services.resources import compare_needs, node_problems, reference_problems
from proxmox_mpc.services.workspace_manifests import workspace_set


class ValidateReport(Model):
    """The outcome of `pmpc validate` (it raises ManifestError when a problem was found)."""

    manifests: int
    files: int
    cluster_checked: bool
    addresses: list[str] = Field(default_factory=list)


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
    """Return problems for nodes, storages, bridges, referenced resources and clone sources that do not exist."""
    problems: list[Problem] = []
    names = {item.manifest.name for item in loaded} | facts.guest_names
    vmids = {item.manifest.vmid for item in loaded if item.manifest.vmid} | facts.guest_vmids
    on_a_node: list[LoadedManifest] = []
    for item in loaded:
        m, src = item.manifest, item.source
        if m.node not in facts.nodes:
            known = ", ".join(sorted(facts.nodes)) or "none"
            problems.append(src.problem(("node",), f"no node {m.node!r} in the cluster (nodes: {known})"))
            continue
        on_a_node.append(item)
        node_storages = facts.storages.get(m.node)
        if node_storages is not None:
            for loc, storage, content in _storages_of(item):
                if storage not in node_storages and f"storage/{storage}" in facts.described:
                    continue  # a Storage manifest of the workspace defines it: apply creates it first
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
        clone = m.spec.clone
        if clone is not None:
            source = clone.source
            if not ((source.isdigit() and int(source) in vmids) or source in names):
                problems.append(
                    src.problem(("spec", "clone", "from"), f"no guest or template {source!r} to clone")
                )
    # Once for all the guests: what exists and what is described is gathered once, not once per guest.
    return problems + reference_problems(on_a_node, facts.resources, facts.described, facts.guests)


async def validate_manifests(
    app_ctx: AppContext, targets: Sequence[str] = (), *, offline: bool = False
) -> ValidateReport:
    """Validate manifests offline, then (unless offline, and when a host is configured) against the cluster.

    Raises:
        ManifestError: any problem, one `FILE:LINE:COLUMN: field: message` a line (exit 1).
    """
    from proxmox_mpc.services.connection import connect

    found = workspace_set(app_ctx, targets)
    loaded = found.guests
    everything: list[Loaded] = [*found.guests, *found.resources]
    files = len({item.source.path for item in everything})
    checked = False
    if not offline and app_ctx.settings.host:
        from proxmox_mpc.services.preflight import build_checked_plan

        async with connect(app_ctx) as api:
            observation = await observe(api, compare_needs(found.resources))
            require_valid(loaded, observation.facts, found.resources)
            # Would the creates (and the replaces' creates) these manifests lead to succeed?
            await build_checked_plan(app_ctx, api, loaded, observation.guests, observation.facts)
        checked = True
    return ValidateReport(
        manifests=len(everything),
        files=files,
        cluster_checked=checked,
        addresses=[item.manifest.address for item in everything],
    )


def require_valid(
    loaded: Sequence[LoadedManifest], facts: ClusterFacts | None, resources: Sequence[LoadedResource] = ()
) -> None:
    """Raise the cluster problems of manifests (plan/apply call this before anything is sent).

    The references of every kind are checked against what exists and what the resource manifests
    (`resources`) describe.

    Raises:
        ManifestError: a manifest names something the cluster does not have.
    """
    from proxmox_mpc.kinds.plan import described_addresses, guest_addresses
    from proxmox_mpc.services.manifests import raise_problems

    if facts is not None:
        facts.described = described_addresses(item.manifest for item in resources)
        facts.described |= guest_addresses(item.manifest for item in loaded)
        problems = check_against_cluster(loaded, facts)
        problems += reference_problems(resources, facts.resources, facts.described, facts.guests)
        raise_problems(problems + node_problems(resources, facts.nodes))


__all__ = [
    "ClusterFacts",
    "ManifestError",
    "ValidateReport",
    "check_against_cluster",
    "validate_manifests",
]
